// The faults of a run, one at a time (fault-kinds.ts lists them; faults-*.ts make them). After
// each: recovery (links healed, every member running), then the liveness check — every member
// must agree on a leader and serve a linearizable read within the bound (2 election timeouts +
// 5 s) of the moment the fault was lifted; slower is a liveness failure, recorded, and the run
// waits on up to RECOVERY_MS before it calls the cluster stuck — then the after-fault checks
// (HashKV equal everywhere, over leases' keys gone).
import type { AfterFaultChecks } from './after-fault-checks';
import type { ClusterControl, Member } from './cluster-control';
import type { FaultContext, FaultFn, RunFuzz, Target } from './fault-context';
import { FAULT_KINDS, type FaultChoice, type FaultKind } from './fault-kinds';
import { CLUSTER_API_FAULTS } from './faults-cluster-api';
import { NETWORK_FAULTS } from './faults-network';
import { PROCESS_FAULTS } from './faults-process';
import type { Filler } from './filler';
import type { Fault } from './history';
import { sleep, type Prng } from './prng';
import { now, type Recorder } from './recorder';
import type { RecoveryStats } from './recovery-stats';
import { errorText } from './rpc';

export { FAULT_KINDS, type FaultKind };
export type { RunFuzz };

/** How long a recovered cluster may take to be healthy before it counts as stuck. */
const RECOVERY_MS = 30_000;

const APPLY: Record<FaultKind, FaultFn> = { ...NETWORK_FAULTS, ...PROCESS_FAULTS, ...CLUSTER_API_FAULTS };

export interface InjectorOptions {
  cluster: ClusterControl;
  rec: Recorder;
  prng: Prng;
  runFuzz: RunFuzz;
  filler: Filler;
  recovery: RecoveryStats;
  checks: AfterFaultChecks;
  snapshotCount: number;
  /** Multiplies every hold time (a short CI run holds faults for less). */
  holdScale: number;
}

export class FaultInjector {
  /** Set when the cluster did not recover: the run stops injecting and reports it. */
  stuck: string | undefined;
  /** Faults carried out (to the end of their injection) by kind. */
  readonly done: Record<string, number> = {};
  /** Faults injected (carried out or not). */
  rounds = 0;
  private current: Fault | undefined;
  private liftedMs: number | undefined;
  private readonly ctx: FaultContext;

  constructor(private readonly o: InjectorOptions) {
    this.ctx = this.context();
  }

  /**
   * Injects faults until stopped() (checked between faults) or `rounds` faults; each picked from
   * `choices` (a kind, or a group: one of its kinds). With `everyKindFirst`, every kind the
   * choices hold once first, in random order (and until those are done, whatever stopped() says).
   */
  async run(stopped: () => boolean, o: { everyKindFirst: boolean; gapMs: [number, number]; choices: readonly FaultChoice[]; rounds?: number }): Promise<void> {
    const queue = o.everyKindFirst ? this.o.prng.shuffle([...new Set(o.choices.flat())]) : [];
    const more = (): boolean => this.stuck === undefined && (o.rounds === undefined || this.rounds < o.rounds) && (queue.length > 0 || !stopped());
    while (more()) {
      const gap = this.o.prng.int(o.gapMs[0], o.gapMs[1]);
      const t0 = now();
      while (now() - t0 < gap && more()) await sleep(100);
      if (!more()) break;
      const kind = queue.shift() ?? this.o.prng.pick(this.o.prng.pick(o.choices));
      await this.inject(kind);
    }
  }

  async inject(kind: FaultKind): Promise<void> {
    this.current = undefined;
    this.liftedMs = undefined;
    this.rounds++;
    let failed = false;
    // The leader's term just before the fault: a leader change during it (a new leader starts
    // every lease afresh) is then seen as one, also for the first fault of a run.
    try {
      await this.o.checks.observeTerm();
    } catch {
      // A member that does not answer is no term seen; the check after the fault sees again.
    }
    try {
      await APPLY[kind](this.ctx, kind);
      this.done[kind] = (this.done[kind] ?? 0) + 1;
    } catch (e) {
      failed = true;
      this.o.rec.anomaly(`fault ${kind} could not be carried out: ${errorText(e)}`);
      const cur = this.current as Fault | undefined;
      if (cur !== undefined) cur.detail = `${cur.detail ?? ''}; FAILED: ${errorText(e)}`;
    }
    const f = this.current as Fault | undefined;
    const label = `${kind}${f !== undefined ? ` on ${f.target}` : ''}`;
    try {
      const ms = await this.recover(RECOVERY_MS, failed);
      this.sample(kind, ms, label);
      const waited = ms > 3000 ? ` (meanwhile: ${this.o.cluster.lastUnhealthy.map((u) => `+${u.atMs} ms ${u.text}`).join(' | ').slice(0, 1500)})` : '';
      if (f !== undefined) {
        f.liftedMs = this.liftedMs;
        f.recoveryMs = Math.round(ms);
        this.o.rec.endFault(f, `live ${Math.round(ms)} ms after the fault was lifted${waited}`);
        this.o.checks.clock.faultWindow(f.startMs, now());
      }
    } catch (e) {
      if (f !== undefined) this.o.rec.endFault(f, 'did not recover');
      this.o.recovery.record(kind, Infinity);
      this.stuck = `after ${label}: ${errorText(e)}`;
      this.o.rec.anomaly(`cluster stuck ${this.stuck}`);
      this.o.rec.livenessFailure(`${label}: not live ${RECOVERY_MS} ms after the fault was lifted: ${errorText(e)}`);
      return;
    }
    try {
      const checked = await this.o.checks.run(label);
      this.o.rec.note(`after ${label}: ${checked}`);
    } catch (e) {
      this.o.rec.anomaly(`after-fault checks after ${label} threw: ${errorText(e)}`);
    }
  }

