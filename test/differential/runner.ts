// A differential run: one seeded request sequence sent to a reference server (real etcd 3.4) and a
// candidate (etcd-ts, or etcd again to check the tool itself), one request at a time to both at
// once, every answer normalised (normalise.ts) and compared field by field.
//
// Divergence: after a mismatch in a request that may write, both stores are compared (every key
// with its revisions and lease, the header revision, the leases, the compacted revision). If they
// differ, the rest of the sequence would only repeat that one difference in every answer, so both
// servers are restarted on fresh data dirs and the sequence goes on from an empty store (the
// generator forgets what it knew). Resyncing by replaying one side's state into the other would
// need writes that themselves go through the code under test, and could not give both the same
// revisions; a restart costs about a second. A watch mismatch leaves the stores alone but can leave
// the two streams with different watchers, so that stream is closed on both sides and reopened
// (watch-steps.ts).
import * as grpc from '@grpc/grpc-js';
import { Generator } from './generator';
import { differences, fieldOf, type Difference } from './compare';
import { codeName, normaliseAnswer, sizeRelative } from './normalise';
import { Side, stopAllSides, type Impl } from './side';
import { MUTATING, stepName, type Msg, type UnaryStep } from './steps';
import { formatMismatch } from './report';
import { latin1 } from './gen-values';
import { show } from './show';
import { sentBytes, sizeAtTheLimit } from './request-size';
import { FINAL, WatchSteps } from './watch-steps';

export interface DiffOptions {
  seed: number;
  ops: number;
  /** The candidate: etcd-ts (default) or etcd (the tool against itself: must be clean). */
  against: Impl;
  /** Stop at the first mismatch (else go on, restarting both servers when the stores diverged). */
  stopAtFirst: boolean;
  /** Output lines (mismatches as they are found, restarts, progress); default: none. */
  log?: (line: string) => void;
  /** Log every step. */
  trace?: boolean;
}

export interface Mismatch {
  seed: number;
  /** The step's index in the sequence (0-based). */
  step: number;
  what: string;
  /** A short signature (request kind + fields that differ, or the errors), to group findings. */
  klass: string;
  request: unknown;
  a: unknown;
  b: unknown;
  diffs: Difference[];
  note?: string;
}

export interface DiffResult {
  seed: number;
  ops: number;
  labels: [string, string];
  mismatches: Mismatch[];
  /** Restarts of both servers after the stores diverged (or one exited). */
  restarts: number;
  durationMs: number;
  /** What the reference answered: `request kind -> outcome (ok or the error code) -> count`; and
   *  the watch responses / events it sent. */
  stats: Record<string, Record<string, number>>;
  /** Set if the run could not go on (the harness failed, not a server's answer). */
  error?: string;
}

/** Watch buckets are compared after every watch request and every this many steps. */
const WATCH_CHECK_EVERY = 25;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runDifferential(o: DiffOptions): Promise<DiffResult> {
  const run = new Run(o);
  const t0 = Date.now();
  let error: string | undefined;
  try {
    await run.start();
    await run.loop();
  } catch (e) {
    // The harness itself failed (e.g. a server would not start): keep what was found so far.
    error = e instanceof Error ? (e.stack ?? e.message) : String(e);
    run.log(`run aborted at step #${run.done}: ${error}`);
  } finally {
    await run.stop();
  }
  return { seed: o.seed, ops: run.done, labels: run.labels, mismatches: run.mismatches, restarts: run.restarts, durationMs: Date.now() - t0, stats: run.stats, error };
}

/** Stops the servers of runs that threw or were interrupted. */
export const cleanupAll = stopAllSides;

class Run {
  readonly labels: [string, string];
  readonly mismatches: Mismatch[] = [];
  restarts = 0;
  done = 0;
  a!: Side;
  b!: Side;
  readonly gen: Generator;
  readonly against: Impl;
  readonly log: (line: string) => void;
  private readonly watches = new WatchSteps(this);
  readonly stats: Record<string, Record<string, number>> = {};
  private index = 0;
  private dropped = false;

  constructor(private readonly o: DiffOptions) {
    this.gen = new Generator(o.seed);
    this.against = o.against;
    this.log = o.log ?? (() => undefined);
    this.labels = o.against === 'etcd' ? ['etcd', 'etcd#2'] : ['etcd', 'etcd-ts'];
  }

  async start(): Promise<void> {
    const [a, b] = await Promise.all([Side.start(this.labels[0], 'etcd'), Side.start(this.labels[1], this.o.against)]);
    this.a = a;
    this.b = b;
  }

  async stop(): Promise<void> {
    await Promise.all([this.a?.stop(), this.b?.stop()]);
  }

  private stopping(): boolean {
    return this.o.stopAtFirst && this.mismatches.length > 0;
  }

