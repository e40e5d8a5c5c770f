// Membership changes with etcdctl on a live cluster: add a learner, start it with
// --initial-cluster-state existing, let it catch up, promote it, remove another member; writes
// keep succeeding throughout.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { leaderEndpoint, startCluster, type Cluster } from './helpers/cluster';
import { etcdctl, etcdctlMissing } from './helpers/etcdctl';
import { b, call, kvClient, type Msg } from './helpers/grpc-client';
import { freePorts, startServer, type ServerProcess } from './helpers/server-process';

describe('membership changes', { skip: etcdctlMissing }, () => {
  let cluster: Cluster;
  let newMember: ServerProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'etcd-ts-join-'));
  before(async () => {
    cluster = await startCluster(3, ['--snapshot-count', '100']);
  });
  after(async () => {
    await newMember?.kill();
    await cluster?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('add a learner, join it, promote it, remove a member, while writes go on', async () => {
    const eps = cluster.endpoints();
    await leaderEndpoint(eps);
    const writerClient: grpc.Client = kvClient(eps[0]);
    let stop = false;
    let ok = 0;
    let failed = 0;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        try {
          await call(writerClient, 'Put', { key: b(`w/${i}`), value: b(String(i)) }, 3000);
          ok++;
        } catch {
          failed++;
        }
      }
    })();
    try {
      // Enough history that the log is compacted and the newcomer needs a snapshot.
      for (let i = 0; i < 300; i++) await call(writerClient, 'Put', { key: b(`pre/${i}`), value: b('x') });

      const [clientPort, peerPort] = await freePorts(2);
      const peerUrl = `http://127.0.0.1:${peerPort}`;
      const added = await etcdctl(eps.join(','), ['member', 'add', 'm4', `--peer-urls=${peerUrl}`, '--learner']);
      assert.equal(added.code, 0, added.stderr);
      // etcdctl prints IDs as %16x: short IDs come space-padded.
      const id = /Member\s+([0-9a-f]+) added to cluster/.exec(added.stdout)?.[1];
      assert.ok(id !== undefined, added.stdout);
      assert.match(added.stdout, /ETCD_INITIAL_CLUSTER_STATE="existing"/);
      const initialCluster = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(added.stdout)?.[1] ?? '';
      assert.ok(initialCluster.includes(`m4=${peerUrl}`), added.stdout);

      newMember = await startServer({
        dataDir: join(dir, 'm4'),
        port: clientPort,
        args: ['--name', 'm4', '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl, '--initial-cluster', initialCluster, '--initial-cluster-state', 'existing', '--initial-cluster-token', 'test-cluster'],
      });
      const m4 = kvClient(newMember.endpoint);
      try {
        let got: Msg | undefined;
        for (let tries = 0; tries < 100; tries++) {
          got = await call(m4, 'Range', { key: b('pre/'), range_end: b('pre0'), serializable: true, count_only: true });
          if (Number(got.count) === 300) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(Number(got?.count), 300, 'the learner caught up');
      } finally {
        m4.close();
      }
      const listed = await etcdctl(eps.join(','), ['member', 'list']);
      assert.match(listed.stdout, new RegExp(`${id}, started, m4, ${peerUrl}, http://127.0.0.1:${clientPort}, true`));

      const leader = await leaderEndpoint(eps);
      // Sent to a follower: only the leader knows whether the learner is in sync, so the follower
      // forwards it (as etcd does). Promotion waits until the learner has caught up (etcd's
      // rule), as operators retry.
      const follower = eps.find((e) => e !== leader) ?? leader;
      let promoted = await etcdctl(follower, ['member', 'promote', id]);
      for (let tries = 0; tries < 25 && /in sync with leader/.test(promoted.stderr); tries++) {
        await new Promise((r) => setTimeout(r, 200));
        promoted = await etcdctl(follower, ['member', 'promote', id]);
      }
      assert.equal(promoted.code, 0, promoted.stderr);
      assert.match(promoted.stdout, new RegExp(`Member\\s+${id} promoted in cluster`));
      const again = await etcdctl(follower, ['member', 'promote', id]);
      assert.match(again.stderr, /etcdserver: can only promote a learner member/);

      // Remove a follower: neither the leader nor the member the writer uses.
      const vi = [1, 2].find((i) => eps[i] !== leader) ?? 2;
      const victim = cluster.members[vi];
      const victimHex = BigInt(victim.id).toString(16);
      const removed = await etcdctl(leader, ['member', 'remove', victimHex]);
      assert.equal(removed.code, 0, removed.stderr);
      assert.match(removed.stdout, new RegExp(`Member\\s+${victimHex} removed from cluster`));
      // A removed member stops by itself, as etcd's does.
      const removedProcess = victim.process;
      for (let tries = 0; tries < 50 && removedProcess?.proc.exitCode === null; tries++) await new Promise((r) => setTimeout(r, 100));
      assert.notEqual(removedProcess?.proc.exitCode, null, 'the removed member exited');
      assert.match(removedProcess?.stderr() ?? '', /permanently removed from the cluster/);
      await cluster.kill(vi);
      const after4 = await etcdctl(`${eps[0]},${newMember.endpoint}`, ['member', 'list']);
      assert.equal(after4.stdout.trim().split('\n').length, 3, after4.stdout);
      const gone = await etcdctl(leader, ['member', 'remove', victimHex]);
      assert.match(gone.stderr, /etcdserver: member not found/);

      const before = ok;
      await new Promise((r) => setTimeout(r, 1000));
      assert.ok(ok > before, 'writes go on after the changes');
    } finally {
      stop = true;
      await writer;
      writerClient.close();
    }
    assert.ok(failed <= 5, `writes kept succeeding during the changes (${ok} ok, ${failed} failed)`);
  });
});
