// The seeded request sequence of a differential run: KV requests (gen-kv.ts), compactions, lease
// requests and watch stream requests, with what the reference server answered fed back (observe)
// so revisions, leases and watch IDs stay near what exists. Leases are granted with long TTLs so
// none expires during a run (expiry would race with the requests); a short-TTL grant (raised to
// etcd's minimum TTL) is always revoked by the very next request.
import { Prng } from '../robustness/prng';
import { KvGen, withRangeEnd } from './gen-kv';
import { AutoLease, type Msg, type Step } from './steps';
import type { Answer } from './normalise';
import { EXPLICIT_LEASE_IDS, freshState, halfWatchLimit, Values, type GenState } from './gen-values';

/** Watch stream numbers (one stream per number per side). */
export const WATCH_STREAMS = 2;
const MAX_WATCHES_PER_STREAM = 6;

type Maker = () => Step;

export class Generator {
  st: GenState = freshState();
  private readonly r: Prng;
  private v: Values;
  private kv: KvGen;
  private readonly queue: Step[] = [];

  constructor(seed: number) {
    this.r = new Prng(seed);
    this.v = new Values(this.r, this.st);
    this.kv = new KvGen(this.v);
  }

  /** Both servers were restarted on empty data dirs: nothing granted, nothing watched. */
  reset(): void {
    this.st = freshState();
    this.v = new Values(this.r, this.st);
    this.kv = new KvGen(this.v);
    this.queue.length = 0;
  }

  next(): Step {
    const queued = this.queue.shift();
    if (queued !== undefined) return queued;
    const kv = (method: string, f: () => Msg): Maker => () => ({ kind: 'unary', service: 'KV', method, req: f() });
    const makers: [Maker, number][] = [
      [kv('Put', () => this.kv.put()), 22],
      [kv('Range', () => this.kv.range()), 18],
      [kv('DeleteRange', () => this.kv.deleteRange()), 6],
      [kv('Txn', () => this.kv.txn()), 20],
      [() => this.compact(), 2],
      [() => this.grant(), 4],
      [() => this.leaseStep('LeaseRevoke', { ID: this.leaseId() }), 2],
      [() => this.leaseStep('LeaseTimeToLive', { ID: this.leaseId(), keys: this.r.chance(0.5) }), 3],
      [() => this.leaseStep('LeaseLeases', {}), 1],
      [() => this.watchCreate(), 4],
      [() => this.watchCancel(), 2],
      [() => ({ kind: 'watch-progress', stream: this.r.int(0, WATCH_STREAMS - 1) }), 0.7],
      [() => ({ kind: 'watch-close', stream: this.r.int(0, WATCH_STREAMS - 1) }), 0.4],
      [() => this.bigReplay(), 0.3],
    ];
    return this.r.weighted(makers)();
  }

  /** Feeds back the reference server's answer to a unary step. */
  observe(step: Step, a: Answer): void {
    if (step.kind !== 'unary' || !a.ok) return;
    const rev = Number(a.msg.header?.revision ?? 0);
    if (rev > 0) this.st.revision = rev;
    const req = step.req;
    if (step.method === 'Compact') this.st.compacted = Math.max(this.st.compacted, Number(req.revision));
    if (step.method === 'LeaseGrant') {
      if (step.grantSlot !== undefined) this.st.liveAuto.add(step.grantSlot);
      else this.st.liveExplicit.add(String(req.ID));
    }
    if (step.method === 'LeaseRevoke') {
      if (req.ID instanceof AutoLease) this.st.liveAuto.delete(req.ID.slot);
      else this.st.liveExplicit.delete(String(req.ID));
    }
  }

  private leaseStep(method: string, req: Msg): Step {
    return { kind: 'unary', service: 'Lease', method, req };
  }

