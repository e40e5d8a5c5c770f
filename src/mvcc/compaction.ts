// Compaction in two steps, as etcd's (mvcc/kvstore.go updateCompactRev + kvstore_compaction.go
// scheduleCompaction): applying a Compact request only records the compacted revision (the
// "scheduled" one: reads below it fail at once, on every member alike), and the history it
// makes unreachable is deleted afterwards in bounded batches, each its own short write
// transaction (compaction-scheduler.ts drives them). This module owns what is kept, one batch,
// and the bookkeeping in the meta table:
//   mvcc/compact           scheduled compact revision (etcd's scheduledCompactRev; the visible one)
//   mvcc/compact-finished  the newest compaction whose deletions are all done (finishedCompactRev)
//   mvcc/compact-cursor    where the running compaction's next batch starts (see encodeCursor)
//
// Determinism: what a row means never depends on how far the deletion got. At compacted
// revision T a row (main, sub) of a key is kept when main > T, or when it is the key's newest
// version at or below T and not a tombstone; everything else is logically gone from the moment
// T is scheduled. Reads at revisions >= T only ever look at a key's newest version at or below
// the read revision, and a batch deletes each key's versions oldest first (the newest at or
// below T, when it goes, goes last), so those reads answer the same before, during and after the
// deletion. Readers of raw history rows at or below it (watch history, Hash) filter with
// keptRow / keptHistory.
// It must never delete a kept row, and never hold the writer longer than one batch.
import type { Database, RangeIterable } from 'lmdb';
import type { Backend, ReadView } from '../backend/backend';
import { storageKey } from './key-codec';
import { isTombstoneRecord, recordKey } from './kv-record';

/** [main, sub, tombstone 0|1]: a row of the index table. */
export type IndexEntry = [number, number, number];
/** [main, sub]: a key of the history table. */
export type HistoryKey = [number, number];

export const META_COMPACT_SCHEDULED = 'mvcc/compact';
const META_COMPACT_FINISHED = 'mvcc/compact-finished';
const META_COMPACT_CURSOR = 'mvcc/compact-cursor';

/** An empty cursor: the next batch starts at the first key (the meta table has no delete). */
const NO_CURSOR = Buffer.alloc(0);
const CURSOR_HEAD_BYTES = 13;

/** etcd's --experimental-compaction-batch-limit default. */
export const DEFAULT_COMPACTION_BATCH_LIMIT = 1000;

/**
 * Where a compaction's next batch starts: in the key stored as `key`, after its version `after`
 * (main, sub); with no `after`, at the key following it.
 */
interface Cursor {
  key: Buffer;
  after?: HistoryKey;
}

export interface BatchResult {
  /** The compaction this batch worked on (the scheduled revision it read). */
  target: number;
  /** Whether every deletion of `target` is now done (finished revision = target). */
  done: boolean;
  /** History rows (and their index entries) deleted. */
  removed: number;
}

export class CompactionLedger {
  constructor(
    private readonly backend: Backend,
    private readonly history: Database<Buffer, HistoryKey>,
    private readonly index: Database<IndexEntry, Buffer>,
  ) {}

  /** The committed scheduled (visible) compact revision; -1 before any compaction. */
  scheduledRevision(): number {
    return this.backend.getMetaNumber(META_COMPACT_SCHEDULED) ?? -1;
  }

  /**
   * The committed finished compact revision. A data dir written before compaction ran in
   * batches has none: its compactions deleted everything inside their apply.
   */
  finishedRevision(): number {
    return this.backend.getMetaNumber(META_COMPACT_FINISHED) ?? this.scheduledRevision();
  }

  /** Deletions of the scheduled compaction are still to do (committed state). */
  pending(): boolean {
    return this.finishedRevision() < this.scheduledRevision();
  }

  /**
   * Inside the apply transaction: records compaction at rev (the caller checked it is above the
   * previous one, `previous`). A compaction still running is merged into this one, as etcd's
   * queued jobs would end: everything the older one would delete, this one deletes too, so its
   * scan restarts from the first key with the newer target.
   */
  schedule(rev: number, previous: number): void {
    // Compacted revisions only grow; a bug here would delete history still readable.
    if (rev <= previous) throw new Error(`mvcc: compaction must move forward (${previous} -> ${rev})`);
    if (this.backend.getMetaNumber(META_COMPACT_FINISHED) === undefined) this.backend.putMetaNumber(META_COMPACT_FINISHED, previous);
    this.backend.putMetaNumber(META_COMPACT_SCHEDULED, rev);
    this.backend.putMetaBuffer(META_COMPACT_CURSOR, NO_CURSOR);
  }

  /**
   * Inside the transaction that installed a member snapshot at compacted revision `compacted`:
   * the snapshot may carry rows the sender had not deleted yet, so its compaction is run here
   * from the start.
   */
  restart(compacted: number): void {
    this.backend.putMetaNumber(META_COMPACT_SCHEDULED, compacted);
    this.backend.putMetaNumber(META_COMPACT_FINISHED, -1);
    this.backend.putMetaBuffer(META_COMPACT_CURSOR, NO_CURSOR);
  }

