// Liveness after network faults as a real network makes them (TCP proxies on the peer ports):
// a member whose peer traffic vanished both ways for several seconds under a write load, with the
// connections left open, must have a leader again and serve linearizable reads within two
// election timeouts + 5 s of the fault being lifted; so must every member after 500 ms ± jitter
// delays on every peer packet. (Before the peer streams watched their peers, a blackholed member
// stayed at "etcdserver: no leader" for good: bytes lost on an open HTTP/2 connection had used up
// its flow-control window, and nothing noticed.)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, statusOf, waitForLeader, type Cluster } from './helpers/cluster';
import { b, call, kvClient } from './helpers/grpc-client';

const ELECTION_MS = 1000;
const LIVENESS_MS = 2 * ELECTION_MS + 5000;

/** Ms until every endpoint agrees on a leader and serves a linearizable read; throws past limitMs. */
async function timeToLive(endpoints: string[], limitMs: number): Promise<number> {
  const t0 = Date.now();
  const clients = endpoints.map(kvClient);
  let last = '';
  try {
    while (Date.now() - t0 < limitMs) {
      const st = await Promise.all(endpoints.map(statusOf));
      const leaders = new Set(st.map((s) => String(s?.leader ?? '0')));
      if (leaders.size === 1 && !leaders.has('0')) {
        const reads = await Promise.allSettled(clients.map((c) => call(c, 'Range', { key: b('probe') }, 1500)));
        const failed = reads.map((r, i) => (r.status === 'rejected' ? `${endpoints[i]}: ${String(r.reason)}` : '')).filter((x) => x !== '');
        if (failed.length === 0) return Date.now() - t0;
        last = failed.join('; ');
      } else {
        last = `leaders seen: ${st.map((s, i) => `${endpoints[i]}=${String(s?.leader ?? 'no answer')}`).join(' ')}`;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    for (const c of clients) c.close();
  }
  throw new Error(`not live ${limitMs} ms after the fault was lifted: ${last}`);
}

/** Lifts every fault, then measures (and bounds) how long until every member is live again. */
async function healAndMeasure(cluster: Cluster, load: { stop: () => Promise<number> }, what: string): Promise<void> {
  cluster.heal();
  let ms: number;
  try {
    ms = await timeToLive(cluster.endpoints(), LIVENESS_MS);
  } finally {
    assert.ok((await load.stop()) > 0, 'the load wrote something');
  }
  console.log(`${what}: every member live ${ms} ms after the fault was lifted`);
  assert.ok(ms <= LIVENESS_MS);
}

/** Puts from a few concurrent writers across all members until stopped; counts successes. */
function writeLoad(endpoints: string[]): { stop: () => Promise<number> } {
  let running = true;
  let ok = 0;
  const value = Buffer.alloc(256, 'v');
  const writers = Array.from({ length: 6 }, async (_, w) => {
    const c = kvClient(endpoints[w % endpoints.length]);
    try {
      for (let i = 0; running; i++) {
        try {
          await call(c, 'Put', { key: b(`load/${w}/${i % 500}`), value }, 2000);
          ok++;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    } finally {
      c.close();
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(writers);
      return ok;
    },
  };
}

describe('liveness after TCP-level peer faults', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster(3, ['--heartbeat-interval', '100', '--election-timeout', String(ELECTION_MS), '--snapshot-count', '2000', '--pre-vote'], { proxies: 'tcp' });
  });
  after(async () => {
    await cluster?.cleanup();
  });

  test('a member blackholed both ways for 7 s under load (a follower, then the leader) finds its leader again', async () => {
    const eps = cluster.endpoints();
    for (const target of ['follower', 'leader'] as const) {
      const leaderId = await waitForLeader(eps);
      const li = cluster.members.findIndex((m) => m.id === leaderId);
      const victim = target === 'leader' ? li : (li + 1) % 3;
      const load = writeLoad(eps);
      await new Promise((r) => setTimeout(r, 1500));
      cluster.blackhole([victim]);
      await new Promise((r) => setTimeout(r, 7000));
      await healAndMeasure(cluster, load, `blackhole of the ${target}`);
    }
  });

  test('a follower paused (SIGSTOP) for 4 s under load, then resumed, is live again', async () => {
    // After the pause the follower read a backlog of stale heartbeats and appends; each answer
    // sent the leader's probe again (hundreds of copies of its entries in one frame) and the
    // follower's frame reader copied those frames quadratically: 4-11 s to recover.
    const eps = cluster.endpoints();
    for (let round = 0; round < 2; round++) {
      const leaderId = await waitForLeader(eps);
      const li = cluster.members.findIndex((m) => m.id === leaderId);
      const pid = cluster.members[(li + 1 + round) % 3].process?.proc.pid;
      assert.ok(pid !== undefined);
      const load = writeLoad(eps);
      await new Promise((r) => setTimeout(r, 1500));
      process.kill(pid, 'SIGSTOP');
      try {
        await new Promise((r) => setTimeout(r, 4000));
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      await healAndMeasure(cluster, load, `SIGSTOP of a follower (round ${round + 1})`);
    }
  });

  test('500 ms ± 200 ms on every peer packet for 10 s, then lifted: every member has a leader', async () => {
    const load = writeLoad(cluster.endpoints());
    // Each member on its own side: every link is delayed.
    for (const i of cluster.members.keys()) cluster.linkFault([i], { kind: 'delay', ms: 500, jitterMs: 200 });
    await new Promise((r) => setTimeout(r, 10_000));
    await healAndMeasure(cluster, load, 'delay on every link');
  });
});
