// The watch half of a differential run: watch requests sent on both servers' streams, and what
// came back compared bucket by bucket (watch-streams.ts), as far as both sides got, and at the end
// that neither got more. A stream is idle before a create, a catch-up is awaited (waitCatchUp),
// a cancel waits for events in flight; the waits are quiet periods over every stream of both sides.
import type { Generator } from './generator';
import { differences, fieldOf } from './compare';
import { heldBackWhole, joinFragments } from './fragments';
import { normaliseWatchResponse } from './normalise';
import { withoutRacedPrevKvs } from './prev-kv-race';
import type { Mismatch } from './runner';
import type { Impl, Side } from './side';
import type { Msg, Step, UnaryStep } from './steps';
import type { SideStream } from './watch-streams';

export interface Settle {
  minMs?: number;
  quietMs: number;
  maxMs: number;
}

/** After a create from a past revision (see waitCatchUp). */
const CATCH_UP: Settle = { minMs: 20, quietMs: 120, maxMs: 3000 };
const CREATED_WAIT_MS = 10_000;
const PROBE_WAIT_MS = 5000;
const QUIET: Settle = { quietMs: 40, maxMs: 2000 };
export const BRIEF: Settle = { quietMs: 20, maxMs: 1000 };
export const FINAL: Settle = { minMs: 300, quietMs: 300, maxMs: 5000 };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What the watch half needs of the run (its sides change when both servers restart). */
export interface WatchHost {
  readonly a: Side;
  readonly b: Side;
  readonly gen: Generator;
  readonly against: Impl;
  report(m: Omit<Mismatch, 'seed' | 'step'>): void;
  count(kind: string, outcome: string): void;
}

export class WatchSteps {
  /** Per stream: bucket key -> the create request that made it (as the reference numbered it). */
  private creates = new Map<number, Map<string, Msg>>();
  /** `${stream}/${bucket}` -> responses compared so far. */
  private compared = new Map<string, number>();

  constructor(private readonly h: WatchHost) {}

  /** Both servers were restarted: no streams, nothing compared. */
  reset(): void {
    this.creates = new Map();
    this.compared = new Map();
  }

  async settle(s: Settle): Promise<void> {
    const t0 = Date.now();
    let last = t0;
    let seen = -1;
    for (;;) {
      const n = this.h.a.received() + this.h.b.received();
      const now = Date.now();
      if (n !== seen) {
        seen = n;
        last = now;
      }
      if (now - t0 >= s.maxMs || (now - t0 >= (s.minMs ?? 0) && now - last >= s.quietMs)) break;
      await sleep(5);
    }
    this.h.a.absorb();
    this.h.b.absorb();
  }

