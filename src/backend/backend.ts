// The one LMDB environment of a member. The Raft log and the MVCC state live in it side by side
// so that one write transaction (one fsync) can persist new log entries, apply committed ones and
// record the applied index together. This module knows LMDB; it knows nothing of what is stored.
//
// Defragment (etcd's): LMDB reuses freed pages but never shrinks its file, so the environment is
// copied compactly (mdb_env_copy2 with MDB_CP_COMPACT) into <dir>-defrag while writes are held
// (reads go on from the old environment), then the copy is opened and swapped in under the same
// table handles, and the directories are renamed: <dir> -> <dir>-old, <dir>-defrag -> <dir>.
// (No dots in these names: lmdb-js takes a path with an extension for a file, not a directory.)
// A crash at any point leaves either the old or the new directory whole (see recoverDefrag).
//
// Commits need not be synced one by one (transaction(fn, { sync: false })), nor be one per call:
// batched(fn) runs fn in a write transaction held open across calls until the next checkpoint,
// as etcd's batch tx, and reads on the event loop see it at once. The caller makes such writes
// recoverable otherwise (the raft write-ahead log) and calls checkpoint() now and then. A
// checkpoint is a synced commit whose meta page is saved aside (checkpoint-meta.ts); after an
// unclean stop the environment opens at the last checkpoint, a state whole on disk, and the
// caller redoes what came after it. Synced transactions are checkpoints too.
import { open, type Database, type Key, type RootDatabase, type Transaction } from 'lmdb';
import { closeSync, existsSync, fdatasync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointFile, currentTxnId, readMetaPage, readNewestMetaPage, restoreMetaPage, type SavedCheckpoint } from './checkpoint-meta';

export type BinaryDB = Database<Buffer, Buffer>;

const SIZE_REFRESH_MS = 100;
/** lmdb-js's transactionSync flags: abortable, committed before it returns, not flushed (MDB_NOSYNC). */
const NO_SYNC_COMMIT = 0x1 | 0x2 | 0x10000;
/** Writes that commit a transaction of their own when called outside one (wrapped: see table()). */
const SELF_COMMITTING = new Set<PropertyKey>(['putSync', 'removeSync', 'clearSync', 'dropSync']);
type Method = (...args: unknown[]) => unknown;
const META_CHECKPOINT = 'backend/checkpoint';
/** The kernel's page size, as /proc/self/statm counts (0: not known yet). */
let statmPageBytes = 0;

/**
 * One consistent read snapshot of the whole environment that stays valid across event-loop turns
 * (for streaming a member's state to a peer while writes go on). Pass `transaction` to reads;
 * call done() when finished or the old pages are never reclaimed.
 */
export interface ReadView {
  readonly transaction: Transaction;
  done(): void;
}

export interface BackendOptions {
  dir: string;
  /** Initial map size; LMDB grows it on demand. */
  mapSizeBytes?: number;
}

export interface TransactionOptions {
  /**
   * false: the commit is visible at once but not synced; it is durable only after the next
   * checkpoint(), and an unclean stop before that opens the store at the last checkpoint.
   */
  sync?: boolean;
}

/** The store was opened at its last checkpoint after an unclean stop. */
export interface CheckpointRestore {
  /** The LMDB transaction the file stood at. */
  fromTxnId: number | undefined;
  /** The checkpoint's transaction. */
  toTxnId: number;
}

/** One table as opened, so that it can be opened again in a defragmented environment. */
interface TableSlot {
  reopen: (env: RootDatabase) => void;
  /** Pages the table's B-tree holds. */
  pages: () => number;
}