  /** A liveness sample of `kind`; over the bound it is a liveness failure (the run fails). */
  private sample(kind: FaultKind, ms: number, label: string): void {
    if (this.o.recovery.record(kind, ms)) return;
    const meanwhile = this.o.cluster.lastUnhealthy.map((u) => `+${u.atMs} ms ${u.text}`).join(' | ').slice(0, 1500);
    this.o.rec.livenessFailure(`${label}: live only ${Math.round(ms)} ms after the fault was lifted (bound ${this.o.recovery.boundMs} ms); meanwhile: ${meanwhile}`);
  }

  /**
   * Heals everything and waits until the cluster is healthy; returns the ms from the moment the
   * fault was lifted (by the fault, or here when something was still down or the fault failed).
   */
  async recover(timeoutMs = RECOVERY_MS, lifting = false): Promise<number> {
    const c = this.o.cluster;
    const t0 = now();
    c.heal();
    let acted = lifting;
    for (const m of c.members) {
      if (m.stopped) {
        c.cont(m);
        acted = true;
      }
      if (m.current === undefined) {
        await c.startMember(m);
        acted = true;
      }
    }
    if (acted || this.liftedMs === undefined) this.liftedMs = now();
    const lifted = this.liftedMs;
    await c.waitHealthy(Math.max(1000, timeoutMs - (now() - t0)));
    return now() - lifted;
  }

  private context(): FaultContext {
    const o = this.o;
    const c = o.cluster;
    const roleOf = (m: Member, leader: Member | undefined): string => (leader === undefined ? 'member' : m === leader ? 'leader' : 'follower');
    return {
      cluster: c,
      rec: o.rec,
      prng: o.prng,
      filler: o.filler,
      runFuzz: o.runFuzz,
      snapshotCount: o.snapshotCount,
      begin: (kind, target, detail) => (this.current = o.rec.fault(kind, target, detail)),
      lifted: () => {
        this.liftedMs = now();
      },
      target: async (): Promise<Target> => {
        const leader = await c.leader();
        if (leader !== undefined && o.prng.chance(0.5)) return { m: leader, role: 'leader' };
        const m = o.prng.pick(c.members.filter((x) => x !== leader));
        return { m, role: roleOf(m, leader) };
      },
      follower: async (): Promise<Target> => {
        const leader = await c.leader();
        const m = o.prng.pick(c.members.filter((x) => x !== leader));
        return { m, role: roleOf(m, leader) };
      },
      leader: async (): Promise<Target> => {
        const leader = await c.leader();
        const m = leader ?? o.prng.pick(c.members);
        return { m, role: roleOf(m, leader) };
      },
      quorum: async (): Promise<Target[]> => {
        const leader = await c.leader();
        const size = Math.floor(c.members.length / 2) + 1;
        return o.prng
          .shuffle(c.members)
          .slice(0, size)
          .map((m) => ({ m, role: roleOf(m, leader) }));
      },
      hold: async (lo, hi) => {
        const ms = Math.round(o.prng.int(lo, hi) * o.holdScale);
        await sleep(ms);
        return ms;
      },
      liveEndpoint: (avoid) => {
        const eps = c.liveEndpoints().filter((e) => e !== avoid?.endpoint);
        return o.prng.pick(eps.length > 0 ? eps : c.liveEndpoints());
      },
      stepHealthy: async (only) => {
        const lifted = this.liftedMs ?? now();
        await c.waitHealthy(RECOVERY_MS, only);
        const ms = now() - lifted;
        const kind = this.current?.kind;
        if (kind !== undefined) this.sample(kind, ms, `${kind} on ${this.current?.target ?? '?'} (a step)`);
        return ms;
      },
    };
  }
}
