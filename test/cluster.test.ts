// A 3-member cluster of real processes on loopback: etcdctl sees one leader and consistent
// figures; writes through any member; the leader is SIGKILLed under a steady write load, a new
// one takes over, no acknowledged write is lost, and the killed member rejoins and catches up.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { startCluster, waitForLeader, type Cluster } from './helpers/cluster';
import { etcdctl, etcdctlMissing } from './helpers/etcdctl';
import { b, call, kvClient, maintenanceClient, type Msg } from './helpers/grpc-client';

interface StatusJson {
  Endpoint: string;
  Status: { header: { member_id: number; cluster_id: number; raft_term: number }; leader: number; raftIndex: number; raftAppliedIndex: number };
}

async function statuses(endpoints: string[]): Promise<Msg[]> {
  return Promise.all(
    endpoints.map(async (ep) => {
      const c = maintenanceClient(ep);
      try {
        return await call(c, 'Status', {}, 3000);
      } finally {
        c.close();
      }
    }),
  );
}

describe('3-member cluster', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster(3);
    await waitForLeader(cluster.endpoints(), 10_000);
  });
  after(async () => {
    await cluster?.cleanup();
  });

  test('etcdctl: put/get through every member, member list, one leader in endpoint status', { skip: etcdctlMissing }, async () => {
    const all = cluster.endpoints().join(',');
    for (const [i, ep] of cluster.endpoints().entries()) {
      const put = await etcdctl(ep, ['put', `via/${i}`, `v${i}`]);
      assert.equal(put.stdout, 'OK\n', put.stderr);
    }
    for (const ep of cluster.endpoints()) {
      const got = await etcdctl(ep, ['get', '--prefix', 'via/']);
      assert.equal(got.stdout, 'via/0\nv0\nvia/1\nv1\nvia/2\nv2\n');
    }
    // Each member publishes its client URLs through the log; every member then lists them all.
    const expected = cluster.members.map((m) => `${m.name} http://127.0.0.1:${m.peerPort} http://127.0.0.1:${m.clientPort}`).sort();
    for (const ep of cluster.endpoints()) {
      let rows: string[] = [];
      for (let tries = 0; tries < 50; tries++) {
        const members = await etcdctl(ep, ['member', 'list']);
        rows = members.stdout.trim().split('\n').map((l) => l.split(', ').slice(2, 5).join(' ')).sort();
        if (JSON.stringify(rows) === JSON.stringify(expected)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.deepEqual(rows, expected, `member list on ${ep}`);
    }
    const st = await etcdctl(all, ['endpoint', 'status', '-w', 'json']);
    const parsed = JSON.parse(st.stdout) as StatusJson[];
    assert.equal(parsed.length, 3);
    assert.equal(new Set(parsed.map((p) => p.Status.leader)).size, 1, 'all agree on the leader');
    assert.equal(new Set(parsed.map((p) => p.Status.header.cluster_id)).size, 1);
    assert.equal(new Set(parsed.map((p) => p.Status.header.raft_term)).size, 1);
    assert.equal(parsed.filter((p) => p.Status.leader === p.Status.header.member_id).length, 1, 'exactly one member is the leader');
    const table = await etcdctl(all, ['endpoint', 'status', '-w', 'table']);
    assert.equal((table.stdout.match(/\|\s+true\s+\|\s+false\s+\|/g) ?? []).length, 1, table.stdout);
  });

  test('linearizable reads on a follower see a write made through another member', async () => {
    const [a, bEp] = cluster.endpoints();
    const w = kvClient(a);
    const r = kvClient(bEp);
    try {
      for (let i = 0; i < 20; i++) {
        await call(w, 'Put', { key: b('lin'), value: b(String(i)) });
        const got = await call(r, 'Range', { key: b('lin') });
        assert.equal(got.kvs[0].value.toString(), String(i));
      }
    } finally {
      w.close();
      r.close();
    }
  });

  test('etcdctl move-leader hands leadership to a follower', { skip: etcdctlMissing }, async () => {
    const endpoints = cluster.endpoints();
    const leader = await waitForLeader(endpoints, 5000);
    const st = await statuses(endpoints);
    const target = String(st.find((s) => String(s.header.member_id) !== leader)?.header.member_id);
    const hex = (id: string): string => BigInt(id).toString(16);
    const moved = await etcdctl(endpoints.join(','), ['move-leader', hex(target)]);
    assert.equal(moved.stdout.trim(), `Leadership transferred from ${hex(leader)} to ${hex(target)}`, moved.stderr);
    assert.equal(await waitForLeader(endpoints, 5000), target);
    const bad = await etcdctl(endpoints.join(','), ['move-leader', 'abcdef']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /etcdserver: bad leader transferee/);
  });

  test('SIGKILL the leader under writes: a new leader, no acked write lost, the old leader catches up', async () => {
    const endpoints = cluster.endpoints();
    const leaderId = await waitForLeader(endpoints, 5000);
    const st = await statuses(endpoints);
    const leaderIdx = st.findIndex((s) => String(s.header.member_id) === leaderId);
    assert.ok(leaderIdx >= 0);
    const others = endpoints.filter((_, i) => i !== leaderIdx);
    const clients: grpc.Client[] = others.map((ep) => kvClient(ep));
    const acked = new Map<string, string>();
    let stop = false;
    let failures = 0;
    const writer = async (c: grpc.Client, w: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const key = `load/${w}/${i}`;
        try {
          await call(c, 'Put', { key: b(key), value: b(`v${i}`) }, 3000);
          acked.set(key, `v${i}`);
        } catch {
          failures++;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };
    const writers = clients.flatMap((c, i) => [writer(c, i * 2), writer(c, i * 2 + 1)]);
    try {
      try {
        await new Promise((r) => setTimeout(r, 700));
        assert.ok(acked.size > 0, 'writes flow before the kill');
        const killedAt = Date.now();
        await cluster.kill(leaderIdx);
        const newLeader = await waitForLeader(others, 10_000, leaderId);
        const electionMs = Date.now() - killedAt;
        assert.notEqual(newLeader, leaderId);
        assert.ok(electionMs < 10_000, `new leader after ${electionMs} ms`);
        // Calls forwarded to the dead leader are lost and time out (3 s here); then writes resume.
        const atElection = acked.size;
        const resumeBy = Date.now() + 10_000;
        while (acked.size <= atElection + 10 && Date.now() < resumeBy) await new Promise((r) => setTimeout(r, 100));
        assert.ok(acked.size > atElection + 10, `writes resume under the new leader (failed calls: ${failures})`);
      } finally {
        // Writers must end also when an assertion fails, or they would keep the test alive.
        stop = true;
        await Promise.all(writers);
      }

      await cluster.start(leaderIdx);
      clients.push(kvClient(endpoints[leaderIdx]));
      for (const c of [...clients]) {
        // Wait until this member has applied everything, then compare with serializable reads.
        let got: Msg | undefined;
        for (let tries = 0; tries < 100; tries++) {
          got = await call(c, 'Range', { key: b('load/'), range_end: b('load0'), serializable: true });
          if (got.kvs.length >= acked.size) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        const stored = new Map<string, string>((got?.kvs ?? []).map((kv: Msg) => [kv.key.toString(), kv.value.toString()]));
        for (const [k, v] of acked) assert.equal(stored.get(k), v, `acked ${k} on every member`);
      }

      // Every member applied the same history: same HashKV at the same revision, and the same
      // Hash once all have applied the same index.
      const rev = Number((await call(clients[0], 'Range', { key: b('load/'), count_only: true })).header.revision);
      const hashes = await Promise.all(
        endpoints.map(async (ep) => {
          const m = maintenanceClient(ep);
          try {
            let applied: Msg[] = [];
            for (let tries = 0; tries < 50; tries++) {
              applied = await statuses(endpoints);
              if (new Set(applied.map((s) => String(s.raftAppliedIndex))).size === 1) break;
              await new Promise((r) => setTimeout(r, 100));
            }
            const kvHash = await call(m, 'HashKV', { revision: rev });
            const all = await call(m, 'Hash', {});
            return { kv: kvHash.hash as number, hashRev: Number(kvHash.hash_revision), all: all.hash as number };
          } finally {
            m.close();
          }
        }),
      );
      assert.equal(hashes[0].hashRev, rev);
      assert.deepEqual(new Set(hashes.map((h) => h.kv)).size, 1, `HashKV at ${rev}: ${JSON.stringify(hashes)}`);
      assert.deepEqual(new Set(hashes.map((h) => h.all)).size, 1, `Hash: ${JSON.stringify(hashes)}`);
      await call(clients[0], 'Put', { key: b('load/after'), value: b('x') });
      // Asked of the member that acknowledged the put (it applied it before answering); another
      // member may not have applied it yet, and HashKV is served locally.
      const m0 = maintenanceClient(others[0]);
      try {
        assert.notEqual((await call(m0, 'HashKV', { revision: 0 })).hash, hashes[0].kv, 'a write changes the hash');
      } finally {
        m0.close();
      }
    } finally {
      for (const c of clients) c.close();
    }
    const final = await statuses(endpoints);
    assert.equal(new Set(final.map((s) => String(s.leader))).size, 1);
  });

  test('a member cut off from the quorum neither commits nor serves linearizable reads', async () => {
    // Runs last: it takes the cluster down to one member.
    const endpoints = cluster.endpoints();
    await cluster.kill(1);
    await cluster.kill(2);
    const lone = kvClient(endpoints[0]);
    try {
      // Check-quorum makes a lone leader step down within an election timeout.
      let leaderless = false;
      for (let tries = 0; tries < 50 && !leaderless; tries++) {
        const st = await statuses([endpoints[0]]);
        leaderless = String(st[0].leader) === '0';
        if (!leaderless) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(leaderless, 'the lone member knows it has no leader');
      const md = new grpc.Metadata();
      md.set('hasleader', 'true');
      const started = Date.now();
      const err = await new Promise<grpc.ServiceError | null>((resolve) => {
        (lone as unknown as { Put: (r: Msg, m: grpc.Metadata, cb: (e: grpc.ServiceError | null) => void) => void }).Put({ key: b('x'), value: b('y') }, md, (e) => resolve(e));
      });
      assert.equal(err?.code, grpc.status.UNAVAILABLE);
      assert.equal(err?.details, 'etcdserver: no leader');
      assert.ok(Date.now() - started < 1000, 'require-leader fails at once');
      await assert.rejects(call(lone, 'Put', { key: b('x'), value: b('y') }, 3000));
      await assert.rejects(call(lone, 'Range', { key: b('lin') }, 3000), 'no linearizable read without a quorum');
      const local = await call(lone, 'Range', { key: b('lin'), serializable: true });
      assert.equal(local.kvs.length, 1, 'serializable reads are still served locally');
      assert.equal((await call(lone, 'Range', { key: b('x'), serializable: true })).kvs.length, 0, 'nothing was written');
    } finally {
      lone.close();
    }
  });
});
