// The revisioned key-value store (etcd's mvcc package) on LMDB. It owns three tables:
//   history  [main, sub]              -> record of that key version (tombstones included)
//   index    storage key (dupsort)    -> [main, sub, tombstone] for every version of the key
//   current  storage key              -> record of the live version (absent once deleted)
// `current` serves reads at the head revision with one ordered scan; `index` + `history` serve
// reads at older revisions and compaction. A compaction is recorded by its apply and its history
// deleted later in batches (compaction.ts): rows below the compacted revision may still be
// there, and readers never look at them. The index lives on disk, so start-up reads two
// numbers instead of rebuilding a tree from all history.
// It knows nothing of Raft: writes run inside a transaction its caller opened on the backend.
import type { Database } from 'lmdb';
import { appendSync, type Backend, type BinaryDB, type ReadView } from '../backend/backend';
import { CompactedError, FutureRevisionError } from './errors';
import { decodeRecord, decodeRecordOwned, encodeRecord, recordKey, type KeyValue, type StoredRecord } from './kv-record';
import { storageBounds, storageKey } from './key-codec';
import { inKeyOrder } from './range-scan';
import { hashByRev, hashByRevAsync, hashKeyAndMetaBuckets, type HistoryRows, type IndexRows } from './hash';
import { RecordKind, SnapshotWriter, type SnapshotRecord } from './snapshot';
import { CompactionLedger, META_COMPACT_SCHEDULED } from './compaction';

/** [main, sub, tombstone 0|1] */
type IndexEntry = [number, number, number];
type HistoryKey = [number, number];

import type { RangeEnd } from './range-end';
export type { RangeEnd } from './range-end';

export interface RangeOptions {
  /** 0 = the current revision. */
  revision?: number;
  /** 0 = no limit. */
  limit?: number;
  countOnly?: boolean;
}

export interface RangeResult {
  kvs: KeyValue[];
  count: number;
  /** The store's revision when the range was served (etcd's header revision). */
  revision: number;
}

/** Bounds of one read of history (see historySince). */
export interface HistoryLimits {
  maxEvents: number;
  maxBytes: number;
  maxScannedBytes: number;
}

export interface Event {
  type: 'put' | 'delete';
  kv: KeyValue;
  prevKv?: KeyValue;
}

const META_REVISION = 'mvcc/revision';
const META_COMPACT = META_COMPACT_SCHEDULED;
/**
 * etcd's compacted revision before any compaction: -1, not 0. It shows: Compact(0) succeeds once
 * on a fresh store, a txn's range at revision -1 reads the head there (below -1 is compacted), and
 * HashKV and watches report -1.
 */
export const NEVER_COMPACTED = -1;

/** etcd's HashKV answer: the hash, the head and compacted revisions, and the revision hashed. */
export interface KVHash {
  hash: number;
  revision: number;
  compacted: number;
  hashRevision: number;
}

export class MvccStore {
  private readonly history: Database<Buffer, HistoryKey>;
  private readonly index: Database<IndexEntry, Buffer>;
  private readonly current: BinaryDB;
  // The write side's view, advanced by applies inside the write transaction. Readers outside it
  // take both numbers from their LMDB snapshot instead (committedRevision()), so the revision a
  // reader reports always matches the data it reads, whatever commits are in flight.
  private revision: number;
  private compacted: number;
  /** Deletion of compacted history, in batches after the apply (compaction-scheduler.ts runs them). */
  readonly compaction: CompactionLedger;

  constructor(private readonly backend: Backend) {
    this.history = backend.orderedTable<Buffer, HistoryKey>('mvcc-history', { keys: 'ordered-binary', values: 'binary' });
    this.index = backend.orderedTable<IndexEntry, Buffer>('mvcc-index', { keys: 'binary', values: 'ordered-binary', dupSort: true });
    this.current = backend.binaryTable('mvcc-current');
    this.compaction = new CompactionLedger(backend, this.history, this.index);
    // etcd starts an empty store at revision 1.
    this.revision = backend.getMetaNumber(META_REVISION) ?? 1;
    this.compacted = backend.getMetaNumber(META_COMPACT) ?? NEVER_COMPACTED;
  }