  private compact(): Step {
    const { r, st } = this;
    const revision = r.weighted<number | string>([
      [Math.max(1, st.revision - r.int(1, 10)), 50],
      [st.revision, 10],
      [0, 10],
      [st.compacted, 8],
      [st.revision + r.int(1, 5), 8],
      [-1, 4],
      [1, 6],
      ['9223372036854775807', 2],
    ]);
    return { kind: 'unary', service: 'KV', method: 'Compact', req: { revision, physical: r.chance(0.5) } };
  }

  private leaseId(): number | string | AutoLease {
    const l = this.v.lease();
    return l === 0 && this.r.chance(0.8) ? this.r.pick(EXPLICIT_LEASE_IDS) : l;
  }

  private grant(): Step {
    const { r } = this;
    const auto = r.chance(0.6);
    const ID = auto ? 0 : r.pick(EXPLICIT_LEASE_IDS);
    const TTL = r.weighted<number | string>([
      [r.int(600, 3600), 85],
      [r.pick([0, 1, 2, 3, -1, -100]), 8],
      ['9000000001', 3],
      ['9000000000', 2],
    ]);
    const step: Step = { kind: 'unary', service: 'Lease', method: 'LeaseGrant', req: { ID, TTL } };
    if (auto) step.grantSlot = this.st.autoSlots++;
    // Revoked before etcd's minimum TTL (1.5 s, rounded up) could run out.
    if (Number(TTL) < 10) this.queue.push({ kind: 'unary', service: 'Lease', method: 'LeaseRevoke', req: { ID: auto ? new AutoLease(step.grantSlot ?? 0) : ID } });
    return step;
  }

  private watchCreate(): Step {
    const { r, v } = this;
    const stream = r.int(0, WATCH_STREAMS - 1);
    if ((this.st.watches.get(stream) ?? []).length >= MAX_WATCHES_PER_STREAM) return this.watchCancel(stream);
    const key = v.key();
    // (WatchClient sends an empty range_end for an undefined one: etcd's watch takes both as none.)
    const req: Msg = { ...withRangeEnd({ key }, v.rangeEnd(key)), start_revision: r.chance(0.4) ? 0 : v.revision(), progress_notify: false };
    if (r.chance(0.25)) req.filters = r.pick([[0], [1], [0, 1], [2], [-1, 0]]);
    if (r.chance(0.4)) req.prev_kv = true;
    if (r.chance(0.15)) req.fragment = true;
    if (r.chance(0.1)) req.watch_id = r.pick([1, 2, 3, 7, -5]);
    return { kind: 'watch-create', stream, req };
  }

  /** A few puts of about 1 MiB (see halfWatchLimit), then a watch from the first of them: a replay of several big
   *  events (how etcd groups them into responses, with fragment on or off, is compared too). */
  private bigReplay(): Step {
    const { r, v } = this;
    const start = this.st.revision + 1;
    for (let i = r.int(2, 3); i > 0; i--) this.queue.push({ kind: 'unary', service: 'KV', method: 'Put', req: { key: v.key(), value: Buffer.alloc(halfWatchLimit(r) - r.int(0, 64), 'b'), prev_kv: r.chance(0.3) } });
    const stream = r.int(0, WATCH_STREAMS - 1);
    const req: Msg = { key: Buffer.from([0]), range_end: Buffer.from([0]), start_revision: start, progress_notify: false, prev_kv: r.chance(0.5), fragment: r.chance(0.5) };
    this.queue.push((this.st.watches.get(stream) ?? []).length >= MAX_WATCHES_PER_STREAM ? this.watchCancel(stream) : { kind: 'watch-create', stream, req });
    return this.queue.shift() as Step;
  }

  private watchCancel(stream = this.r.int(0, WATCH_STREAMS - 1)): Step {
    const open = this.st.watches.get(stream) ?? [];
    const watchId = open.length > 0 && this.r.chance(0.85) ? this.r.pick(open) : this.r.pick([0, 1, 5, 99, -1]);
    return { kind: 'watch-cancel', stream, watchId };
  }
}
