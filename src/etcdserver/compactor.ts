// etcd's auto-compaction (etcd 3.4 etcdserver/api/v3compactor: periodic.go, revision.go): the
// member compacts its history on a schedule by proposing Compact requests through Raft, exactly
// as a client would. Every member runs the loop, only the leader compacts (etcd pauses the
// compactor on followers), so a cluster compacts once per period whoever leads.
// - periodic, retention R: every R/10 (at most 6 minutes) the current revision is noted, the
//   last R/10-spaced notes kept; once R has passed since the start (afterwards, min(R, 1h) since
//   the last success) the oldest note, the revision of about R ago, is compacted.
// - revision, retention N: every 5 minutes, the current revision minus N is compacted (unless
//   it is not positive or was compacted last time).
// It never writes anything itself, and stops promptly.
import type { Logger } from 'pino';
import { Errors } from '../errors';
import { goDuration } from '../mvcc/compaction-scheduler';
import { durationMs } from '../server/flags';

const HOUR_MS = 3_600_000;
/** etcd's retryDivisor: periodic mode notes the revision and retries every period / 10. */
const RETRY_DIVISOR = 10;

export type Retention = { mode: 'periodic'; periodMs: number } | { mode: 'revision'; revisions: number };

/**
 * etcd's parseCompactionRetention: a whole number >= 0 is hours in periodic mode and revisions
 * in revision mode; anything else is a Go duration (in revision mode its nanoseconds count as
 * revisions, as in etcd). undefined when auto-compaction is off (retention 0).
 */
export function parseRetention(mode: 'periodic' | 'revision', text: string): Retention | undefined {
  const whole = /^\+?\d+$/.test(text) ? Number(text) : undefined;
  if (mode === 'periodic') {
    const periodMs = whole !== undefined ? whole * HOUR_MS : durationMs('auto-compaction-retention', text);
    return periodMs > 0 ? { mode, periodMs } : undefined;
  }
  const revisions = whole ?? Math.round(durationMs('auto-compaction-retention', text) * 1e6);
  return revisions > 0 ? { mode, revisions } : undefined;
}

export interface AutoCompactorDeps {
  retention: Retention;
  /** How often revision mode looks (etcd: 5 minutes). */
  revisionIntervalMs: number;
  /** The member's current revision (etcd's RevGetter). */
  revision: () => number;
  /** Proposes a Compact request through Raft and waits for its result. */
  compact: (rev: number) => Promise<unknown>;
  /** Only the leader compacts. */
  isLeader: () => boolean;
  log: Logger;
}

export class AutoCompactor {
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private wakeSleeper: (() => void) | undefined;

  constructor(private readonly d: AutoCompactorDeps) {}

  start(): void {
    const r = this.d.retention;
    const run = r.mode === 'periodic' ? this.periodic(r.periodMs) : this.byRevision(r.revisions);
    run.catch((err: unknown) => this.d.log.error({ err }, 'auto-compaction stopped'));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.wakeSleeper?.();
  }

  /** etcd's Periodic.Run. One iteration per retry interval until stop(). */
  private async periodic(periodMs: number): Promise<void> {
    const compactIntervalMs = Math.min(periodMs, HOUR_MS);
    const retryIntervalMs = compactIntervalMs / RETRY_DIVISOR;
    // Notes spaced by the retry interval covering one period: revs[0] is the revision of about
    // one period ago. Bounded by this count.
    const retentions = Math.floor(periodMs / retryIntervalMs) + 1;
    const period = goDuration(periodMs);
    const revs: number[] = [];
    let lastSuccessMs = Date.now();
    // The first compaction waits one whole period; later ones min(period, 1h) after a success.
    let baseIntervalMs = periodMs;
    while (!this.stopped) {
      revs.push(this.d.revision());
      if (revs.length > retentions) revs.shift();
      await this.sleep(retryIntervalMs);
      if (this.stopped) return;
      if (!this.d.isLeader()) continue;
      if (Date.now() - lastSuccessMs < baseIntervalMs) continue;
      baseIntervalMs = compactIntervalMs;
      const rev = revs[0];
      const fields = { revision: rev, 'compact-period': period };
      this.d.log.info(fields, `Starting auto-compaction at revision ${rev} (retention: ${period})`);
      const err = await this.compact(rev);
      if (this.stopped) return;
      if (err === undefined) {
        this.d.log.info({ ...fields, took: goDuration(Date.now() - lastSuccessMs) }, `Finished auto-compaction at revision ${rev}`);
        lastSuccessMs = Date.now();
      } else {
        this.d.log.warn({ ...fields, 'retry-interval': goDuration(retryIntervalMs), error: err.message }, `Failed auto-compaction at revision ${rev} (${err.message})`);
      }
    }
  }

  /** etcd's Revision.Run. One iteration per interval until stop(). */
  private async byRevision(retention: number): Promise<void> {
    let prev = 0;
    while (!this.stopped) {
      await this.sleep(this.d.revisionIntervalMs);
      if (this.stopped || !this.d.isLeader()) continue;
      const rev = this.d.revision() - retention;
      if (rev <= 0 || rev === prev) continue;
      const startedMs = Date.now();
      const fields = { revision: rev, 'revision-compaction-retention': retention };
      this.d.log.info(fields, `Starting auto-compaction at revision ${rev} (retention: ${retention} revisions)`);
      const err = await this.compact(rev);
      if (this.stopped) return;
      if (err === undefined) {
        prev = rev;
        this.d.log.info({ ...fields, took: goDuration(Date.now() - startedMs) }, `Finished auto-compaction at revision ${rev}`);
      } else {
        this.d.log.warn(
          { ...fields, 'retry-interval': goDuration(this.d.revisionIntervalMs), error: err.message },
          `Failed auto-compaction at revision ${rev} (${err.message})`,
        );
      }
    }
  }

  /** Compacts at rev; undefined when it worked or rev was compacted already (success to etcd). */
  private async compact(rev: number): Promise<Error | undefined> {
    try {
      await this.d.compact(rev);
      return undefined;
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      return e.message === Errors.compacted().message ? undefined : e;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wakeSleeper = resolve;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.wakeSleeper = undefined;
        resolve();
      }, ms);
      this.timer.unref();
    });
  }
}