  /** The revision readers see: the newest committed one. */
  currentRevision(): number {
    return this.backend.getMetaNumber(META_REVISION) ?? 1;
  }

  /** The compacted revision readers see. */
  compactRevision(): number {
    return this.backend.getMetaNumber(META_COMPACT) ?? NEVER_COMPACTED;
  }

  /** The revision the next write builds on (inside the write transaction). */
  writeRevision(): number {
    return this.revision;
  }

  /** The compacted revision as the write transaction sees it. */
  writeCompactRevision(): number {
    return this.compacted;
  }

  /**
   * etcd's HashKV (mvcc HashByRev) over the committed state, equal to etcd's for the same
   * history (see hash.ts). rev 0 hashes the head; as in etcd 3.4.27+/3.5 a rev below the
   * compacted one is compacted, the compacted one itself is answered, one past the head is a
   * future revision, and a negative rev hashes no version at all. etcd 3.5 answers a rev that
   * equals one of its last 10 compactions from a cache filled while compacting (the hash of the
   * history before that compaction, with the previous compacted revision); we have no such
   * cache, so there we answer as etcd 3.5 does after a restart.
   */
  hashKV(rev: number): KVHash {
    // One pinned view: the two revisions and the rows hashed must come from the same commit.
    const view = this.backend.readView();
    try {
      const { history, index, ...at } = this.hashInputs(view, rev);
      return { ...at, hash: hashByRev(history, index, at.compacted, at.hashRevision) };
    } finally {
      view.done();
    }
  }

  /** hashKV without holding the event loop: the member's path (see hashByRevAsync). */
  async hashKVAsync(rev: number): Promise<KVHash> {
    const view = this.backend.readView();
    try {
      const { history, index, ...at } = this.hashInputs(view, rev);
      return { ...at, hash: await hashByRevAsync(history, index, at.compacted, at.hashRevision) };
    } finally {
      view.done();
    }
  }

  private hashInputs(view: ReadView, rev: number): Omit<KVHash, 'hash'> & { history: HistoryRows; index: () => IndexRows } {
    const { revision: head, compacted } = this.stateRevisions(view);
    if (rev > 0 && rev < compacted) throw new CompactedError();
    if (rev > 0 && rev > head) throw new FutureRevisionError();
    const at = rev === 0 ? head : rev;
    const t = { transaction: view.transaction };
    const history = at < 1 ? [] : this.history.getRange({ ...t, start: [0, 0], end: [at + 1, 0] });
    return { revision: head, compacted, hashRevision: at, history, index: () => this.index.getRange(t) };
  }

  /** Live keys: the current table holds one row per key not deleted (LMDB keeps the count: O(1)). */
  keyCount(): number {
    const stats: unknown = this.current.getStats();
    const n = typeof stats === 'object' && stats !== null ? Reflect.get(stats, 'entryCount') : undefined;
    return typeof n === 'number' ? n : 0;
  }

  /**
   * etcd's Hash as far as the mvcc store's share of etcd's bbolt file goes: its `key` and
   * `meta` (compaction) buckets in etcd's bytes; the other buckets are not covered (see
   * hashKeyAndMetaBuckets). Unlike etcd, which hashes whatever its compaction has not deleted
   * yet, it covers the rows the compaction keeps, as if it had finished: members delete
   * compacted history at their own pace and must still agree. The index and current tables are
   * not hashed: etcd has no such tables on disk (its index is rebuilt in memory), and both
   * follow from the history.
   */
  hashAll(): number {
    const view = this.backend.readView();
    try {
      const { compacted } = this.stateRevisions(view);
      const rows = this.compaction.keptHistory(this.history.getRange({ transaction: view.transaction }), view);
      return hashKeyAndMetaBuckets(rows, compacted);
    } finally {
      view.done();
    }
  }

