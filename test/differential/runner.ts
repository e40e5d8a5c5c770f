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
// the two streams with different watchers, so that stream is closed on both sides and reopened.
import * as grpc from '@grpc/grpc-js';
import { Generator } from './generator';
import { differences, fieldOf, type Difference } from './compare';
import { codeName, normaliseAnswer, normaliseWatchResponse, sizeRelative } from './normalise';
import { Side, stopAllSides, type Impl } from './side';
import { MUTATING, stepName, type Msg, type Step, type UnaryStep } from './steps';
import type { SideStream } from './watch-streams';
import { formatMismatch } from './report';
import { latin1 } from './gen-values';
import { show } from './show';
import { sentBytes, sizeAtTheLimit } from './request-size';
import { heldBackWhole, joinFragments } from './fragments';

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

interface Settle {
  minMs?: number;
  quietMs: number;
  maxMs: number;
}

/** After a create from a past revision (see waitCatchUp). */
const CATCH_UP: Settle = { minMs: 20, quietMs: 120, maxMs: 3000 };
const CREATED_WAIT_MS = 10_000;
const PROBE_WAIT_MS = 5000;
const QUIET: Settle = { quietMs: 40, maxMs: 2000 };
const BRIEF: Settle = { quietMs: 20, maxMs: 1000 };
const FINAL: Settle = { minMs: 300, quietMs: 300, maxMs: 5000 };
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
  private a!: Side;
  private b!: Side;
  private readonly gen: Generator;
  readonly log: (line: string) => void;
  /** Per stream: bucket key -> the create request that made it (as the reference numbered it). */
  private creates = new Map<number, Map<string, Msg>>();
  /** `${stream}/${bucket}` -> responses compared so far. */
  private compared = new Map<string, number>();
  readonly stats: Record<string, Record<string, number>> = {};
  private index = 0;
  private dropped = false;

  constructor(private readonly o: DiffOptions) {
    this.gen = new Generator(o.seed);
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
      else await this.watchStep(step);
      this.done = this.index + 1;
      if (this.stopping()) break;
      if (await this.someoneExited()) {
        const dead = [this.a, this.b].filter((s) => !s.alive());
        const klass = this.a.alive() ? `${this.b.label} exited` : `${this.a.label} exited (no answer to compare: the generator must not send this)`;
        this.report({ what: 'process', klass, request: step, a: this.a.alive() ? 'running' : 'exited', b: this.b.alive() ? 'running' : 'exited', diffs: [], note: dead.map((s) => `${s.label} stderr: ${s.server.stderr().slice(-2000)}`).join('\n') });
        await this.restart('a server exited');
        continue;
      }
      if (step.kind !== 'unary' || this.index % WATCH_CHECK_EVERY === 0) await this.compareWatches(false);
    }
    if (!this.stopping()) {
      await this.settle(FINAL);
      await this.compareWatches(true);
    }
  }

  /** Has a server exited? After a dropped connection, waits a little for the exit to be seen. */
  private async someoneExited(): Promise<boolean> {
    if (this.dropped) await sleep(300);
    this.dropped = false;
    return !this.a.alive() || !this.b.alive();
  }

  private count(kind: string, outcome: string): void {
    const k = (this.stats[kind] ??= {});
    k[outcome] = (k[outcome] ?? 0) + 1;
  }

  private report(m: Omit<Mismatch, 'seed' | 'step'>): void {
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
    // A crash is reported as such (by the loop), not as an answer that differs.
    if (this.dropped && (await this.someoneExited())) return;
    this.count(stepName(step), ra.ok ? (step.method === 'Txn' ? `ok succeeded=${String(ra.msg.succeeded)}` : 'ok') : `${codeName(ra.code)} ${ra.details}`);
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
    this.creates = new Map();
    this.compared = new Map();
  }

  // --- watches ---

  private async settle(s: Settle): Promise<void> {
    const t0 = Date.now();
    let last = t0;
    let seen = -1;
    for (;;) {
      const n = this.a.received() + this.b.received();
      const now = Date.now();
      if (n !== seen) {
        seen = n;
        last = now;
      }
      if (now - t0 >= s.maxMs || (now - t0 >= (s.minMs ?? 0) && now - last >= s.quietMs)) break;
      await sleep(5);
    }
    this.a.absorb();
    this.b.absorb();
  }

  private async watchStep(step: Exclude<Step, UnaryStep>): Promise<void> {
    const n = step.stream;
    const [sa, sb] = [this.a.stream(n), this.b.stream(n)];
    switch (step.kind) {
      case 'watch-create': {
        // An idle stream first: etcd sends a created answer and a catch-up that are both ready in
        // whichever order Go's select picks, and a catch-up that goes first is held back and sent
        // unfragmented (while the stream is busy with big events, that is a coin flip).
        await this.settle(QUIET);
        const before = [sa.client.responses.length, sb.client.responses.length];
        sa.create(step.req);
        sb.create(step.req);
        const t0 = Date.now();
        while ((lastCreated(sa, before[0]) === undefined || lastCreated(sb, before[1]) === undefined) && Date.now() - t0 < CREATED_WAIT_MS && !(sa.client.ended || sb.client.ended)) await sleep(5);
        const start = Number(step.req.start_revision ?? 0);
        if (start !== 0 && start <= this.gen.st.revision) await this.waitCatchUp();
        else await this.settle(BRIEF);
        // The created answers are compared right away, so a mismatch names its request.
        const [ca, cb] = [lastCreated(sa, before[0]), lastCreated(sb, before[1])];
        const [na, nb] = [ca === undefined ? null : normaliseWatchResponse(ca, this.a.leaseNames), cb === undefined ? null : normaliseWatchResponse(cb, this.b.leaseNames)];
        const diffs = differences(na, nb);
        if (diffs.length > 0) {
          const fields = [...new Set(diffs.map((d) => fieldOf(d.path)))].slice(0, 3).join(' ');
          this.report({ what: 'Watch.create', klass: `Watch.create: ${na === null || nb === null ? 'no created answer on one side' : fields}`, request: step.req, a: na ?? '(no created answer)', b: nb ?? '(no created answer)', diffs });
          this.closeStream(n);
          return;
        }
        if (ca !== undefined) {
          const m = this.creates.get(n) ?? new Map<string, Msg>();
          m.set(String(ca.watch_id), step.req);
          this.creates.set(n, m);
        }
        break;
      }
      case 'watch-cancel':
        await this.settle(QUIET);
        sa.client.cancel(step.watchId);
        sb.client.cancel(step.watchId);
        await this.settle(BRIEF);
        break;
      case 'watch-progress':
        await this.settle(QUIET);
        sa.client.progress();
        sb.client.progress();
        await this.settle(BRIEF);
        break;
      case 'watch-close':
        await this.settle(QUIET);
        await this.compareStream(n, true);
        this.closeStream(n);
        break;
    }
    if (this.a.streams.has(n)) this.gen.st.watches.set(n, [...this.a.stream(n).open]);
  }

  /** Waits until both servers have sent the catch-up of every watcher created from a past
   *  revision, so that no later write can race into it (etcd's sync loop runs every 100 ms, later
   *  on a loaded machine). A probe watcher from the current revision on each side's own probe
   *  stream is caught up by the same pass of the sync loop: once its events (or its compaction)
   *  arrived, the others' are out too, bar passes for histories over 1000 revisions (the quiet
   *  wait after). */
  private async waitCatchUp(): Promise<void> {
    const rev = this.gen.st.revision;
    // A fresh store's revision 1 has no event to catch up on: no signal, just wait.
    if (rev > 1) await Promise.all([this.a.syncProbe(rev, PROBE_WAIT_MS), this.b.syncProbe(rev, PROBE_WAIT_MS)]);
    await this.settle(CATCH_UP);
  }

  private closeStream(n: number): void {
    this.a.closeStream(n);
    this.b.closeStream(n);
    this.creates.delete(n);
    for (const k of [...this.compared.keys()]) if (k.startsWith(`${n}/`)) this.compared.delete(k);
    this.gen.st.watches.delete(n);
  }

  private async compareWatches(final: boolean): Promise<void> {
    if (this.a.streams.size + this.b.streams.size === 0) return;
    await this.settle(final ? FINAL : BRIEF);
    for (const n of new Set([...this.a.streams.keys(), ...this.b.streams.keys()])) await this.compareStream(n, final);
  }

  /** Compares what both sides received on stream n, bucket by bucket, as far as both got; `final`:
   *  also that neither got more. On a mismatch the stream is reopened on both sides. */
  private async compareStream(n: number, final: boolean): Promise<void> {
    const ba = this.a.streams.get(n)?.buckets ?? new Map<string, Msg[]>();
    const bb = this.b.streams.get(n)?.buckets ?? new Map<string, Msg[]>();
    for (const key of new Set([...ba.keys(), ...bb.keys()])) {
      let [xa, xb] = [ba.get(key) ?? [], bb.get(key) ?? []];
      let ck = `${n}/${key}`;
      // etcd's held-back catch-up (fragments.ts): allowed of etcd, not of etcd-ts.
      if (this.creates.get(n)?.get(key)?.fragment === true && (xa.some(heldBackWhole) || (this.o.against === 'etcd' && xb.some(heldBackWhole)))) {
        [xa, xb] = [joinFragments(xa), joinFragments(xb)];
        ck += ' joined';
      }
      const upto = Math.min(xa.length, xb.length);
      const extra = final && xa.length !== xb.length;
      for (let i = this.compared.get(ck) ?? 0; i < (extra ? upto + 1 : upto); i++) {
        const [ra, rb] = [xa[i] ?? null, xb[i] ?? null];
        const diffs = differences(ra, rb);
        if (diffs.length === 0) continue;
        const created = this.creates.get(n)?.get(key);
        const request = key === '-1' ? { note: 'answers with watch_id -1 (failed creates, progress)' } : key === 'stream' ? { note: 'the stream itself' } : (created ?? { note: `watch ${key} (create request not known)` });
        const fields = [...new Set(diffs.map((d) => fieldOf(d.path)))].slice(0, 3).join(' ');
        this.report({ what: 'Watch', klass: `Watch: ${ra === null || rb === null ? 'a response only one side sent' : fields}`, request, a: ra ?? '(nothing)', b: rb ?? '(nothing)', diffs, note: `stream ${n}, watch_id ${key}, response #${i} of that watch (earlier ones matched): ${xa.length} vs ${xb.length} responses${ck.endsWith(' joined') ? ' (fragments joined: etcd held a catch-up back and sent it whole)' : ''}` });
        this.closeStream(n);
        return;
      }
      for (const r of xa.slice(this.compared.get(ck) ?? 0, upto)) this.count('Watch responses', watchKind(r));
      this.compared.set(ck, upto);
    }
  }
}

/** The last created answer on a stream that came after response number `from`. */
function lastCreated(s: SideStream, from: number): Msg | undefined {
  const rs = s.client.responses;
  for (let i = rs.length - 1; i >= from; i--) if (rs[i].created === true) return rs[i];
  return undefined;
}

function watchKind(r: Msg): string {
  if (r.created === true) return r.canceled === true ? `created+canceled ${String(r.cancel_reason)}` : 'created';
  if (r.canceled === true) return `canceled${Number(r.compact_revision) > 0 ? ' (compacted)' : ''}`;
  const n = Array.isArray(r.events) ? r.events.length : 0;
  return n === 0 ? 'no events' : n === 1 ? '1 event' : n <= 5 ? '2-5 events' : '>5 events';
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