export class Backend {
  readonly dir: string;
  private env: RootDatabase;
  private readonly meta: Database<Buffer, string>;
  private readonly tables: TableSlot[] = [];
  private readonly mapSizeBytes: number;
  private inTransaction = false;
  /** Read views not done yet (a defragment waits for them: they belong to the old environment). */
  private openViews = 0;
  private defragmenting = false;
  private size = 0;
  private sizeAtMs = 0;
  /** Told each write transaction's commit + fsync time, in seconds (etcd_disk_backend_commit_duration_seconds). */
  private commitObserver: ((seconds: number) => void) | undefined;
  private checkpointFile: CheckpointFile;
  /** The directory the open environment's files are in now (the copy's, in the middle of a defragment). */
  private envDir: string;
  /** A read transaction on the state before the last saved checkpoint: LMDB reuses none of its pages (see checkpoint-meta.ts). */
  private pin: Transaction | undefined;
  /** Commits since the last saved checkpoint. */
  private commitsSinceCheckpoint = 0;
  private checkpoints = 0;
  /** The last checkpoint is being taken (close()). */
  private closing = false;
  /** Checkpoints saved so far: a background one started before another was saved is dropped. */
  private checkpointGeneration = 0;
  private backgroundCheckpoint = false;
  /** Settles when the background checkpoint running now (if any) is over: its files stay open until then. */
  private backgroundDone: Promise<void> = Promise.resolve();
  /** Asynchronous transactions queued or committing (a background checkpoint starts only between them). */
  private asyncTransactions = 0;
  /** data.mdb opened for the background checkpoint's fdatasync (-1: not open). */
  private dataFd = -1;
  /** Set when the store was opened at its last checkpoint after an unclean stop. */
  readonly restored: CheckpointRestore | undefined;
  /** The open batch transaction (see batched()), if any. */
  private batch: OpenBatch | undefined;
  /** File-backed resident bytes of the process right after the environment was (re)opened (see releaseMappedPages). */
  private residentAtOpen = 0;
  /** releaseMappedPages() has closed the environment and not opened it again yet. */
  private remapping = false;

  constructor(options: BackendOptions) {
    this.dir = options.dir;
    this.mapSizeBytes = options.mapSizeBytes ?? 1024 * 1024 * 1024;
    recoverDefrag(this.dir);
    mkdirSync(this.dir, { recursive: true });
    this.checkpointFile = new CheckpointFile(this.dir);
    this.envDir = this.dir;
    const { restored, saved } = restoreCheckpoint(this.dir, this.checkpointFile);
    this.restored = restored;
    this.env = this.openEnv(this.dir);
    this.meta = this.table((env) => env.openDB<Buffer, string>({ name: 'meta', encoding: 'binary' }));
    // From the first unsynced commit on there must be a checkpoint to fall back to. When the file
    // stands at the saved one (restored, or closed cleanly and not changed since), pinning its
    // state suffices, and the saved copy says from now on that this open was not closed cleanly.
    // Otherwise (no saved checkpoint, or another program wrote since) a new one is taken.
    if (saved !== undefined && currentTxnId(join(this.dir, 'data.mdb')) === saved.txnId) {
      this.pin = this.env.useReadTransaction();
      if (saved.clean) this.checkpointFile.save(saved, false);
    } else {
      this.checkpoint(true);
    }
    this.residentAtOpen = residentFileBytes() ?? 0;
  }

  /** A sorted table of binary keys and binary values. */
  binaryTable(name: string, dupSort = false): BinaryDB {
    return this.table((env) => env.openDB<Buffer, Buffer>({ name, keyEncoding: 'binary', encoding: 'binary', dupSort }));
  }

  /** A table with order-preserving structured keys or values (numbers, arrays of numbers). */
  orderedTable<V, K extends string | number | Buffer | (string | number)[]>(
    name: string,
    options: { keys: 'binary' | 'ordered-binary'; values: 'binary' | 'ordered-binary'; dupSort?: boolean },
  ): Database<V, K> {
    return this.table((env) => env.openDB<V, K>({ name, keyEncoding: options.keys, encoding: options.values, dupSort: options.dupSort ?? false }));
  }

  /** Whether a defragment is holding writes (work off the Ready path must not write then). */
  get writesHeld(): boolean {
    return this.defragmenting;
  }