  /** The revision numbers of a pinned read view (see exportState). */
  stateRevisions(view: ReadView): { revision: number; compacted: number } {
    return { revision: this.backend.getMetaNumber(META_REVISION, view) ?? 1, compacted: this.backend.getMetaNumber(META_COMPACT, view) ?? NEVER_COMPACTED };
  }

  /**
   * The state of a pinned read view as record chunks of about chunkBytes (see snapshot.ts); the
   * caller may take its time between chunks, the view keeps them consistent.
   */
  *exportState(view: ReadView, chunkBytes = 1024 * 1024): Generator<Buffer> {
    const w = new SnapshotWriter();
    const t = { transaction: view.transaction };
    for (const { key, value } of this.history.getRange(t)) {
      w.history(key[0], key[1], value);
      if (w.size >= chunkBytes) yield w.take();
    }
    for (const { key, value } of this.index.getRange(t)) {
      w.index(key, value[0], value[1], value[2]);
      if (w.size >= chunkBytes) yield w.take();
    }
    for (const { key, value } of this.current.getRange(t)) {
      w.current(key, value);
      if (w.size >= chunkBytes) yield w.take();
    }
    w.end();
    yield w.take();
  }

  /**
   * The history rows of a pinned view that its compaction keeps (etcd's `key` bucket, for an etcd
   * snapshot file): rows a running compaction removed logically are left out, whatever its
   * deletion has reached, so the file is the same before and after the deletion finishes.
   */
  keptHistoryRows(view: ReadView): Iterable<{ key: HistoryKey; value: Buffer }> {
    return this.compaction.keptHistory(this.history.getRange({ transaction: view.transaction }), view);
  }

  /**
   * Inside a write transaction, after importState was given history and index records only (an
   * etcd snapshot restore, whose file has no current table): each key's newest version from the
   * index, stored as live unless it is a tombstone. Walks the index in key order, so memory stays
   * one key whatever the store's size.
   */
  rebuildCurrent(): void {
    let storage: Buffer | undefined;
    let newest: IndexEntry | undefined;
    const flush = (): void => {
      if (storage === undefined || newest === undefined || newest[2] === 1) return;
      const raw = this.history.get([newest[0], newest[1]]);
      if (raw === undefined) throw new Error(`mvcc: index names missing revision ${newest[0]}.${newest[1]}`);
      this.current.putSync(storage, Buffer.from(raw));
    };
    for (const { key, value } of this.index.getRange({})) {
      if (storage === undefined || !key.equals(storage)) {
        flush();
        storage = Buffer.from(key);
      }
      newest = value;
    }
    flush();
  }

  /** Every live key with its lease (inside a transaction, e.g. after importState). */
  *liveLeases(): Generator<{ key: Buffer; lease: bigint }> {
    for (const { value } of this.current.getRange({})) {
      const rec = decodeRecord(value);
      if (rec.lease !== 0n) yield { key: rec.key, lease: rec.lease };
    }
  }

  /** Inside a write transaction: replaces everything with an exported state. */
  importState(records: Iterable<SnapshotRecord>, revision: number, compacted: number): void {
    for (const k of [...this.history.getKeys({})]) this.history.removeSync(k);
    for (const { key, value } of [...this.index.getRange({})]) this.index.removeSync(Buffer.from(key), value);
    for (const k of [...this.current.getKeys({})]) this.current.removeSync(Buffer.from(k));
    for (const r of records) {
      if (r.kind === RecordKind.History) this.history.putSync([r.main, r.sub], Buffer.from(r.value));
      else if (r.kind === RecordKind.Index) this.index.putSync(Buffer.from(r.key), [r.main, r.sub, r.tombstone]);
      else this.current.putSync(Buffer.from(r.key), Buffer.from(r.value));
    }
    this.revision = revision;
    this.compacted = compacted;
    this.backend.putMetaNumber(META_REVISION, revision);
    this.backend.putMetaNumber(META_COMPACT, compacted);
    // The sender may not have deleted all of its compacted history yet; whatever came along is
    // deleted here as a compaction of our own.
    this.compaction.restart(compacted);
  }

