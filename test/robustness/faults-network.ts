// Network faults on the peer links, made by the TCP fault proxies (cluster-control.ts linkFault):
// partitions (connections reset, new ones refused), TCP blackholes (bytes vanish, connections stay
// open: neither end sees an error, as with a dead switch) one way or both, and delays of every
// chunk (fixed + jitter, order kept). Each heals what it did and marks the moment it did.
import type { LinkFault } from '../helpers/tcp-fault-proxy';
import { describeTargets, seconds, type FaultContext, type FaultFn, type Target } from './fault-context';
import type { Fault, FaultKind } from './history';

type NetworkKind = 'partition' | 'blackhole-one-way' | 'blackhole-follower' | 'blackhole-leader' | 'blackhole-quorum' | 'blackhole-all' | 'delay-follower' | 'delay-leader' | 'delay-quorum' | 'delay-all';

/** Blackholes and delays hold this long (etcd's tester holds them for seconds, not moments). */
const LONG_HOLD_MS: [number, number] = [5000, 10_000];

/** The sides a targeted fault applies to, by kind suffix. */
async function side(ctx: FaultContext, kind: FaultKind): Promise<Target[]> {
  if (kind.endsWith('-follower')) return [await ctx.follower()];
  if (kind.endsWith('-leader')) return [await ctx.leader()];
  if (kind.endsWith('-quorum')) return ctx.quorum();
  const leader = await ctx.cluster.leader();
  return ctx.cluster.members.map((m) => ({ m, role: leader === undefined ? 'member' : m === leader ? 'leader' : 'follower' }));
}

/** Holds `fault` on every link of `targets` for a long hold, then heals. */
async function linkFault(ctx: FaultContext, kind: FaultKind, targets: Target[], fault: LinkFault, what: string): Promise<Fault> {
  const f = ctx.begin(kind, targets.map((t) => t.m.name).join(','), `${what} on the peer links of ${describeTargets(targets)}`);
  ctx.cluster.linkFault(
    targets.map((t) => t.m),
    fault,
  );
  const held = await ctx.hold(...LONG_HOLD_MS);
  ctx.cluster.heal();
  ctx.lifted();
  f.detail = `${f.detail}, held ${seconds(held)}`;
  return f;
}

const blackhole: FaultFn = async (ctx, kind) => linkFault(ctx, kind, await side(ctx, kind), { kind: 'blackhole' }, 'two-way TCP blackhole');

const delay: FaultFn = async (ctx, kind) => {
  // A long one (round trips near the election timeout) or a shorter one, as etcd's tester varies it.
  const [ms, jitterMs] = ctx.prng.chance(0.5) ? [500, 200] : [200, 100];
  return linkFault(ctx, kind, await side(ctx, kind), { kind: 'delay', ms, jitterMs }, `delay ${ms} ms ± ${jitterMs} ms of every chunk`);
};

export const NETWORK_FAULTS: Record<NetworkKind, FaultFn> = {
  async partition(ctx, kind) {
    const { m, role } = await ctx.target();
    const f = ctx.begin(kind, m.name, `isolate the ${role} (connections reset, new ones refused)`);
    ctx.cluster.isolate(m);
    const held = await ctx.hold(2000, 6000);
    ctx.cluster.heal();
    ctx.lifted();
    f.detail = `${f.detail}, held ${seconds(held)}`;
    return f;
  },
  async 'blackhole-one-way'(ctx, kind) {
    const { m, role } = await ctx.target();
    const dir = ctx.prng.chance(0.5) ? 'in' : 'out';
    const f = ctx.begin(kind, m.name, `TCP blackhole of what the ${role} ${dir === 'in' ? 'receives' : 'sends'} from/to its peers`);
    ctx.cluster.blackholeOneWay(m, dir);
    const held = await ctx.hold(2000, 5000);
    ctx.cluster.heal();
    ctx.lifted();
    f.detail = `${f.detail}, held ${seconds(held)}`;
    return f;
  },
  'blackhole-follower': blackhole,
  'blackhole-leader': blackhole,
  'blackhole-quorum': blackhole,
  'blackhole-all': blackhole,
  'delay-follower': delay,
  'delay-leader': delay,
  'delay-quorum': delay,
  'delay-all': delay,
};
