// Members refuse peers of another cluster: a member whose --initial-cluster names a member of
// a different cluster cannot talk to it, and the other cluster is not disturbed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type Cluster } from './helpers/cluster';
import { b, call, kvClient, maintenanceClient } from './helpers/grpc-client';
import { freePorts, startServer, type ServerProcess } from './helpers/server-process';

describe('cluster ID', () => {
  let cluster: Cluster;
  let stranger: ServerProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'etcd-ts-stranger-'));
  before(async () => {
    cluster = await startCluster(3);
  });
  after(async () => {
    await stranger?.kill();
    await cluster?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a member of another cluster is refused and disturbs nothing', async () => {
    const target = cluster.members[0];
    const [clientPort, peerPort] = await freePorts(2);
    const own = `http://127.0.0.1:${peerPort}`;
    // Cluster "other" claims target's peer URL as its second member.
    stranger = await startServer({
      dataDir: join(dir, 'x1'),
      port: clientPort,
      args: ['--name', 'x1', '--listen-peer-urls', own, '--initial-advertise-peer-urls', own, '--initial-cluster', `x1=${own},x2=${target.advertisedPeerUrl}`, '--initial-cluster-token', 'other-cluster', '--election-timeout', '300', '--heartbeat-interval', '50'],
    });
    let refused = false;
    for (let tries = 0; tries < 100 && !refused; tries++) {
      refused = /refused a raft stream from another cluster/.test(target.process?.stderr() ?? '');
      if (!refused) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(refused, 'the target logged that it refused the stranger');
    const m = maintenanceClient(stranger.endpoint);
    try {
      assert.equal(String((await call(m, 'Status', {})).leader), '0', 'the stranger found no quorum');
    } finally {
      m.close();
    }
    const kv = kvClient(cluster.endpoints()[0]);
    try {
      await call(kv, 'Put', { key: b('still'), value: b('fine') });
      assert.equal((await call(kv, 'Range', { key: b('still') })).kvs[0].value.toString(), 'fine');
    } finally {
      kv.close();
    }
  });
});