  /**
   * Committed events from revision `from` on, oldest first, for watchers catching up: the events
   * of keys `wanted` picks, whole revisions only, stopping after the revision in which
   * `maxEvents` or `maxBytes` (of keys and values) of wanted events, or `maxScannedBytes` of
   * history read, is reached. `through` is the last revision covered (the head when everything
   * was read); `head` and `compacted` are the committed numbers the read saw. Events before the
   * compacted revision may be missing: callers check `compacted` first.
   */
  historySince(from: number, limits: HistoryLimits, wanted: (key: Buffer) => boolean = () => true): { events: Event[]; through: number; head: number; compacted: number } {
    const head = this.currentRevision();
    const compacted = this.compactRevision();
    const events: Event[] = [];
    let through = head;
    let bytes = 0;
    let scanned = 0;
    let lastRev = -1;
    // Below the compacted revision only watchers that get canceled want events; at it, rows that
    // the pending deletion removes are skipped, so that what is read does not depend on its progress.
    const pendingAt = this.compaction.pending() ? compacted : undefined;
    for (const { key, value } of this.history.getRange({ start: [Math.max(from, compacted), 0], end: [head, Infinity] })) {
      const rev = key[0];
      if (pendingAt !== undefined && rev <= pendingAt && !this.compaction.keptRow(rev, key[1], value, pendingAt)) continue;
      if (rev !== lastRev && (events.length >= limits.maxEvents || bytes >= limits.maxBytes || scanned >= limits.maxScannedBytes)) {
        through = rev - 1;
        break;
      }
      lastRev = rev;
      scanned += value.length;
      const rec = decodeRecord(value);
      if (!wanted(rec.key)) continue;
      bytes += value.length;
      events.push({ type: rec.tombstone ? 'delete' : 'put', kv: stripTombstone(rec) });
    }
    return { events, through, head, compacted };
  }

  /** The version of key just before revision rev, if it existed and is not compacted away. */
  versionBefore(key: Buffer, rev: number): KeyValue | undefined {
    if (rev - 1 < this.compactRevision()) return undefined;
    const rec = this.versionAt(storageKey(key), rev - 1);
    return rec !== undefined && rec.key.equals(key) ? stripTombstone(rec) : undefined;
  }

  /** Reads the committed state (outside the write transaction). */
  range(key: Buffer, end: RangeEnd, options: RangeOptions = {}): RangeResult {
    return this.rangeAt(key, end, options, this.currentRevision(), this.compactRevision());
  }

  /** Starts a write; the caller must be inside a backend transaction and must call end(). */
  write(): WriteTxn {
    return new WriteTxn(this, this.revision, () => this.compacted, true);
  }

  /** A read-only view of the committed state with the txn interface (for read-only Txns). */
  read(): WriteTxn {
    const compacted = this.compactRevision();
    return new WriteTxn(this, this.currentRevision(), () => compacted, false);
  }

  /**
   * Compacts at rev: reads below rev fail from now on, and every version no read at a revision
   * >= rev can see is deleted later, in batches (compaction.ts). The caller has checked rev
   * against the compacted and current revisions and runs this inside the apply transaction.
   */
  compact(rev: number): void {
    this.compaction.schedule(rev, this.compacted);
    this.compacted = rev;
  }

