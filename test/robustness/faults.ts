// The faults of a run, one at a time, each followed by recovery (every member running, links
// healed, a leader all agree on, linearizable reads served everywhere) before the next.
import type { FuzzResult } from './fuzz';
import type { Fault } from './history';
import type { ClusterControl, Member } from './cluster-control';
import { sleep, type Prng } from './prng';
import { now, type Recorder } from './recorder';
import { errorText, once } from './rpc';

export type FaultKind = Fault['kind'];
export const FAULT_KINDS: readonly FaultKind[] = ['kill', 'stop', 'partition', 'blackhole', 'transfer-leader', 'rolling-restart', 'replace-member', 'fuzz'];

export type RunFuzz = (endpoints: string[], seed: number, durationMs: number) => Promise<FuzzResult>;

/** How long a recovered cluster may take to be healthy before it counts as stuck. */
const RECOVERY_MS = 30_000;

export class FaultInjector {
  /** Set when the cluster did not recover: the run stops injecting and reports it. */
  stuck: string | undefined;
  /** Faults carried out (to the end of their injection) by kind. */
  readonly done: Record<string, number> = {};

  constructor(
    private readonly cluster: ClusterControl,
    private readonly rec: Recorder,
    private readonly prng: Prng,
    private readonly runFuzz: RunFuzz,
  ) {}

  /**
   * Injects faults until stopped() (checked between faults); with `everyKindFirst`, each kind
   * once in random order first (and until those are done, whatever stopped() says).
   */
  async run(stopped: () => boolean, everyKindFirst: boolean, gapMs: [number, number]): Promise<void> {
    const queue = everyKindFirst ? this.prng.shuffle(FAULT_KINDS) : [];
    while (this.stuck === undefined && (queue.length > 0 || !stopped())) {
      const gap = this.prng.int(gapMs[0], gapMs[1]);
      const t0 = now();
      while (now() - t0 < gap && (queue.length > 0 || !stopped())) await sleep(100);
      if (queue.length === 0 && stopped()) break;
      const kind = queue.shift() ?? this.prng.pick(FAULT_KINDS);
      await this.inject(kind);
    }
  }

  async inject(kind: FaultKind): Promise<void> {
    this.current = undefined;
    try {
      await this.apply(kind);
      this.done[kind] = (this.done[kind] ?? 0) + 1;
    } catch (e) {
      this.rec.anomaly(`fault ${kind} could not be carried out: ${errorText(e)}`);
      const cur = this.current as Fault | undefined;
      if (cur !== undefined) cur.detail = `${cur.detail ?? ''}; FAILED: ${errorText(e)}`;
    }
    const f = this.current as Fault | undefined;
    try {
      const ms = await this.recover();
      const waited = ms > 3000 ? ` (meanwhile: ${this.cluster.lastUnhealthy.map((u) => `+${u.atMs} ms ${u.text}`).join(' | ').slice(0, 1500)})` : '';
      if (f !== undefined) this.rec.endFault(f, `recovered in ${Math.round(ms)} ms${waited}`);
    } catch (e) {
      if (f !== undefined) this.rec.endFault(f, 'did not recover');
      this.stuck = `after ${kind}${f !== undefined ? ` on ${f.target}` : ''}: ${errorText(e)}`;
      this.rec.anomaly(`cluster stuck ${this.stuck}`);
    }
  }

  private current: Fault | undefined;

  private begin(kind: FaultKind, target: string, detail: string): Fault {
    this.current = this.rec.fault(kind, target, detail);
    return this.current;
  }

  /** Heals everything and waits until the cluster is healthy; returns the ms it took. */
  async recover(timeoutMs = RECOVERY_MS): Promise<number> {
    const t0 = now();
    this.cluster.heal();
    for (const m of this.cluster.members) {
      if (m.stopped) this.cluster.cont(m);
      if (m.current === undefined) await this.cluster.startMember(m);
    }
    await this.cluster.waitHealthy(Math.max(1000, timeoutMs - (now() - t0)));
    return now() - t0;
  }

  private async target(): Promise<{ m: Member; role: string }> {
    const leader = await this.cluster.leader();
    if (leader !== undefined && this.prng.chance(0.5)) return { m: leader, role: 'leader' };
    const followers = this.cluster.members.filter((m) => m !== leader);
    return { m: this.prng.pick(followers), role: leader === undefined ? 'member' : 'follower' };
  }

  private hold(lo: number, hi: number): Promise<void> {
    return sleep(this.prng.int(lo, hi));
  }

  private liveEndpoint(avoid?: Member): string {
    const eps = this.cluster.liveEndpoints().filter((e) => e !== avoid?.endpoint);
    return this.prng.pick(eps.length > 0 ? eps : this.cluster.liveEndpoints());
  }

