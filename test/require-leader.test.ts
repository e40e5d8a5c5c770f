// Streams that carry etcd's require-leader metadata ("hasleader": "true"): a watch stream on a
// member that loses its leader is ended with `etcdserver: no leader`, and new watch and
// keep-alive streams there fail at once, as etcd's clients expect (clientv3.WithRequireLeader).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { startCluster, waitForLeader, type Cluster } from './helpers/cluster';
import { b, serviceClient, type Msg } from './helpers/grpc-client';
import { WatchClient } from './helpers/watch-client';

let cluster: Cluster;
const requireLeader = (): grpc.Metadata => {
  const md = new grpc.Metadata();
  md.set('hasleader', 'true');
  return md;
};

before(async () => {
  cluster = await startCluster(3);
  await waitForLeader(cluster.endpoints(), 10_000);
});

after(async () => {
  await cluster?.cleanup();
});

test('require-leader streams end with "etcdserver: no leader" once the member has no leader', async () => {
  const ep = cluster.endpoints()[0];
  const held = new WatchClient(ep, requireLeader());
  const plain = new WatchClient(ep);
  try {
    held.create({ key: b('k') });
    plain.create({ key: b('k') });
    assert.equal((await held.next()).created, true);
    assert.equal((await plain.next()).created, true);
    // Without its two peers the member loses its leader (check-quorum, or it was a follower).
    await cluster.kill(1);
    await cluster.kill(2);
    const t0 = Date.now();
    while (!held.ended && Date.now() - t0 < 15_000) await new Promise((r) => setTimeout(r, 100));
    assert.equal(held.ended, true, 'the require-leader watch stream was ended');
    assert.equal(held.error?.code, grpc.status.UNAVAILABLE);
    assert.match(held.error?.details ?? '', /etcdserver: no leader/);
    assert.equal(plain.ended, false, 'a watch without the metadata stays open');

    // New streams with the metadata fail at once.
    const again = new WatchClient(ep, requireLeader());
    const t1 = Date.now();
    while (!again.ended && Date.now() - t1 < 5000) await new Promise((r) => setTimeout(r, 50));
    assert.match(again.error?.details ?? '', /etcdserver: no leader/);
    again.close();

    const lease = serviceClient('Lease', ep);
    try {
      const ka = (lease as unknown as Record<string, (md: grpc.Metadata) => grpc.ClientDuplexStream<Msg, Msg>>).LeaseKeepAlive.call(lease, requireLeader());
      const err = await new Promise<grpc.ServiceError>((resolve) => {
        ka.on('error', resolve);
        ka.on('data', () => undefined);
        ka.write({ ID: 1 });
      });
      assert.equal(err.code, grpc.status.UNAVAILABLE);
      assert.match(err.details, /etcdserver: no leader/);
    } finally {
      lease.close();
    }
  } finally {
    held.close();
    plain.close();
  }
});