  /**
   * Defragments (see the header): `holdWrites` stops new write transactions and resolves, once
   * none is in flight, with the function that lets them go on. Resolves with the file's size
   * before and after. Waits for open read views (a snapshot being streamed) first.
   */
  async defragment(holdWrites: () => Promise<() => void>, viewWaitMs: number): Promise<{ beforeBytes: number; afterBytes: number }> {
    if (this.defragmenting) throw new Error('a defragment is running already');
    this.defragmenting = true;
    const beforeBytes = this.sizeBytes();
    const copyDir = `${this.dir}-defrag`;
    let resume: (() => void) | undefined;
    try {
      const deadline = Date.now() + viewWaitMs;
      while (this.openViews > 0) {
        if (Date.now() > deadline) throw new Error('read views stayed open (a snapshot is being sent)');
        await new Promise((r) => setTimeout(r, 50));
      }
      resume = await holdWrites();
      await this.backgroundDone;
      this.commitBatch();
      rmSync(copyDir, { recursive: true, force: true });
      mkdirSync(copyDir, { recursive: true });
      // lmdb-js copies into a directory (data.mdb inside it).
      await this.env.backup(copyDir, true);
      // From here to the renames nothing awaits: no read or write sees a half-swapped backend.
      const old = this.env;
      this.switchEnv(copyDir);
      // The copy gets its own checkpoint before it takes the directory's name.
      this.releasePin();
      this.closeDataFd();
      this.checkpointFile.close();
      this.checkpointFile = new CheckpointFile(copyDir);
      this.checkpoint(true);
      this.checkpointFile.close();
      renameSync(this.dir, `${this.dir}-old`);
      renameSync(copyDir, this.dir);
      this.envDir = this.dir;
      this.checkpointFile = new CheckpointFile(this.dir);
      this.sizeAtMs = 0;
      resume();
      resume = undefined;
      await old.close();
      // Unlinking a GB-sized file takes the kernel a while: off the event loop, so reads go on.
      await rm(`${this.dir}-old`, { recursive: true, force: true });
      return { beforeBytes, afterBytes: this.sizeBytes() };
    } catch (err) {
      // Failed before the swap: the copy is dropped, the store is as it was.
      if (existsSync(this.dir)) rmSync(copyDir, { recursive: true, force: true });
      throw err;
    } finally {
      resume?.();
      this.defragmenting = false;
    }
  }

  /** Times every write transaction's commit from here on (from fn's end to the commit's). */
  observeCommits(observer: (seconds: number) => void): void {
    this.commitObserver = observer;
  }

  /**
   * Runs fn inside the batch transaction, opening one if none is open: etcd's batch tx. The
   * transaction stays open across calls and event-loop turns until commitBatch() (or any other
   * transaction, a checkpoint, a read view) commits it, unsynced. Reads on this thread see its
   * writes at once (lmdb-js reads through the open write transaction), so applied state is
   * visible before it is committed; the caller makes it recoverable otherwise (the WAL holds it).
   * One commit for many applies rewrites each B-tree path once instead of once per apply: fewer
   * pages written and flushed by the next checkpoint, and one commit's CPU.
   *
   * While a read view or an asynchronous transaction is open, fn gets a transaction of its own
   * instead (unsynced, committed at once): lmdb-js reads through an open write transaction even
   * when given a view's, and its writer thread must not wait for a transaction held open here.
   * fn throwing aborts the whole batch, earlier calls' writes included: the caller must then
   * stop using the store (the member fails and redoes its WAL on restart).
   */
  batched<T>(fn: () => T): T {
    if (this.inTransaction) return fn();
    if (this.openViews > 0 || this.asyncTransactions > 0 || this.defragmenting || this.closing) return this.transaction(fn, { sync: false });
    if (this.batch === undefined) this.batch = this.openBatch();
    const batch = this.batch;
    this.inTransaction = true;
    try {
      const result = fn();
      batch.calls++;
      return result;
    } catch (err) {
      this.batch = undefined;
      batch.abort(err);
      throw err;
    } finally {
      this.inTransaction = false;
    }
  }

  /** Calls to batched() the open batch transaction holds (0: none open). */
  batchedCalls(): number {
    return this.batch?.calls ?? 0;
  }

  /** Commits the batch transaction, if one is open (unsynced: the next checkpoint makes it durable). */
  commitBatch(): void {
    const batch = this.batch;
    if (batch === undefined) return;
    if (this.inTransaction) throw new Error('backend: commitBatch inside a transaction');
    this.batch = undefined;
    const startMs = performance.now();
    batch.commit();
    this.commitObserver?.((performance.now() - startMs) / 1000);
    this.commitsSinceCheckpoint++;
  }

