// The Raft log as the algorithm sees it: entries already in stable storage plus the unstable
// tail not yet persisted, and the commit and applied marks. Pure: storage is read through an
// interface the driver implements.
import type { Entry } from './types';

/** Read access to what the driver has persisted (etcd-io/raft's Storage). */
export interface LogStorage {
  /** Index of the first entry available (entries before it were compacted away). */
  firstIndex(): number;
  lastIndex(): number;
  /** Term of entry i; 0 for i = firstIndex - 1 when nothing precedes it. */
  term(i: number): number;
  /**
   * Entries [lo, hi). With maxBytes, a storage may stop early, after the first entry whose
   * entrySizeBytes() takes the total past it (as etcd-io/raft's Storage.Entries): it always
   * returns at least one entry when lo < hi. Ignoring maxBytes is correct too (the log cuts).
   */
  entries(lo: number, hi: number, maxBytes?: number): Entry[];
}

/**
 * What an entry counts for against the byte bounds on messages and Readies, like etcd-io/raft's
 * Entry.Size(): its payload plus its encoded term, index and type (at most 24 bytes), so that
 * even empty entries are not free there (the uncommitted-tail bound counts payload only).
 */
export function entrySizeBytes(e: Entry): number {
  return e.data.length + ENTRY_HEADER_BYTES;
}
const ENTRY_HEADER_BYTES = 24;

/** The first entries whose sizes add up to at most maxBytes, and never fewer than one (etcd-io/raft's limitSize). */
export function limitSize(entries: Entry[], maxBytes: number): Entry[] {
  if (entries.length <= 1 || maxBytes === Infinity) return entries;
  let total = entrySizeBytes(entries[0]);
  for (let k = 1; k < entries.length; k++) {
    total += entrySizeBytes(entries[k]);
    if (total > maxBytes) return entries.slice(0, k);
  }
  return entries;
}

/**
 * Pushes every item of `items` onto `to`. Not to.push(...items): a spread passes each item as an
 * argument on the stack, and past ~120,000 of them (a restart replaying a long log tail, a
 * follower catching up) V8 throws "Maximum call stack size exceeded".
 */
export function appendAll<T>(to: T[], items: readonly T[]): void {
  for (let i = 0; i < items.length; i++) to.push(items[i]);
}

export class RaftLog {
  committed: number;
  applied: number;
  /** Entries after the stable ones, not yet handed out for persisting. */
  private unstable: Entry[] = [];
  /** Index of unstable[0]. */
  private unstableOffset: number;
  /** Unstable entries before this index were handed out in a Ready but not yet acknowledged. */
  private handedOut: number;

  constructor(private readonly storage: LogStorage, committed: number, applied: number) {
    this.committed = committed;
    this.applied = applied;
    this.unstableOffset = storage.lastIndex() + 1;
    this.handedOut = this.unstableOffset;
  }

  /** The first index still held (earlier ones were compacted away). */
  firstIndex(): number {
    return this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.length > 0 ? this.unstableOffset + this.unstable.length - 1 : this.storage.lastIndex();
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  term(i: number): number {
    if (i >= this.unstableOffset && i < this.unstableOffset + this.unstable.length) return this.unstable[i - this.unstableOffset].term;
    if (i > this.lastIndex()) return 0;
    if (i < this.storage.firstIndex() - 1) return 0;
    return this.storage.term(i);
  }

  matchTerm(i: number, term: number): boolean {
    return this.term(i) === term;
  }

  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0].index;
    if (first <= this.committed) throw new Error(`raft: append at ${first} would overwrite committed ${this.committed}`);
    if (first === this.unstableOffset + this.unstable.length) {
      appendAll(this.unstable, entries);
    } else if (first <= this.unstableOffset) {
      // Replaces the whole unstable tail and possibly stable entries (the driver truncates them).
      this.unstableOffset = first;
      this.unstable = [...entries];
      this.handedOut = Math.min(this.handedOut, first);
    } else {
      this.unstable = [...this.unstable.slice(0, first - this.unstableOffset), ...entries];
      this.handedOut = Math.min(this.handedOut, first);
    }
  }

  /** Appends the entries of an AppendEntries that match at (index, logTerm); returns the new last index or -1. */
  maybeAppend(index: number, logTerm: number, committed: number, entries: Entry[]): number {
    if (!this.matchTerm(index, logTerm)) return -1;
    const last = index + entries.length;
    let conflictAt = 0;
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) {
        conflictAt = e.index;
        break;
      }
    }
    if (conflictAt > 0) this.append(entries.slice(conflictAt - index - 1));
    this.commitTo(Math.min(committed, last));
    return last;
  }

  commitTo(index: number): void {
    if (index > this.committed) {
      if (index > this.lastIndex()) throw new Error(`raft: commit ${index} beyond last index ${this.lastIndex()}`);
      this.committed = index;
    }
  }

  /** Entries [lo, hi), cut after maxBytes (see limitSize). */
  entries(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    const out: Entry[] = [];
    const stableHi = Math.min(hi, this.unstableOffset);
    if (lo < stableHi) {
      appendAll(out, this.storage.entries(lo, stableHi, maxBytes));
      // The storage stopped at the byte bound: what follows would be cut anyway.
      if (out.length < stableHi - lo) return limitSize(out, maxBytes);
    }
    for (let i = Math.max(lo, this.unstableOffset); i < hi && i - this.unstableOffset < this.unstable.length; i++) {
      out.push(this.unstable[i - this.unstableOffset]);
    }
    return limitSize(out, maxBytes);
  }

  /** Unstable entries not yet handed to the driver for persisting. */
  takeUnstable(): Entry[] {
    const from = this.handedOut - this.unstableOffset;
    const out = this.unstable.slice(Math.max(0, from));
    this.handedOut = this.unstableOffset + this.unstable.length;
    return out;
  }

  hasUnstable(): boolean {
    return this.handedOut < this.unstableOffset + this.unstable.length;
  }

  /** The driver persisted entries up to index (inclusive) of the given term. */
  stableTo(index: number, term: number): void {
    if (index < this.unstableOffset) return;
    const pos = index - this.unstableOffset;
    if (pos >= this.unstable.length || this.unstable[pos].term !== term) return;
    this.unstable = this.unstable.slice(pos + 1);
    this.unstableOffset = index + 1;
  }

  /**
   * Committed entries not yet handed out for applying, the first maxBytes of them (the rest come
   * in the next Ready): a follower that catches up on a long tail applies it in bounded batches.
   */
  nextCommitted(maxBytes = Infinity): Entry[] {
    if (this.committed <= this.applied) return [];
    return this.entries(this.applied + 1, this.committed + 1, maxBytes);
  }

  /** Whether stable storage was just reset to start right after `index` (a snapshot install). */
  storageStartsAfter(index: number): boolean {
    return this.storage.firstIndex() === index + 1 && this.storage.lastIndex() === index;
  }

  /**
   * The driver installed a snapshot up to index (its storage now starts after it): drop what
   * this log held and continue from there.
   */
  restore(index: number): void {
    this.unstable = [];
    this.unstableOffset = index + 1;
    this.handedOut = index + 1;
    this.committed = index;
    this.applied = index;
  }

  appliedTo(index: number): void {
    if (index > this.committed || index < this.applied) throw new Error(`raft: applied ${index} outside [${this.applied}, ${this.committed}]`);
    this.applied = index;
  }
}
