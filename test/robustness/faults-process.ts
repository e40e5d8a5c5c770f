// Process faults: SIGKILL, SIGSTOP, SIGTERM of a quorum or of every member, rolling restarts (also
// with one member partitioned throughout: two faults at once), and a follower kept down while
// the others write several log retentions' worth of entries, so that it can only catch up from a
// snapshot. A member is restarted with its data dir; lifted() marks when the last one is back.
import type { Member } from './cluster-control';
import { describeTargets, seconds, type FaultContext, type FaultFn } from './fault-context';
import { now } from './recorder';

type ProcessKind = 'kill' | 'stop' | 'sigterm-quorum' | 'sigterm-all' | 'rolling-restart' | 'partition-rolling-restart' | 'snapshot-catch-up';

/** etcd-ts keeps this many entries of log after compacting it (etcd-server.ts logRetainEntries). */
const LOG_RETENTION_MAX = 10_000;
/** How long the snapshot fault may write before it gives up on the entry count. */
const FILL_TIMEOUT_MS = 90_000;

/** SIGTERM (graceful) or SIGKILL, as the PRNG says; returns the step's description. */
async function restartOne(ctx: FaultContext, m: Member): Promise<string> {
  let how: string;
  if (ctx.prng.chance(0.5)) {
    const graceful = await ctx.cluster.terminate(m);
    how = `${m.name} SIGTERM${graceful ? '' : ' (needed SIGKILL)'}`;
    if (!graceful) ctx.rec.anomaly(`${m.name} did not exit within 5 s of SIGTERM`);
  } else {
    await ctx.cluster.kill(m);
    how = `${m.name} SIGKILL`;
  }
  await ctx.cluster.startMember(m);
  ctx.lifted();
  return how;
}

/** SIGTERM every member of `ms` at once, hold, start them all again. */
async function terminateSome(ctx: FaultContext, ms: Member[]): Promise<string> {
  const graceful = await Promise.all(ms.map((m) => ctx.cluster.terminate(m)));
  const slow = ms.filter((_, i) => !graceful[i]);
  for (const m of slow) ctx.rec.anomaly(`${m.name} did not exit within 5 s of SIGTERM`);
  const held = await ctx.hold(1000, 3000);
  await Promise.all(ms.map((m) => ctx.cluster.startMember(m)));
  ctx.lifted();
  return `down ${seconds(held)}${slow.length > 0 ? `; needed SIGKILL: ${slow.map((m) => m.name).join(',')}` : ''}`;
}

/** The raft index of the member (Maintenance.Status raftIndex), 0 when it does not answer. */
async function raftIndex(ctx: FaultContext, m: Member): Promise<number> {
  const st = await ctx.cluster.status(m, 3000);
  return Number(st?.raftIndex ?? 0);
}

export const PROCESS_FAULTS: Record<ProcessKind, FaultFn> = {
  async kill(ctx, kind) {
    const { m, role } = await ctx.target();
    const f = ctx.begin(kind, m.name, `SIGKILL the ${role}, restart with its data`);
    await ctx.cluster.kill(m);
    const held = await ctx.hold(500, 4000);
    await ctx.cluster.startMember(m);
    ctx.lifted();
    f.detail = `${f.detail} after ${seconds(held)}`;
    return f;
  },
  async stop(ctx, kind) {
    const { m, role } = await ctx.target();
    const f = ctx.begin(kind, m.name, `SIGSTOP the ${role}, then SIGCONT`);
    ctx.cluster.stop(m);
    const held = await ctx.hold(1500, 5000);
    ctx.cluster.cont(m);
    ctx.lifted();
    f.detail = `${f.detail} after ${seconds(held)}`;
    return f;
  },
  async 'sigterm-quorum'(ctx, kind) {
    const q = await ctx.quorum();
    const f = ctx.begin(kind, q.map((t) => t.m.name).join(','), `SIGTERM a quorum at once: ${describeTargets(q)}; restart them`);
    f.detail = `${f.detail}: ${await terminateSome(ctx, q.map((t) => t.m))}`;
    return f;
  },
  async 'sigterm-all'(ctx, kind) {
    const leader = await ctx.cluster.leader();
    const all = [...ctx.cluster.members];
    const f = ctx.begin(kind, all.map((m) => m.name).join(','), `SIGTERM every member at once (leader ${leader?.name ?? 'unknown'}); restart them`);
    f.detail = `${f.detail}: ${await terminateSome(ctx, all)}`;
    return f;
  },
  async 'rolling-restart'(ctx, kind) {
    const order = ctx.prng.shuffle(ctx.cluster.members);
    const f = ctx.begin(kind, order.map((m) => m.name).join(','), 'restart every member, one after another, each healthy before the next');
    const steps: string[] = [];
    for (const m of order) {
      const how = await restartOne(ctx, m);
      steps.push(`${how} (live after ${Math.round(await ctx.stepHealthy())} ms)`);
    }
    f.detail = `${f.detail}: ${steps.join(', ')}`;
    return f;
  },
  async 'partition-rolling-restart'(ctx, kind) {
    const { m: cut, role } = await ctx.target();
    const order = ctx.prng.shuffle(ctx.cluster.members);
    const f = ctx.begin(kind, `${cut.name} + ${order.map((m) => m.name).join(',')}`, `isolate the ${role} ${cut.name}, meanwhile restart every member one after another`);
    ctx.cluster.isolate(cut);
    const rest = ctx.cluster.members.filter((m) => m !== cut);
    const steps: string[] = [];
    for (const m of order) {
      const how = await restartOne(ctx, m);
      // Without the isolated member, the other two must get their quorum back after each restart.
      steps.push(`${how} (${rest.map((x) => x.name).join(',')} live after ${Math.round(await ctx.stepHealthy(rest))} ms)`);
    }
    ctx.cluster.heal();
    ctx.lifted();
    f.detail = `${f.detail}: ${steps.join(', ')}; partition healed`;
    return f;
  },
  async 'snapshot-catch-up'(ctx, kind) {
    const { m, role } = await ctx.follower();
    const retention = Math.min(ctx.snapshotCount, LOG_RETENTION_MAX);
    const entries = 4 * retention + 100;
    const f = ctx.begin(kind, m.name, `SIGKILL the ${role}, write ${entries} entries (4x the log retention of ${retention}), restart it`);
    const others = ctx.cluster.members.filter((x) => x !== m);
    await ctx.cluster.kill(m);
    const before = Math.max(0, ...(await Promise.all(others.map((x) => raftIndex(ctx, x)))));
    const t0 = now();
    const written = await ctx.filler.fill(entries, FILL_TIMEOUT_MS, now);
    const after = Math.max(0, ...(await Promise.all(others.map((x) => raftIndex(ctx, x)))));
    // The leader compacts its log once it holds 1.5x the retention: past that, the restarted
    // member's next entry is gone and only a snapshot can bring it up to date.
    const needsSnapshot = after - before > 1.5 * retention;
    await ctx.cluster.startMember(m);
    ctx.lifted();
    f.detail = `${f.detail}: ${written} puts in ${seconds(now() - t0)}, raft index ${before} -> ${after}${needsSnapshot ? ' (past the retention: needs a snapshot)' : ' (NOT past the retention)'}`;
    if (!needsSnapshot) ctx.rec.note(`snapshot-catch-up: only ${after - before} entries written while ${m.name} was down (retention ${retention}); it may have caught up from the log`);
    // Its catch-up is checked by the liveness bound (a linearizable read on it needs its log
    // applied up to the leader's commit) and by the HashKV comparison after the fault.
    return f;
  },
};
