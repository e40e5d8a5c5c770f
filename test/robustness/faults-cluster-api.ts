// Faults made through the members' own client API, as an operator (or a bad client) would:
// leader transfer (Maintenance.MoveLeader), member replacement and re-adding a member with its
// data wiped (member-changes.ts), and bad-input fuzzing of every endpoint (fuzz.ts).
import { seconds, type FaultFn } from './fault-context';
import { readdMember, replaceMember } from './member-changes';
import { sleep } from './prng';
import { now } from './recorder';
import { errorText } from './rpc';

type ClusterApiKind = 'transfer-leader' | 'replace-member' | 'readd-member' | 'fuzz';

export const CLUSTER_API_FAULTS: Record<ClusterApiKind, FaultFn> = {
  async 'transfer-leader'(ctx, kind) {
    const c = ctx.cluster;
    const leader = await c.leader();
    if (leader === undefined) throw new Error('no leader to transfer from');
    const to = ctx.prng.pick(c.members.filter((m) => m !== leader));
    const f = ctx.begin(kind, to.name, `MoveLeader ${leader.name} -> ${to.name}`);
    try {
      await c.access.once('Maintenance', leader.endpoint, 'MoveLeader', { targetID: to.id }, 10_000);
      ctx.lifted();
      const t0 = now();
      let seen = await c.leader();
      while (seen !== to && now() - t0 < 5000) {
        await sleep(100);
        seen = await c.leader();
      }
      f.detail = `${f.detail}: answered ok; leader ${seen?.name ?? 'unknown'} ${Math.round(now() - t0)} ms later`;
      if (seen !== to) ctx.rec.note(`MoveLeader to ${to.name} answered ok but the leader is ${seen?.name ?? 'unknown'}`);
    } catch (e) {
      ctx.lifted();
      f.detail = `${f.detail}: MoveLeader failed: ${errorText(e)}`;
      ctx.rec.countError(`fault transfer-leader: ${errorText(e).slice(0, 80)}`);
    }
    return f;
  },
  async 'replace-member'(ctx, kind) {
    const { m, role } = await ctx.target();
    const asLearner = ctx.prng.chance(0.5);
    const f = ctx.begin(kind, m.name, `remove the ${role}, add a new member${asLearner ? ' (learner, then promoted)' : ''}`);
    f.detail = `${f.detail}: ${await replaceMember(ctx.cluster, m, asLearner, () => ctx.liveEndpoint(m))}`;
    ctx.lifted();
    return f;
  },
  async 'readd-member'(ctx, kind) {
    const { m, role } = await ctx.target();
    const f = ctx.begin(kind, m.name, `remove the ${role}, wipe its data, add it again (same name and peer URL)`);
    f.detail = `${f.detail}: ${await readdMember(ctx.cluster, m, () => ctx.liveEndpoint(m))}`;
    ctx.lifted();
    return f;
  },
  async fuzz(ctx, kind) {
    const eps = ctx.cluster.liveEndpoints();
    const seed = ctx.prng.int(1, 2 ** 31 - 1);
    const ms = ctx.prng.int(2000, 5000);
    const f = ctx.begin(kind, eps.join(','), `runFuzz seed ${seed} for ${seconds(ms)}`);
    const r = await ctx.runFuzz(eps, seed, ms);
    ctx.lifted();
    const errs = Object.entries(r.errors)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([k, n]) => `${k}: ${n}`)
      .join(', ');
    f.detail = `${f.detail}: ${r.frames} frames, ${r.streams} streams; ${errs}`;
    // Answers that point at server bugs (internal errors, calls never answered) are kept with
    // their replay handle (fuzz.ts runFuzzAction(endpoint, seed, action)).
    for (const [k, n] of Object.entries(r.details)) {
      if (/^(INTERNAL|UNKNOWN|timeout|no-status)/.test(k)) ctx.rec.countError(`fuzz ${k.slice(0, 100)} (seed ${seed}, e.g. ${(r.detailSamples[k] ?? []).slice(0, 2).join(' ')})`, n);
    }
    return f;
  },
};
