// Errors the MVCC store reports; mvccCall (apply/range.ts) turns them into etcd's client errors.
export class CompactedError extends Error {
  constructor() {
    super('mvcc: required revision has been compacted');
  }
}

export class FutureRevisionError extends Error {
  constructor() {
    super('mvcc: required revision is a future revision');
  }
}
