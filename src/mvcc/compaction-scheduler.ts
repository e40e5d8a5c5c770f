// Runs the deletion half of compactions (compaction.ts) in the background, as etcd's
// scheduleCompaction does: batch after batch, each its own short write transaction queued on
// LMDB's writer thread among the member's Ready transactions, with a pause between batches so
// that client writes get the writer in between. A compaction a restart interrupted resumes
// where its last batch ended (etcd restarts it from the beginning). What a client can read
// never depends on how far this got; only `physical` compactions wait for it.
// It must never run a batch while the backend holds writes (a defragment), and stops promptly.
import type { Logger } from 'pino';
import type { Backend } from '../backend/backend';
import type { CompactionLedger } from './compaction';

export interface CompactionSchedulerOptions {
  backend: Backend;
  ledger: CompactionLedger;
  /** Index entries one batch deletes or looks at, at most (etcd's --experimental-compaction-batch-limit). */
  batchLimit: number;
  /** Pause between batches (etcd's --experimental-compaction-sleep-interval). */
  batchIntervalMs: number;
  log?: Logger;
}

/** Callers waiting for a compaction to be physically done (Compact with physical), at most. */
const MAX_WAITERS = 10_000;
/**
 * A physical compaction still waiting after this long is logged with the scheduler's state. One
 * of a small store takes milliseconds; one CI run saw a Compact wait out its client's 30 s.
 */
const SLOW_WAIT_MS = 5000;
/** After a batch failed, the next try waits this long (a failure is logged once per try). */
const RETRY_AFTER_ERROR_MS = 1000;

interface Waiter {
  rev: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class CompactionScheduler {
  private running = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  /** The batch transaction queued or committing, if any (stop() waits for it). */
  private inFlight: Promise<void> | undefined;
  private waiters: Waiter[] = [];
  /** The compaction being run and when its first batch here started (for the log line). */
  private runningTarget = -1;
  private runningSinceMs = 0;

  constructor(private readonly o: CompactionSchedulerOptions) {}

  /** Resumes a compaction that was scheduled before a restart but not finished. */
  start(): void {
    if (this.o.ledger.pending()) {
      this.o.log?.info(
        { 'meta-bucket-name': 'meta', 'meta-bucket-name-key': 'scheduledCompactRev', 'scheduled-compact-revision': this.o.ledger.scheduledRevision() },
        'resume scheduled compaction',
      );
    }
    this.wake();
  }

  /**
   * Starts deleting if a compaction is pending (committed state). Called after every applied
   * batch of entries and after a snapshot is installed: cheap when there is nothing to do.
   */
  wake(): void {
    if (this.stopped || this.running) return;
    if (!this.o.ledger.pending()) {
      this.settle(this.o.ledger.finishedRevision());
      return;
    }
    this.running = true;
    this.runningTarget = this.o.ledger.scheduledRevision();
    this.runningSinceMs = Date.now();
    this.step();
  }

  /**
   * Resolves once every deletion of compaction rev (or of a later one that took it over) is done
   * and committed; rejects when the member stops first.
   */
  waitFinished(rev: number): Promise<void> {
    if (this.o.ledger.finishedRevision() >= rev) return Promise.resolve();
    if (this.stopped) return Promise.reject(new Error('compaction: stopped'));
    if (this.waiters.length >= MAX_WAITERS) return Promise.reject(new Error('compaction: too many waiters'));
    return new Promise((resolve, reject) => {
      const slow = setTimeout(() => this.o.log?.warn({ 'compact-revision': rev, ...this.state() }, 'physical compaction still waiting after 5s'), SLOW_WAIT_MS);
      slow.unref();
      this.waiters.push({
        rev,
        resolve: () => {
          clearTimeout(slow);
          resolve();
        },
        reject: (err) => {
          clearTimeout(slow);
          reject(err);
        },
      });
      this.wake();
    });
  }

  /** What the scheduler is doing, for the log line about a slow physical compaction. */
  private state(): Record<string, unknown> {
    return {
      running: this.running,
      'batch-in-flight': this.inFlight !== undefined,
      'next-batch-timer': this.timer !== undefined,
      'writes-held': this.o.backend.writesHeld,
      'scheduled-revision': this.o.ledger.scheduledRevision(),
      'finished-revision': this.o.ledger.finishedRevision(),
      waiters: this.waiters.length,
    };
  }

  /** Resolves when no batch is queued or committing (e.g. before a defragment copies the file). */
  async idle(): Promise<void> {
    await this.inFlight;
  }

  /** Stops after the batch in flight, if any, has committed. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(new Error('compaction: stopped'));
    await this.inFlight;
  }

  /** One batch, then (unless done) the next after the pause: a chain bounded by the index size. */
  private step(): void {
    this.timer = undefined;
    if (this.stopped) {
      this.running = false;
      return;
    }
    if (this.o.backend.writesHeld) {
      this.later(this.o.batchIntervalMs);
      return;
    }
    // Checked again inside: a defragment may have begun while the batch waited for the writer.
    // (One that commits after the defragment's copy was taken is lost with it, whole, and redone.)
    const batch = this.o.backend.transactionAsync(() => (this.o.backend.writesHeld ? undefined : this.o.ledger.batch(this.o.batchLimit)));
    this.inFlight = batch.then(
      (result) => {
        this.inFlight = undefined;
        if (result === undefined || !result.done) {
          this.later(this.o.batchIntervalMs);
          return;
        }
        this.o.log?.info({ 'compact-revision': result.target, took: goDuration(Date.now() - this.runningSinceMs) }, 'finished scheduled compaction');
        this.running = false;
        this.settle(result.target);
        // A newer compaction may have been applied meanwhile.
        this.wake();
      },
      (err: unknown) => {
        this.inFlight = undefined;
        if (this.stopped) {
          this.running = false;
          return;
        }
        this.o.log?.error({ err, 'compact-revision': this.runningTarget }, 'compaction batch failed');
        this.later(RETRY_AFTER_ERROR_MS);
      },
    );
  }

  private later(ms: number): void {
    if (this.stopped) {
      this.running = false;
      return;
    }
    this.timer = setTimeout(() => this.step(), ms);
    this.timer.unref();
  }

  private settle(finished: number): void {
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.rev <= finished) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }
}

/** Go's time.Duration String() of a whole number of milliseconds (etcd logs durations so). */
export function goDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  let rest = ms / 1000;
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  rest -= m * 60;
  const s = `${Number(rest.toFixed(3))}s`;
  if (h > 0) return `${h}h${m}m${s}`;
  if (m > 0) return `${m}m${s}`;
  return s;
}