  /**
   * Opens a write transaction that lmdb-js keeps open until the value its callback returned
   * settles: a thenable of our own, so that committing (or aborting) happens synchronously, at
   * the moment commitBatch() calls the continuation lmdb-js handed to it.
   */
  private openBatch(): OpenBatch {
    let commit: ((result: unknown) => unknown) | undefined;
    let abort: ((err: unknown) => unknown) | undefined;
    const settles = {
      then(onCommit: (result: unknown) => unknown, onAbort: (err: unknown) => unknown): void {
        commit = onCommit;
        abort = onAbort;
      },
    };
    this.env.transactionSync(() => settles, NO_SYNC_COMMIT);
    if (commit === undefined || abort === undefined) throw new Error('backend: lmdb-js did not keep the batch transaction open');
    const onCommit = commit;
    const onAbort = abort;
    return {
      calls: 0,
      commit: () => void onCommit(undefined),
      abort: (err) => {
        // lmdb-js aborts and rethrows; the caller throws err itself.
        try {
          onAbort(err);
        } catch {
          // rethrown by lmdb-js
        }
      },
    };
  }

  /**
   * Runs fn in one write transaction, committed before it returns: synced too (a checkpoint),
   * unless options.sync is false (see TransactionOptions). Inside another transaction, fn joins it.
   */
  transaction<T>(fn: () => T, options?: TransactionOptions): T {
    if (this.inTransaction) return fn();
    this.commitBatch();
    const sync = options?.sync ?? true;
    // The pin for this checkpoint is taken before it commits: it holds the state before it.
    const pin = sync ? this.env.useReadTransaction() : undefined;
    let txnId = 0;
    this.inTransaction = true;
    const observer = this.commitObserver;
    let result: T;
    try {
      let fnEndMs = 0;
      result = this.env.transactionSync(() => {
        txnId = this.env.getWriteTxnId();
        const r = fn();
        fnEndMs = performance.now();
        return r;
      }, sync ? undefined : NO_SYNC_COMMIT);
      if (observer !== undefined) observer((performance.now() - fnEndMs) / 1000);
    } catch (err) {
      pin?.done();
      throw err;
    } finally {
      this.inTransaction = false;
    }
    this.commitsSinceCheckpoint++;
    if (pin !== undefined) this.saveCheckpoint(txnId, pin);
    return result;
  }

  /**
   * Makes every commit so far durable and the state to fall back to after an unclean stop (see
   * the header): one synced commit, its meta page saved. Nothing to do when nothing committed
   * since the last one, unless forced.
   */
  checkpoint(force = false): void {
    if (this.inTransaction) throw new Error('backend: checkpoint inside a transaction');
    this.commitBatch();
    if (!force && this.commitsSinceCheckpoint === 0) return;
    const n = ++this.checkpoints;
    this.transaction(() => this.meta.putSync(META_CHECKPOINT, numberBuffer(n)));
  }

  /** A checkpointInBackground() is flushing. */
  get checkpointRunning(): boolean {
    return this.backgroundCheckpoint;
  }

  /** Checkpoints saved since the store was opened. */
  get checkpointsSaved(): number {
    return this.checkpointGeneration;
  }

  /** Commits made since the last checkpoint (they are not all durable yet). */
  uncheckpointedCommits(): number {
    return this.commitsSinceCheckpoint + this.batchedCalls();
  }