  /**
   * Inside a write transaction of its own: deletes the next at most `limit` index entries the
   * scheduled compaction makes unreachable, with their history rows, and records how far it got.
   * Each key visited counts at least one toward the limit, so a batch's work is bounded also
   * where there is nothing to delete.
   */
  batch(limit: number): BatchResult {
    const target = this.backend.getMetaNumber(META_COMPACT_SCHEDULED) ?? -1;
    if (this.finishedInTxn() >= target) return { target, done: true, removed: 0 };
    const cursor = decodeCursor(this.backend.getMetaBuffer(META_COMPACT_CURSOR));
    const removals: [Buffer, IndexEntry][] = [];
    let budget = Math.max(1, limit);
    let next = cursor;
    let done = true;
    const upTo: HistoryKey = [target, Infinity];
    let keys: Iterable<Buffer> = this.index.getKeys({});
    if (cursor !== undefined) {
      const after = this.index.getKeys({ start: successor(cursor.key) });
      keys = cursor.after === undefined ? after : chain(cursor.key, after);
    }
    for (const k of keys) {
      if (budget <= 0) {
        done = false;
        break;
      }
      const storage = Buffer.from(k);
      const resumeAt = next?.after !== undefined && next.key.equals(storage) ? [next.after[0], next.after[1] + 1] : undefined;
      // Versions at or below the target, oldest first; one more than the budget tells whether
      // the key has more of them than this batch can take.
      const versions: IndexEntry[] = [];
      for (const v of this.index.getValues(storage, { start: resumeAt, end: upTo, limit: budget + 1 })) versions.push([v[0], v[1], v[2]]);
      if (versions.length > budget) {
        // Each of the first `budget` versions has a newer one at or below the target: none is kept.
        for (let i = 0; i < budget; i++) removals.push([storage, versions[i]]);
        const last = versions[budget - 1];
        next = { key: storage, after: [last[0], last[1]] };
        budget = 0;
        done = false;
        break;
      }
      // The key's remaining versions at or below the target, all of them: the newest stays
      // unless it is a tombstone (the key does not exist at the target), and then it goes last.
      for (let i = 0; i < versions.length - 1; i++) removals.push([storage, versions[i]]);
      const newest = versions[versions.length - 1];
      if (newest !== undefined && newest[2] === 1) removals.push([storage, newest]);
      next = { key: storage };
      budget -= Math.max(1, versions.length);
    }
    // Deleted after the scan, not during it: LMDB cursors must not see the tables change under them.
    for (const [storage, v] of removals) {
      this.index.removeSync(storage, v);
      this.history.removeSync([v[0], v[1]]);
    }
    if (done) {
      this.backend.putMetaNumber(META_COMPACT_FINISHED, target);
      this.backend.putMetaBuffer(META_COMPACT_CURSOR, NO_CURSOR);
    } else if (next !== undefined) {
      this.backend.putMetaBuffer(META_COMPACT_CURSOR, encodeCursor(next));
    }
    return { target, done, removed: removals.length };
  }

  /**
   * History rows of `rows` that the scheduled compaction keeps. With no deletions pending every
   * row left is kept, and the rows pass through unfiltered. `view`: the read view `rows` come
   * from (else the committed state now).
   */
  keptHistory(rows: RangeIterable<{ key: HistoryKey; value: Buffer }>, view?: ReadView): RangeIterable<{ key: HistoryKey; value: Buffer }> {
    const target = this.backend.getMetaNumber(META_COMPACT_SCHEDULED, view) ?? -1;
    const finished = this.backend.getMetaNumber(META_COMPACT_FINISHED, view) ?? target;
    if (finished >= target) return rows;
    return rows.filter(({ key, value }) => this.keptRow(key[0], key[1], value, target, view));
  }

  /**
   * Whether history row (main, sub) with record `value` is kept at compacted revision `target`
   * (committed state; a reader checks only rows at or below the target).
   */
  keptRow(main: number, sub: number, value: Buffer, target: number, view?: ReadView): boolean {
    if (main > target) return true;
    if (isTombstoneRecord(value)) return false;
    const newest = this.newestAtOrBelow(storageKey(recordKey(value)), target, view);
    return newest !== undefined && newest[0] === main && newest[1] === sub;
  }

  private newestAtOrBelow(storage: Buffer, rev: number, view?: ReadView): IndexEntry | undefined {
    const options = { start: [rev, Infinity], reverse: true, limit: 1, ...(view === undefined ? {} : { transaction: view.transaction }) };
    for (const v of this.index.getValues(storage, options)) return v;
    return undefined;
  }

  private finishedInTxn(): number {
    return this.backend.getMetaNumber(META_COMPACT_FINISHED) ?? this.backend.getMetaNumber(META_COMPACT_SCHEDULED) ?? -1;
  }
}

/** The smallest LMDB key after `key`. */
function successor(key: Buffer): Buffer {
  return Buffer.concat([key, Buffer.from([0])]);
}

function* chain<T>(first: T, rest: Iterable<T>): Generator<T> {
  yield first;
  yield* rest;
}


/** flags u8 (1: `after` follows) | main u48 | sub u48 | storage key */
function encodeCursor(c: Cursor): Buffer {
  const head = Buffer.alloc(CURSOR_HEAD_BYTES);
  if (c.after !== undefined) {
    head[0] = 1;
    head.writeUIntBE(c.after[0], 1, 6);
    head.writeUIntBE(c.after[1], 7, 6);
  }
  return Buffer.concat([head, c.key]);
}

function decodeCursor(buf: Buffer | undefined): Cursor | undefined {
  if (buf === undefined || buf.length < CURSOR_HEAD_BYTES) return undefined;
  const key = Buffer.from(buf.subarray(CURSOR_HEAD_BYTES));
  return buf[0] === 1 ? { key, after: [buf.readUIntBE(1, 6), buf.readUIntBE(7, 6)] } : { key };
}
