// A network partition between members (peer traffic through fault-injecting proxies): the
// minority side neither commits writes nor serves linearizable reads; the majority elects a leader
// and goes on; after healing, the minority catches up and what it could not commit is gone.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { startCluster, statusOf as status, until, waitForLeader, type Cluster } from './helpers/cluster';
import { b, call, kvClient, type Msg } from './helpers/grpc-client';

describe('network partition', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster(3, [], { proxies: true });
  });
  after(async () => {
    await cluster?.cleanup();
  });

  test('the minority neither commits nor serves linearizable reads; the majority goes on', async () => {
    const eps = cluster.endpoints();
    const leaderId = await waitForLeader(eps);
    const li = cluster.members.findIndex((m) => m.id === leaderId);
    assert.ok(li >= 0, 'the leader is one of the members (IDs derived from the advertised proxy URLs)');
    const majority = [0, 1, 2].filter((i) => i !== li);
    const lone = kvClient(eps[li]);
    const maj = kvClient(eps[majority[0]]);
    try {
      await call(lone, 'Put', { key: b('before'), value: b('1') });

      cluster.partition([li]);
      // The cut-off leader: a write cannot reach a quorum, a linearizable read cannot be confirmed.
      await assert.rejects(call(lone, 'Put', { key: b('minority-write'), value: b('x') }, 3000), 'no commit without a quorum');
      await assert.rejects(call(lone, 'Range', { key: b('before') }, 3000), 'no linearizable read without a quorum');
      const local = await call(lone, 'Range', { key: b('before'), serializable: true });
      assert.equal(local.kvs[0].value.toString(), '1', 'serializable reads stay local');
      // It steps down (check-quorum); require-leader calls then fail at once.
      await until('the cut-off leader to step down', async () => ((await status(eps[li]))?.leader === '0' ? true : undefined));
      const md = new grpc.Metadata();
      md.set('hasleader', 'true');
      const err = await new Promise<grpc.ServiceError | null>((resolve) => {
        (lone as unknown as { Put: (r: Msg, m: grpc.Metadata, cb: (e: grpc.ServiceError | null) => void) => void }).Put({ key: b('k'), value: b('v') }, md, (e) => resolve(e));
      });
      assert.equal(err?.details, 'etcdserver: no leader');

      // The majority elects a new leader and serves writes and linearizable reads.
      const newLeader = await waitForLeader(majority.map((i) => eps[i]), 15_000, leaderId);
      assert.ok(cluster.members.some((m, i) => m.id === newLeader && i !== li));
      await until('a majority write', async () => {
        try {
          await call(maj, 'Put', { key: b('majority-write'), value: b('y') }, 2000);
          return true;
        } catch {
          return undefined;
        }
      });
      assert.equal((await call(maj, 'Range', { key: b('majority-write') })).kvs[0].value.toString(), 'y');

      cluster.heal();
      // The old leader rejoins as a follower and catches up; its uncommitted write is gone.
      await until('the old leader to catch up', async () => {
        const got = await call(lone, 'Range', { key: b('majority-write'), serializable: true });
        return got.kvs.length === 1 ? true : undefined;
      });
      const gone = await Promise.all(eps.map(async (ep) => {
        const c = kvClient(ep);
        try {
          return (await call(c, 'Range', { key: b('minority-write'), serializable: true })).kvs.length;
        } finally {
          c.close();
        }
      }));
      assert.deepEqual(gone, [0, 0, 0], 'a write the minority could not commit is on no member');
      const lin = await call(lone, 'Range', { key: b('majority-write') });
      assert.equal(lin.kvs[0].value.toString(), 'y', 'linearizable reads work again on the healed member');
    } finally {
      lone.close();
      maj.close();
    }
  });
});