  /**
   * A checkpoint whose flush runs on the thread pool, so that the event loop is not held while
   * the kernel writes out everything committed since the last one (tens of MB a second under
   * load: measured, the synchronous form held the loop for up to 70 ms). Here, on this thread and
   * between transactions: the current state is pinned and its meta page read. Then data.mdb is
   * fdatasynced in the background, which makes that state durable, meta page included; then the
   * page is saved as the checkpoint. Resolves with whether it saved one (not when nothing was
   * committed, when one is running already, when an asynchronous transaction is in flight, or
   * when another checkpoint was saved meanwhile).
   */
  async checkpointInBackground(): Promise<boolean> {
    if (!this.inTransaction) this.commitBatch();
    if (this.backgroundCheckpoint || this.commitsSinceCheckpoint === 0 || this.asyncTransactions > 0 || this.inTransaction || this.defragmenting) return false;
    const env = this.env;
    const generation = this.checkpointGeneration;
    const covered = this.commitsSinceCheckpoint;
    // No commit can come between these two lines and the reads below: this thread runs every
    // transaction's callback, and none is in flight.
    const pin = env.useReadTransaction();
    const meta = readNewestMetaPage(join(this.envDir, 'data.mdb'));
    if (meta === undefined) {
      pin.done();
      throw new Error('backend: cannot read the meta page of data.mdb; cannot checkpoint');
    }
    this.backgroundCheckpoint = true;
    let over = (): void => undefined;
    this.backgroundDone = new Promise<void>((resolve) => (over = resolve));
    try {
      if (this.dataFd < 0) this.dataFd = openSync(join(this.envDir, 'data.mdb'), 'r');
      const fd = this.dataFd;
      await new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err === null ? resolve() : reject(err))));
      if (env !== this.env || generation !== this.checkpointGeneration || this.closing) {
        pin.done();
        return false;
      }
      // The save's fdatasync runs on the thread pool too (on this thread it held the loop for a
      // millisecond or more, every checkpoint); the old checkpoint stays pinned until it is done.
      // A synced checkpoint saved meanwhile is newer: this one is dropped then.
      await this.checkpointFile.saveAsync(meta);
      if (env !== this.env || generation !== this.checkpointGeneration || this.closing) {
        pin.done();
        return false;
      }
      this.checkpointGeneration++;
      this.releasePin();
      this.pin = pin;
      this.commitsSinceCheckpoint = Math.max(0, this.commitsSinceCheckpoint - covered);
      return true;
    } catch (err) {
      pin.done();
      throw err;
    } finally {
      this.backgroundCheckpoint = false;
      over();
    }
  }

  /**
   * After the synced commit txnId, on this thread: saves its meta page as the checkpoint and
   * moves the pin to `pin`. No other commit can come between (asynchronous transactions need
   * this thread to run their callback before they commit), so the page is still in its slot.
   */
  private saveCheckpoint(txnId: number, pin: Transaction): void {
    const dataFile = join(this.envDir, 'data.mdb');
    const meta = readMetaPage(dataFile, txnId);
    if (meta === undefined) {
      pin.done();
      // A transaction that changed nothing commits no meta page: the last checkpoint stands.
      if ((currentTxnId(dataFile) ?? Infinity) < txnId) return;
      throw new Error(`backend: the meta page of transaction ${txnId} is not where LMDB keeps it; cannot checkpoint`);
    }
    this.checkpointFile.save(meta, this.closing);
    this.checkpointGeneration++;
    this.releasePin();
    this.pin = pin;
    this.commitsSinceCheckpoint = 0;
  }

  private closeDataFd(): void {
    if (this.dataFd >= 0) closeSync(this.dataFd);
    this.dataFd = -1;
  }

  private releasePin(): void {
    this.pin?.done();
    this.pin = undefined;
  }

  /**
   * Runs fn in a write transaction whose commit and fsync happen on LMDB's writer thread, so the
   * event loop keeps serving while the disk works. fn itself runs on this thread, inside the
   * transaction; reads outside fn see the previous state until the returned promise resolves,
   * by which time the transaction is on disk. It is not a checkpoint: after an unclean stop the
   * store opens at the last checkpoint, before it, so what it writes must be redone then (as a
   * compaction batch is) or be followed by checkpoint() (as a snapshot install is).
   */
  transactionAsync<T>(fn: () => T): Promise<T> {
    this.commitBatch();
    const observer = this.commitObserver;
    let fnEndMs = 0;
    this.asyncTransactions++;
    const committed = this.env.transaction(() => {
      this.inTransaction = true;
      try {
        return fn();
      } finally {
        this.inTransaction = false;
        fnEndMs = performance.now();
      }
    });
    // Synced, but not a checkpoint (its meta page is not saved): the next checkpoint covers it.
    return committed.then(
      (r) => {
        this.asyncTransactions--;
        this.commitsSinceCheckpoint++;
        observer?.((performance.now() - fnEndMs) / 1000);
        return r;
      },
      (err: unknown) => {
        this.asyncTransactions--;
        throw err;
      },
    );
  }

  /** Pins the current committed state for reads spread over time (see ReadView). */
  readView(): ReadView {
    // Reads through the view must not see the batch's writes (lmdb-js would read through it).
    this.commitBatch();
    const transaction = this.env.useReadTransaction();
    let open = true;
    this.openViews++;
    return {
      transaction,
      done: () => {
        if (open) {
          transaction.done();
          this.openViews--;
        }
        open = false;
      },
    };
  }

  /**
   * Signed 64-bit big-endian (the compacted revision may be -1). Read from lmdb-js's reusable
   * buffer, not get()'s copy (a new backing store each time, and some of these are read on every
   * applied batch), and without a BigInt. Reads in a view (rare) take the copying path.
   */
  getMetaNumber(key: string, view?: ReadView): number | undefined {
    const v = view === undefined ? this.meta.getBinaryFast(key) : this.meta.get(key, { transaction: view.transaction });
    if (v === undefined) return undefined;
    const high = v.readInt32BE(0);
    const low = v.readUInt32BE(4);
    // The usual small value comes back as V8's small integer, not a double: revisions read here
    // flow into code optimized for small integers, which a double deoptimizes.
    return high === 0 ? low : high * 0x1_0000_0000 + low;
  }

  putMetaNumber(key: string, value: number): void {
    this.meta.putSync(key, numberBuffer(value));
  }

  getMetaBuffer(key: string, view?: ReadView): Buffer | undefined {
    return this.meta.get(key, view === undefined ? undefined : { transaction: view.transaction });
  }

  putMetaBuffer(key: string, value: Buffer): void {
    this.meta.putSync(key, value);
  }

  /**
   * Size of the database file on disk (etcd's dbSize). Read at most every SIZE_REFRESH_MS: the
   * quota asks on every write, and a stat costs more than the check; a defragment, which shrinks
   * the file at once, forgets the size read last.
   */
  sizeBytes(): number {
    const now = Date.now();
    if (now - this.sizeAtMs >= SIZE_REFRESH_MS) {
      try {
        this.size = statSync(join(this.dir, 'data.mdb')).size;
      } catch {
        this.size = 0;
      }
      this.sizeAtMs = now;
    }
    return this.size;
  }

  /**
   * Bytes of pages in use (etcd's dbSizeInUse: the file less its free pages): every table's
   * B-tree pages, the main and free-list trees and the two meta pages. What compaction and
   * deletes free shows here at once; the file itself shrinks only by a defragment.
   */
  sizeInUseBytes(): number {
    const stats = this.env.getStats() as { pageSize?: number; free?: unknown };
    const pageSize = stats.pageSize ?? 4096;
    let pages = 2 + treePages(stats) + treePages(stats.free);
    for (const t of this.tables) pages += t.pages();
    return Math.min(pages * pageSize, this.sizeBytes());
  }

  /**
   * Gives back the pages of data.mdb this process has mapped, when they grew by `thresholdBytes`
   * or more since the environment was opened: the environment is closed and opened again.
   *
   * Why: LMDB never unmaps a page it read, and the process's RSS keeps it. Updates at random keys
   * (the current-value and index tables) copy pages on write into free slots anywhere in the
   * file, and every read fault maps the page's neighbours too (the kernel's fault-around), so
   * under load the whole file ends up counted, 90+ MB after the bench suite. The pages stay in
   * the page cache: what the reads after this touch comes back by minor faults. (bbolt's map is
   * dropped the same way each time it remaps its file.)
   *
   * Only when everything committed is checkpointed and nothing is open (no batch, asynchronous
   * transaction, read view, background checkpoint, defragment): the state opened again is then
   * the checkpoint's, and is pinned again. lmdb-js's close settles over a few microtasks (its
   * write promises); no transaction can start in that window, since this thread runs them all
   * from macrotasks. Resolves with whether it remapped.
   */
  async releaseMappedPages(thresholdBytes: number): Promise<boolean> {
    if (!this.settled()) return false;
    const resident = residentFileBytes();
    if (resident === undefined || resident - this.residentAtOpen < thresholdBytes) return false;
    const old = this.env;
    this.remapping = true;
    this.releasePin();
    try {
      await old.close();
    } finally {
      this.switchEnv(this.envDir);
      this.pin = this.env.useReadTransaction();
      this.remapping = false;
      this.residentAtOpen = residentFileBytes() ?? 0;
    }
    return true;
  }

  /** Nothing open and every commit checkpointed: the committed state is the pinned checkpoint's. */
  private settled(): boolean {
    return (
      !this.inTransaction &&
      this.batch === undefined &&
      this.commitsSinceCheckpoint === 0 &&
      this.asyncTransactions === 0 &&
      this.openViews === 0 &&
      this.pin !== undefined &&
      !this.backgroundCheckpoint &&
      !this.defragmenting &&
      !this.closing &&
      !this.remapping
    );
  }

  /** Closes after a last checkpoint, saved as a clean close: the next open takes the file as it stands. */
  async close(): Promise<void> {
    // Saved as a clean close: nothing commits after it.
    this.closing = true;
    await this.backgroundDone;
    this.checkpoint(true);
    this.releasePin();
    this.closeDataFd();
    this.checkpointFile.close();
    await this.env.close();
  }

  /** Opens the environment in `dir` and moves every table handle to it (the old one is the caller's to close). */
  private switchEnv(dir: string): void {
    this.env = this.openEnv(dir);
    this.envDir = dir;
    for (const t of this.tables) t.reopen(this.env);
  }

  private openEnv(path: string): RootDatabase {
    return open({
      path,
      mapSize: this.mapSizeBytes,
      maxDbs: 16,
      // Commits happen on this thread when asked (transactionSync), synced or not as each asks;
      // checkpoints decide what is durable, not lmdb-js's background flushes.
      overlappingSync: false,
      noMemInit: true,
    });
  }

  /**
   * Opens a table and returns a handle that stays valid when a defragment or releaseMappedPages
   * swaps the environment: each property read goes to the table as currently opened.
   *
   * A method is a wrapper made once per name, which finds the current table's method in a map and
   * calls it. lmdb-js defines its store class inside open(), so a reopened table's methods are new
   * functions; when the wrappers were made anew too (methods bound to the table), every caller
   * optimized around them deoptimized ("wrong call target") at each swap, and the load after
   * ran ~10% slower while V8 optimized them again. Through the map, our optimized code holds no
   * assumption about which function it calls.
   */
  private table<T extends object>(openIn: (env: RootDatabase) => T): T {
    let current = openIn(this.env);
    const methods = new Map<PropertyKey, Method>();
    const wrappers = new Map<PropertyKey, unknown>();
    this.tables.push({
      reopen: (env) => {
        current = openIn(env);
        for (const prop of methods.keys()) methods.set(prop, Reflect.get(current, prop) as Method);
      },
      pages: () => {
        const getStats: unknown = Reflect.get(current, 'getStats');
        return typeof getStats === 'function' ? treePages(getStats.call(current)) : 0;
      },
    });
    const handle = new Proxy<T>(current, {
      get: (_target, prop) => {
        const cached = wrappers.get(prop);
        if (cached !== undefined) return cached;
        const value: unknown = Reflect.get(current, prop);
        if (typeof value !== 'function') return value;
        methods.set(prop, value as Method);
        // Fixed arity (more than any lmdb-js table method takes) rather than rest arguments: no
        // array per call.
        const call = (a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown): unknown => (methods.get(prop) as Method).call(current, a, b, c, d, e);
        // Called outside a transaction, such a write commits one of its own: made a checkpoint,
        // so that an unclean stop never opens the store at a state before it.
        const fn = SELF_COMMITTING.has(prop)
          ? (a?: unknown, b?: unknown, c?: unknown, d?: unknown) => (this.inTransaction ? call(a, b, c, d) : this.transaction(() => call(a, b, c, d)))
          : call;
        wrappers.set(prop, fn);
        return fn;
      },
    });
    return handle;
  }
}