  async step(step: Exclude<Step, UnaryStep>): Promise<void> {
    const n = step.stream;
    const [sa, sb] = [this.h.a.stream(n), this.h.b.stream(n)];
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
        if (start !== 0 && start <= this.h.gen.st.revision) await this.waitCatchUp();
        else await this.settle(BRIEF);
        // The created answers are compared right away, so a mismatch names its request.
        const [ca, cb] = [lastCreated(sa, before[0]), lastCreated(sb, before[1])];
        const [na, nb] = [ca === undefined ? null : normaliseWatchResponse(ca, this.h.a.leaseNames), cb === undefined ? null : normaliseWatchResponse(cb, this.h.b.leaseNames)];
        const diffs = differences(na, nb);
        if (diffs.length > 0) {
          const fields = [...new Set(diffs.map((d) => fieldOf(d.path)))].slice(0, 3).join(' ');
          this.h.report({ what: 'Watch.create', klass: `Watch.create: ${na === null || nb === null ? 'no created answer on one side' : fields}`, request: step.req, a: na ?? '(no created answer)', b: nb ?? '(no created answer)', diffs });
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
    if (this.h.a.streams.has(n)) this.h.gen.st.watches.set(n, [...this.h.a.stream(n).open]);
  }

  /** Waits until both servers have sent the catch-up of every watcher created from a past
   *  revision, so that no later write can race into it (etcd's sync loop runs every 100 ms, later
   *  on a loaded machine). A probe watcher from the current revision on each side's own probe
   *  stream is caught up by the same pass of the sync loop: once its events (or its compaction)
   *  arrived, the others' are out too, bar passes for histories over 1000 revisions (the quiet
   *  wait after). */
  private async waitCatchUp(): Promise<void> {
    const rev = this.h.gen.st.revision;
    // A fresh store's revision 1 has no event to catch up on: no signal, just wait.
    if (rev > 1) await Promise.all([this.h.a.syncProbe(rev, PROBE_WAIT_MS), this.h.b.syncProbe(rev, PROBE_WAIT_MS)]);
    await this.settle(CATCH_UP);
  }

  private closeStream(n: number): void {
    this.h.a.closeStream(n);
    this.h.b.closeStream(n);
    this.creates.delete(n);
    for (const k of [...this.compared.keys()]) if (k.startsWith(`${n}/`)) this.compared.delete(k);
    this.h.gen.st.watches.delete(n);
  }

  async compareAll(final: boolean): Promise<void> {
    if (this.h.a.streams.size + this.h.b.streams.size === 0) return;
    await this.settle(final ? FINAL : BRIEF);
    for (const n of new Set([...this.h.a.streams.keys(), ...this.h.b.streams.keys()])) await this.compareStream(n, final);
  }

  /** Compares what both sides received on stream n, bucket by bucket, as far as both got; `final`:
   *  also that neither got more. On a mismatch the stream is reopened on both sides. */
  private async compareStream(n: number, final: boolean): Promise<void> {
    const ba = this.h.a.streams.get(n)?.buckets ?? new Map<string, Msg[]>();
    const bb = this.h.b.streams.get(n)?.buckets ?? new Map<string, Msg[]>();
    for (const key of new Set([...ba.keys(), ...bb.keys()])) {
      let [xa, xb] = [ba.get(key) ?? [], bb.get(key) ?? []];
      let ck = `${n}/${key}`;
      // etcd's held-back catch-up (fragments.ts): allowed of etcd, not of etcd-ts.
      if (this.creates.get(n)?.get(key)?.fragment === true && (xa.some(heldBackWhole) || (this.h.against === 'etcd' && xb.some(heldBackWhole)))) {
        [xa, xb] = [joinFragments(xa), joinFragments(xb)];
        ck += ' joined';
      }
      const upto = Math.min(xa.length, xb.length);
      const extra = final && xa.length !== xb.length;
      for (let i = this.compared.get(ck) ?? 0; i < (extra ? upto + 1 : upto); i++) {
        const [ra, rb] = withoutRacedPrevKvs(xa[i] ?? null, xb[i] ?? null, this.h.gen.st.compacted, this.h.against === 'etcd');
        const diffs = differences(ra, rb);
        if (diffs.length === 0) continue;
        const created = this.creates.get(n)?.get(key);
        const request = key === '-1' ? { note: 'answers with watch_id -1 (failed creates, progress)' } : key === 'stream' ? { note: 'the stream itself' } : (created ?? { note: `watch ${key} (create request not known)` });
        const fields = [...new Set(diffs.map((d) => fieldOf(d.path)))].slice(0, 3).join(' ');
        this.h.report({ what: 'Watch', klass: `Watch: ${ra === null || rb === null ? 'a response only one side sent' : fields}`, request, a: ra ?? '(nothing)', b: rb ?? '(nothing)', diffs, note: `stream ${n}, watch_id ${key}, response #${i} of that watch (earlier ones matched): ${xa.length} vs ${xb.length} responses${ck.endsWith(' joined') ? ' (fragments joined: etcd held a catch-up back and sent it whole)' : ''}` });
        this.closeStream(n);
        return;
      }
      for (const r of xa.slice(this.compared.get(ck) ?? 0, upto)) this.h.count('Watch responses', watchKind(r));
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