  async loop(): Promise<void> {
    for (this.index = 0; this.index < this.o.ops && !this.stopping(); this.index++) {
      const step = this.gen.next();
      if (this.o.trace) this.log(`#${this.index} ${stepName(step)} ${show(step.kind === 'unary' ? step.req : step)}`);
      if (step.kind === 'unary') await this.unary(step);
      else await this.watches.step(step);
      this.done = this.index + 1;
      if (this.stopping()) break;
      if (await this.someoneExited()) {
        const dead = [this.a, this.b].filter((s) => !s.alive());
        const klass = this.a.alive() ? `${this.b.label} exited` : `${this.a.label} exited (no answer to compare: the generator must not send this)`;
        this.report({ what: 'process', klass, request: step, a: this.a.alive() ? 'running' : 'exited', b: this.b.alive() ? 'running' : 'exited', diffs: [], note: dead.map((s) => `${s.label} stderr: ${s.server.stderr().slice(-2000)}`).join('\n') });
        await this.restart('a server exited');
        continue;
      }
      if (step.kind !== 'unary' || this.index % WATCH_CHECK_EVERY === 0) await this.watches.compareAll(false);
    }
    if (!this.stopping()) {
      await this.watches.settle(FINAL);
      await this.watches.compareAll(true);
    }
  }

  /** Has a server exited? After a dropped connection, waits a little for the exit to be seen. */
  private async someoneExited(): Promise<boolean> {
    if (this.dropped) await sleep(300);
    this.dropped = false;
    return !this.a.alive() || !this.b.alive();
  }

  count(kind: string, outcome: string): void {
    const k = (this.stats[kind] ??= {});
    k[outcome] = (k[outcome] ?? 0) + 1;
  }

  report(m: Omit<Mismatch, 'seed' | 'step'>): void {
    const full: Mismatch = { seed: this.o.seed, step: this.index, ...m };
    this.mismatches.push(full);
    this.log(formatMismatch(full, this.labels));
  }

  private async unary(step: UnaryStep): Promise<void> {
    if (sizeAtTheLimit(step.method, [this.a.resolve(step), this.b.resolve(step)])) {
      this.count(stepName(step), 'not sent: within 2 bytes of etcd\'s request size limit');
      return;
    }
    const [ra, rb] = await Promise.all([this.a.call(step), this.b.call(step)]);
    this.dropped = [ra, rb].some((x) => !x.ok && x.code === grpc.status.UNAVAILABLE);
    if (this.o.trace) this.log(`  ${this.labels[0]}: ${ra.ok ? `ok, revision ${String(ra.msg.header?.revision)}` : `${codeName(ra.code)} ${ra.details}`}`);
    // A crash is reported as such (by the loop), not as an answer that differs.
    if (this.dropped && (await this.someoneExited())) return;
    this.count(stepName(step), ra.ok ? (step.method === 'Txn' ? `ok succeeded=${String(ra.msg.succeeded)}` : 'ok') : `${codeName(ra.code)} ${ra.details.replace(/\(\d+ vs/, '(N vs')}`);
    this.gen.observe(step, ra);
    const na = normaliseAnswer(step.method, sizeRelative(ra, sentBytes(step.method, this.a.resolve(step))), this.a.leaseNames);
    const nb = normaliseAnswer(step.method, sizeRelative(rb, sentBytes(step.method, this.b.resolve(step))), this.b.leaseNames);
    const diffs = differences(na, nb);
    if (diffs.length === 0) return;
    this.report({ what: stepName(step), klass: classify(stepName(step), na, nb, diffs), request: step.req, a: na, b: nb, diffs });
    if (MUTATING.has(step.method) && !(await this.sameState())) await this.restart(`the stores diverged after step #${this.index}`);
  }

  /** Do both stores hold the same keys (values, revisions, versions, leases), leases and compaction? */
  private async sameState(): Promise<boolean> {
    const all: UnaryStep = { kind: 'unary', service: 'KV', method: 'Range', req: { key: latin1('\x00'), range_end: latin1('\x00') } };
    const leases: UnaryStep = { kind: 'unary', service: 'Lease', method: 'LeaseLeases', req: {} };
    for (const s of [all, leases]) {
      const [ra, rb] = await Promise.all([this.a.call(s), this.b.call(s)]);
      const [na, nb] = [normaliseAnswer(s.method, ra, this.a.leaseNames), normaliseAnswer(s.method, rb, this.b.leaseNames)];
      // Which leases exist, not the order they are listed in (another mismatch, if it differs).
      for (const n of [na, nb] as Msg[]) if (Array.isArray(n.leases)) n.leases = n.leases.map((l: Msg) => String(l.ID)).sort();
      if (differences(na, nb).length > 0) return false;
    }
    return this.a.compacted === this.b.compacted;
  }

  private async restart(why: string): Promise<void> {
    this.log(`restarting both servers on fresh data dirs: ${why}`);
    this.restarts++;
    await this.stop();
    await this.start();
    this.gen.reset();
    this.watches.reset();
  }
}

function classify(name: string, na: unknown, nb: unknown, diffs: Difference[]): string {
  const err = (x: unknown): string | undefined => {
    const e = (x as Msg).error as Msg | undefined;
    // Sizes and revisions vary between instances of one class.
    return e === undefined ? undefined : `${e.code} ${String(e.message).replace(/\d+/g, 'N')}`;
  };
  const [ea, eb] = [err(na), err(nb)];
  if (ea !== undefined || eb !== undefined) return `${name}: ${ea ?? 'ok'} | ${eb ?? 'ok'}`;
  return `${name}: ${[...new Set(diffs.map((d) => fieldOf(d.path)))].slice(0, 3).join(' ')}`;
}