/** A batch transaction lmdb-js holds open (see Backend.batched). */
interface OpenBatch {
  calls: number;
  commit: () => void;
  abort: (err: unknown) => void;
}

const APPEND = Object.freeze({ append: true });

/**
 * Puts a key past the table's last one with MDB_APPEND (no B-tree search; pages filled whole
 * instead of split in halves), for tables that only grow at their end. LMDB refuses an append
 * that is not past the last key: lmdb-js then answers false (its typings say void), and the
 * write is made as an ordinary put, so the result never depends on the append.
 */
export function appendSync<K extends Key, V>(table: Database<V, K>, key: K, value: V): void {
  const appended: unknown = table.putSync(key, value, APPEND);
  if (appended !== true) table.putSync(key, value);
}

/**
 * Bytes of file-backed pages resident in this process (Linux: /proc/self/statm's shared pages;
 * the executable's and libraries' count too, so only a change means anything). undefined elsewhere.
 */
function residentFileBytes(): number | undefined {
  try {
    const fields = readFileSync('/proc/self/statm', 'latin1').split(' ');
    const shared = Number(fields[2]);
    if (statmPageBytes === 0) {
      // statm counts the kernel's pages; its size is the RSS in bytes over the resident pages.
      const resident = Number(fields[1]);
      statmPageBytes = resident > 0 ? 2 ** Math.round(Math.log2(process.memoryUsage.rss() / resident)) : 4096;
    }
    return Number.isFinite(shared) ? shared * statmPageBytes : undefined;
  } catch {
    return undefined;
  }
}