  private async apply(kind: FaultKind): Promise<Fault> {
    const c = this.cluster;
    switch (kind) {
      case 'kill': {
        const { m, role } = await this.target();
        const f = this.begin(kind, m.name, `SIGKILL the ${role}, restart with its data`);
        await c.kill(m);
        await this.hold(500, 4000);
        await c.startMember(m);
        return f;
      }
      case 'stop': {
        const { m, role } = await this.target();
        const f = this.begin(kind, m.name, `SIGSTOP the ${role}, then SIGCONT`);
        c.stop(m);
        await this.hold(1500, 5000);
        c.cont(m);
        return f;
      }
      case 'partition': {
        const { m, role } = await this.target();
        const f = this.begin(kind, m.name, `isolate the ${role}`);
        c.isolate(m);
        await this.hold(2000, 6000);
        c.heal();
        return f;
      }
      case 'blackhole': {
        const { m, role } = await this.target();
        const dir = this.prng.chance(0.5) ? 'in' : 'out';
        const f = this.begin(kind, m.name, `drop what the ${role} ${dir === 'in' ? 'receives' : 'sends'}`);
        c.blackhole(m, dir);
        await this.hold(2000, 5000);
        c.heal();
        return f;
      }
      case 'transfer-leader': {
        const leader = await this.cluster.leader();
        if (leader === undefined) throw new Error('no leader to transfer from');
        const to = this.prng.pick(c.members.filter((m) => m !== leader));
        const f = this.begin(kind, to.name, `MoveLeader ${leader.name} -> ${to.name}`);
        try {
          await once('Maintenance', leader.endpoint, 'MoveLeader', { targetID: to.id }, 10_000);
          const t0 = now();
          let now_ = await c.leader();
          while (now_ !== to && now() - t0 < 5000) {
            await sleep(100);
            now_ = await c.leader();
          }
          f.detail = `${f.detail}: answered ok; leader ${now_?.name ?? 'unknown'} ${Math.round(now() - t0)} ms later`;
          if (now_ !== to) this.rec.note(`MoveLeader to ${to.name} answered ok but the leader is ${now_?.name ?? 'unknown'}`);
        } catch (e) {
          f.detail = `${f.detail}: MoveLeader failed: ${errorText(e)}`;
          this.rec.countError(`fault transfer-leader: ${errorText(e).slice(0, 80)}`);
        }
        return f;
      }
      case 'rolling-restart': {
        const order = this.prng.shuffle(c.members);
        const f = this.begin(kind, order.map((m) => m.name).join(','), 'restart every member, one after another');
        const steps: string[] = [];
        for (const m of order) {
          if (this.prng.chance(0.5)) {
            const graceful = await c.terminate(m);
            steps.push(`${m.name} SIGTERM${graceful ? '' : ' (needed SIGKILL)'}`);
            if (!graceful) this.rec.anomaly(`${m.name} did not exit within 5 s of SIGTERM`);
          } else {
            await c.kill(m);
            steps.push(`${m.name} SIGKILL`);
          }
          await c.startMember(m);
          await c.waitHealthy(RECOVERY_MS);
        }
        f.detail = `${f.detail}: ${steps.join(', ')}`;
        return f;
      }
      case 'replace-member': {
        const { m, role } = await this.target();
        const asLearner = this.prng.chance(0.5);
        const f = this.begin(kind, m.name, `remove the ${role}, add a new member${asLearner ? ' (learner, then promoted)' : ''}`);
        const detail = await c.replace(m, asLearner, () => this.liveEndpoint(m));
        f.detail = `${f.detail}: ${detail}`;
        return f;
      }
      case 'fuzz': {
        const eps = c.liveEndpoints();
        const seed = this.prng.int(1, 2 ** 31 - 1);
        const ms = this.prng.int(2000, 5000);
        const f = this.begin(kind, eps.join(','), `runFuzz seed ${seed} for ${ms} ms`);
        const r = await this.runFuzz(eps, seed, ms);
        const errs = Object.entries(r.errors)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 8)
          .map(([k, n]) => `${k}: ${n}`)
          .join(', ');
        f.detail = `${f.detail}: ${r.frames} frames, ${r.streams} streams; ${errs}`;
        // Answers that point at server bugs (internal errors, calls never answered) are kept with
        // their replay handle (fuzz.ts runFuzzAction(endpoint, seed, action)).
        for (const [k, n] of Object.entries(r.details)) {
          if (/^(INTERNAL|UNKNOWN|timeout|no-status)/.test(k)) this.rec.countError(`fuzz ${k.slice(0, 100)} (seed ${seed}, e.g. ${(r.detailSamples[k] ?? []).slice(0, 2).join(' ')})`, n);
        }
        return f;
      }
    }
  }
}
