// A member that is stopped (SIGSTOP) while the others take more than --snapshot-count writes
// catches up when it comes back: the leader no longer holds the entries it lacks, so it sends a
// snapshot of its state, and then replication goes on from there.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { leaderEndpoint, startCluster, type Cluster } from './helpers/cluster';
import { b, call, kvClient, maintenanceClient, type Msg } from './helpers/grpc-client';

describe('catch-up after a pause', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster(3, ['--snapshot-count', '500', '--log-level', 'info']);
  });
  after(async () => {
    for (const m of cluster?.members ?? []) {
      const err = m.process?.stderr() ?? '';
      // A member that crashed says why on stderr.
      if (/"level":"(error|fatal)"|Error/.test(err)) process.stdout.write(`# ${m.name} stderr:\n${err.split('\n').map((l) => `#   ${l}`).join('\n')}\n`);
    }
    await cluster?.cleanup();
  });

  test('a SIGSTOPped follower misses 3,000 writes (6x the snapshot count) and catches up by snapshot', async () => {
    const li = cluster.endpoints().indexOf(await leaderEndpoint(cluster.endpoints()));
    const fi = (li + 1) % 3;
    const follower = cluster.members[fi].process;
    assert.ok(follower !== undefined);
    const kv = kvClient(cluster.endpoints()[li]);
    try {
      follower.proc.kill('SIGSTOP');
      const t0 = Date.now();
      try {
        const batch = 100;
        for (let i = 0; i < 3000; i += batch) {
          await Promise.all(Array.from({ length: batch }, (_, j) => call(kv, 'Put', { key: b(`c/${String(i + j).padStart(5, '0')}`), value: b(`v${i + j}`.padEnd(2048, '.')) })));
        }
      } finally {
        follower.proc.kill('SIGCONT');
      }
      const t1 = Date.now();
      const fkv = kvClient(cluster.endpoints()[fi]);
      try {
        let got: Msg | undefined;
        for (let tries = 0; tries < 150; tries++) {
          got = await call(fkv, 'Range', { key: b('c/'), range_end: b('c0'), serializable: true, count_only: true });
          if (Number(got.count) === 3000) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(Number(got?.count), 3000, 'the paused member holds every write');
        process.stdout.write(`# writes ${t1 - t0} ms, catch-up ${Date.now() - t1} ms\n`);
        const last = await call(fkv, 'Range', { key: b('c/02999') });
        assert.equal(last.kvs[0].value.toString(), 'v2999'.padEnd(2048, '.'));
        assert.match(follower.stderr(), /applying snapshot/, 'it caught up from a snapshot');
        // The state (> 6 MB of values) went over in many chunks of one stream.
        const sent = /"msg":"sent database snapshot"[^\n]*"bytes":(\d+)/.exec(cluster.members[li].process?.stderr() ?? '');
        assert.ok(sent !== null && Number(sent[1]) > 6_000_000, `the leader streamed the snapshot (${sent?.[1]} bytes)`);
        // And it goes on replicating after the snapshot.
        await call(kv, 'Put', { key: b('c/after'), value: b('z') });
        let after: Msg | undefined;
        for (let tries = 0; tries < 50; tries++) {
          after = await call(fkv, 'Range', { key: b('c/after'), serializable: true });
          if (after.kvs.length === 1) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(after?.kvs.length, 1);
        // The installed state is the leader's, row for row: same HashKV at the same revision.
        const rev = Number(after?.header.revision);
        const hashes = await Promise.all(
          cluster.endpoints().map(async (ep) => {
            const m = maintenanceClient(ep);
            try {
              return (await call(m, 'HashKV', { revision: rev })).hash as number;
            } finally {
              m.close();
            }
          }),
        );
        assert.equal(new Set(hashes).size, 1, `HashKV at ${rev}: ${hashes.join(' ')}`);
        // A member restored from a snapshot restarts from its own disk (SIGKILL, then start).
        await cluster.kill(fi);
        await cluster.start(fi);
        const again = kvClient(cluster.endpoints()[fi]);
        try {
          const n = await call(again, 'Range', { key: b('c/'), range_end: b('c0'), serializable: true, count_only: true });
          assert.equal(Number(n.count), 3001, 'everything is there after the restart');
          await call(kv, 'Put', { key: b('c/after-restart'), value: b('r') });
          let seen = 0;
          for (let tries = 0; tries < 50 && seen === 0; tries++) {
            seen = (await call(again, 'Range', { key: b('c/after-restart'), serializable: true })).kvs.length;
            if (seen === 0) await new Promise((r) => setTimeout(r, 100));
          }
          assert.equal(seen, 1, 'and it goes on replicating');
        } finally {
          again.close();
        }
      } finally {
        fkv.close();
      }
    } finally {
      kv.close();
    }
  });
});