/** A number as a big-endian int64 (several are written per applied batch: no BigInt for the usual ones). */
function numberBuffer(value: number): Buffer {
  const buf = Buffer.allocUnsafe(8);
  if (Number.isSafeInteger(value) && value >= 0) {
    buf.writeUInt32BE(Math.floor(value / 0x1_0000_0000), 0);
    buf.writeUInt32BE(value >>> 0, 4);
  } else buf.writeBigInt64BE(BigInt(value));
  return buf;
}

/**
 * Before the environment opens: after an unclean stop puts the last checkpoint's meta page back
 * (when the file stands past it). After a clean close the file is whole as it stands, and
 * another program may have changed it since (an operator's repair): it is taken as it is. So is
 * a file with no saved checkpoint (a new directory, or one written by a version without them,
 * which synced every commit). Not covered: another program writing to the file after an unclean
 * stop, before etcd-ts opened it again (it may reuse the checkpoint's pages).
 */
function restoreCheckpoint(dir: string, file: CheckpointFile): { restored: CheckpointRestore | undefined; saved: SavedCheckpoint | undefined } {
  const dataFile = join(dir, 'data.mdb');
  if (!existsSync(dataFile)) return { restored: undefined, saved: undefined };
  const saved = file.read();
  if (saved === undefined || saved.clean) return { restored: undefined, saved };
  const fromTxnId = restoreMetaPage(dataFile, saved);
  return { restored: fromTxnId === saved.txnId ? undefined : { fromTxnId, toTxnId: saved.txnId }, saved };
}

/**
 * Finishes or undoes a defragment a crash interrupted: a copy beside a whole directory is
 * dropped; a directory renamed away with its copy beside it means the copy was complete.
 */
function recoverDefrag(dir: string): void {
  const copy = `${dir}-defrag`;
  const old = `${dir}-old`;
  if (!existsSync(dir) && existsSync(old)) {
    if (existsSync(copy)) renameSync(copy, dir);
    else renameSync(old, dir);
  }
  rmSync(copy, { recursive: true, force: true });
  rmSync(old, { recursive: true, force: true });
}

/** Branch, leaf and overflow pages of a B-tree, from LMDB's stats of it. */
function treePages(stats: unknown): number {
  if (typeof stats !== 'object' || stats === null) return 0;
  const n = (k: string): number => {
    const v: unknown = Reflect.get(stats, k);
    return typeof v === 'number' ? v : 0;
  };
  return n('treeBranchPageCount') + n('treeLeafPageCount') + n('overflowPages');
}