  /** @internal Reads at options.revision, where `head` is the newest revision the reader sees. */
  rangeAt(key: Buffer, end: RangeEnd, options: RangeOptions, head: number, compacted: number): RangeResult {
    const rev = options.revision !== undefined && options.revision > 0 ? options.revision : head;
    if (rev > head) throw new FutureRevisionError();
    if (rev < compacted) throw new CompactedError();
    const limit = options.limit ?? 0;
    if (end !== undefined && end.length > 0 && Buffer.compare(key, end) >= 0) return { kvs: [], count: 0, revision: head };
    // At the head, a range of short keys (every storage key in LMDB's bounds is in the range) is
    // counted by LMDB without reading a record: a Range with a limit, or count_only, over a
    // million keys then costs its limit, not the million (~2.7 s decoding every record).
    if (rev === head && end !== undefined && (options.countOnly === true || limit > 0)) {
      const { lo, hi, exact } = storageBounds(key, end.length === 0 ? undefined : end);
      if (exact) {
        const count = this.current.getKeysCount({ start: lo, end: hi });
        const kvs: KeyValue[] = [];
        if (!options.countOnly) for (const r of this.scanCurrent(key, end)) if (kvs.push(r) >= limit) break;
        return { kvs, count, revision: head };
      }
    }
    const records = rev === head ? this.scanCurrent(key, end) : this.scanAt(key, end, rev);
    const kvs: KeyValue[] = [];
    let count = 0;
    for (const r of records) {
      count++;
      if (!options.countOnly && (limit <= 0 || kvs.length < limit)) kvs.push(r);
    }
    return { kvs, count, revision: head };
  }

  /** @internal The live record of one key, if any (reads see the open write transaction). */
  getCurrent(key: Buffer): StoredRecord | undefined {
    // lmdb-js's reusable read buffer rather than the fresh copy get() makes (a new backing store
    // per call, on every put): decodeRecord copies out what it keeps before the next read. The
    // buffer's length is an own property, so the view is cut to it explicitly.
    const shared = this.current.getBinaryFast(storageKey(key));
    if (shared === undefined) return undefined;
    const rec = decodeRecord(shared.subarray(0, shared.length));
    return rec.key.equals(key) ? rec : undefined;
  }

  /** @internal */
  applyWrite(kv: KeyValue, sub: number, tombstone: boolean): void {
    const storage = storageKey(kv.key);
    const record = encodeRecord(kv, tombstone);
    // History only grows at its end.
    appendSync(this.history, [kv.mod_revision, sub], record);
    this.index.putSync(storage, [kv.mod_revision, sub, tombstone ? 1 : 0]);
    if (tombstone) this.current.removeSync(storage);
    else this.current.putSync(storage, record);
  }

  /** @internal */
  setRevision(rev: number): void {
    if (rev < this.revision) throw new Error(`mvcc: revision must not go back (${this.revision} -> ${rev})`);
    this.revision = rev;
    this.backend.putMetaNumber(META_REVISION, rev);
  }

  private *scanCurrent(key: Buffer, end: RangeEnd): Generator<StoredRecord> {
    if (end === undefined) {
      const rec = this.getCurrent(key);
      if (rec !== undefined) yield rec;
      return;
    }
    const { lo, hi, exact } = storageBounds(key, end.length === 0 ? undefined : end);
    const entries = mapIter(this.current.getRange({ start: lo, end: hi }), (e) => ({ storage: e.key, item: e.value }));
    // getRange's values are fresh copies, each the record's own: decoded without copying again.
    for (const raw of inKeyOrder(entries, recordKey, key, end.length === 0 ? undefined : end, exact)) yield decodeRecordOwned(raw);
  }

  private *scanAt(key: Buffer, end: RangeEnd, rev: number): Generator<StoredRecord> {
    if (end === undefined) {
      const rec = this.versionAt(storageKey(key), rev);
      if (rec !== undefined && rec.key.equals(key)) yield rec;
      return;
    }
    const userEnd = end.length === 0 ? undefined : end;
    const { lo, hi, exact } = storageBounds(key, userEnd);
    const self = this;
    function* versions(): Generator<{ storage: Buffer; item: StoredRecord }> {
      for (const storage of self.index.getKeys({ start: lo, end: hi })) {
        const rec = self.versionAt(storage, rev);
        if (rec !== undefined) yield { storage, item: rec };
      }
    }
    yield* inKeyOrder(versions(), (r) => r.key, key, userEnd, exact);
  }

