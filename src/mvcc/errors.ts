// Errors the MVCC store reports; api/errors.ts maps them to etcd's gRPC status and text.
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