  /** The version of a key visible at rev, or undefined if the key did not exist then. */
  private versionAt(storage: Buffer, rev: number): StoredRecord | undefined {
    for (const entry of this.index.getValues(storage, { start: [rev, Infinity], reverse: true, limit: 1 })) {
      if (entry[2] === 1) return undefined;
      const raw = this.history.get([entry[0], entry[1]]);
      if (raw === undefined) throw new Error(`mvcc: index names missing revision ${entry[0]}.${entry[1]}`);
      return decodeRecord(raw);
    }
    return undefined;
  }
}

/**
 * One atomic change of the store: every put and delete in it shares the main revision
 * begin + 1 and gets its own sub revision, as in etcd. Reads through it see its own writes.
 */
export class WriteTxn {
  readonly beginRevision: number;
  readonly events: Event[] = [];
  private sub = 0;

  constructor(
    private readonly store: MvccStore,
    begin: number,
    private readonly compacted: () => number,
    private readonly writable: boolean,
  ) {
    this.beginRevision = begin;
  }

  /** The revision a read inside this txn reports and sees up to. */
  private head(): number {
    return this.events.length > 0 ? this.beginRevision + 1 : this.beginRevision;
  }

  /** The compacted revision this txn sees (NEVER_COMPACTED before the first compaction). */
  compactRevision(): number {
    return this.compacted();
  }

  range(key: Buffer, end: RangeEnd, options: RangeOptions = {}): RangeResult {
    return this.store.rangeAt(key, end, options, this.head(), this.compacted());
  }

  get(key: Buffer): KeyValue | undefined {
    return this.store.getCurrent(key);
  }

  /** Writes a key; returns the previous version (if any) and the new one. */
  put(key: Buffer, value: Buffer, lease: bigint): { prev?: KeyValue; kv: KeyValue } {
    this.assertWritable();
    const rev = this.beginRevision + 1;
    const prev = this.store.getCurrent(key);
    const kv: KeyValue = {
      key,
      value,
      lease,
      create_revision: prev ? prev.create_revision : rev,
      mod_revision: rev,
      version: prev ? prev.version + 1 : 1,
    };
    this.store.applyWrite(kv, this.sub++, false);
    this.events.push({ type: 'put', kv, prevKv: prev });
    return { prev, kv };
  }

  /** Deletes the live keys in range; returns their last versions in key order. */
  deleteRange(key: Buffer, end: RangeEnd): KeyValue[] {
    this.assertWritable();
    const live = this.range(key, end).kvs;
    const rev = this.beginRevision + 1;
    for (const prev of live) {
      const tomb: KeyValue = { key: prev.key, value: Buffer.alloc(0), lease: 0n, create_revision: 0, mod_revision: rev, version: 0 };
      this.store.applyWrite(tomb, this.sub++, true);
      this.events.push({ type: 'delete', kv: tomb, prevKv: prev });
    }
    return live;
  }

  /** Ends the txn; returns the store's revision after it. */
  end(): number {
    if (this.events.length > 0) this.store.setRevision(this.beginRevision + 1);
    return this.head();
  }

  private assertWritable(): void {
    if (!this.writable) throw new Error('mvcc: write through a read-only view');
  }
}

function stripTombstone(rec: StoredRecord): KeyValue {
  return { key: rec.key, value: rec.value, lease: rec.lease, create_revision: rec.create_revision, mod_revision: rec.mod_revision, version: rec.version };
}

function* mapIter<A, B>(it: Iterable<A>, f: (a: A) => B): Generator<B> {
  for (const a of it) yield f(a);
}
