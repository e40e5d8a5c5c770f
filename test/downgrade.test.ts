// Maintenance.Downgrade as etcd 3.5 answers it for a 3.5 cluster: VALIDATE/ENABLE/CANCEL with
// etcd's codes and messages (server/etcdserver/errors.go, api/v3rpc/rpctypes/error.go), the
// downgrade record agreed through Raft, kept across SIGKILL, carried by a Raft snapshot to a
// member that missed it, written to the snapshot file's `cluster` bucket as etcd 3.5 writes it,
// and kept by `snapshot restore`. etcd-ts only: the etcd here (3.4) has no Downgrade.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { BboltReader } from '../src/snapshot/bbolt-reader';
import { restoreSnapshot } from '../src/snapshot/restore';
import { startServer, type ServerProcess } from './helpers/server-process';
import { leaderEndpoint, startCluster, statusOf, until, waitForLeader, type Cluster } from './helpers/cluster';
import { b, call, callError, kvClient, serviceClient, type Msg } from './helpers/grpc-client';

const VALIDATE = 0;
const ENABLE = 1;
const CANCEL = 2;
const IN_PROGRESS = 'etcdserver: cluster has a downgrade job in progress';
const NO_INFLIGHT = 'etcdserver: no inflight downgrade job';

async function downgrade(endpoint: string, action: number, version = ''): Promise<Msg> {
  const c = serviceClient('Maintenance', endpoint);
  try {
    return await call(c, 'Downgrade', { action, version });
  } finally {
    c.close();
  }
}

async function downgradeError(endpoint: string, action: number, version = ''): Promise<grpc.ServiceError> {
  const c = serviceClient('Maintenance', endpoint);
  try {
    return await callError(c, 'Downgrade', { action, version });
  } finally {
    c.close();
  }
}

async function downgradeInfo(endpoint: string): Promise<Msg | null | undefined> {
  const st = await statusOf(endpoint);
  assert.ok(st !== undefined, `Status of ${endpoint}`);
  return st.downgradeInfo as Msg | null | undefined;
}

/** Maintenance.Snapshot into a file (db + sha256 trailer, as etcdctl saves it). */
async function saveSnapshot(endpoint: string, file: string): Promise<void> {
  const c = serviceClient('Maintenance', endpoint);
  try {
    const chunks: Buffer[] = [];
    await new Promise<void>((res, rej) => {
      const s = (c as unknown as { Snapshot(r: Msg): grpc.ClientReadableStream<Msg> }).Snapshot({});
      s.on('data', (m: Msg) => chunks.push(m.blob as Buffer));
      s.on('error', rej);
      s.on('end', () => res());
    });
    writeFileSync(file, Buffer.concat(chunks));
  } finally {
    c.close();
  }
}

describe('Downgrade on one member', () => {
  let server: ServerProcess;
  const work = mkdtempSync(join(tmpdir(), 'etcd-ts-downgrade-'));
  const servers: ServerProcess[] = [];
  before(async () => {
    server = await startServer({ impl: 'etcd-ts' });
    servers.push(server);
  });
  after(async () => {
    for (const s of servers) await s.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  test('VALIDATE: 3.4 (any patch) is the target of a 3.5.0 cluster; others are refused with etcd\'s errors', async () => {
    const ok = await downgrade(server.endpoint, VALIDATE, '3.4');
    assert.equal(ok.version, '3.5.0');
    assert.ok(BigInt(ok.header.member_id) > 0n && BigInt(ok.header.cluster_id) > 0n, 'a filled header');
    assert.equal((await downgrade(server.endpoint, VALIDATE, '3.4.9')).version, '3.5.0');
    for (const v of ['3.3', '3.5', '3.6.0', '2.4.0', '4.4']) {
      const e = await downgradeError(server.endpoint, VALIDATE, v);
      assert.equal(e.code, grpc.status.INVALID_ARGUMENT, v);
      assert.equal(e.details, 'etcdserver: invalid downgrade target version', v);
    }
    for (const v of ['', '3', 'v3.4', 'three.four', '3.4.0.0']) {
      const e = await downgradeError(server.endpoint, VALIDATE, v);
      assert.equal(e.code, grpc.status.INVALID_ARGUMENT, v);
      assert.equal(e.details, 'etcdserver: wrong downgrade target version format', v);
    }
    // ENABLE checks the same way before it proposes anything.
    assert.equal((await downgradeError(server.endpoint, ENABLE, '3.3')).details, 'etcdserver: invalid downgrade target version');
    const unknown = await downgradeError(server.endpoint, 7, '3.4');
    assert.deepEqual([unknown.code, unknown.details], [grpc.status.UNKNOWN, 'etcdserver: unknown method']);
    const none = await downgradeError(server.endpoint, CANCEL);
    assert.deepEqual([none.code, none.details], [grpc.status.FAILED_PRECONDITION, NO_INFLIGHT]);
    assert.equal(await downgradeInfo(server.endpoint), null, 'no downgrade record, no Status field (as 3.5)');
  });

  test('ENABLE, then it is in progress: Status, the snapshot file, restore and SIGKILL keep it', async () => {
    assert.equal((await downgrade(server.endpoint, ENABLE, '3.4')).version, '3.5.0');
    assert.deepEqual(await downgradeInfo(server.endpoint), { enabled: true, targetVersion: '3.4.0' });
    for (const action of [VALIDATE, ENABLE]) {
      const e = await downgradeError(server.endpoint, action, '3.4.0');
      assert.deepEqual([e.code, e.details], [grpc.status.FAILED_PRECONDITION, IN_PROGRESS]);
    }

    const file = join(work, 'snap.db');
    await saveSnapshot(server.endpoint, file);
    const reader = BboltReader.open(file);
    try {
      const cluster = new Map([...(reader.bucket('cluster')?.entries() ?? [])].map(([k, v]) => [k.toString(), v.toString()]));
      assert.equal(cluster.get('downgrade'), '{"target-version":"3.4.0","enabled":true}');
      assert.equal(cluster.get('clusterVersion'), '3.5.0');
    } finally {
      reader.close();
    }
    const restored = join(work, 'restored');
    await restoreSnapshot({ snapshotPath: file, dataDir: restored, name: 'default', initialCluster: 'default=http://localhost:2380', initialClusterToken: 'etcd-cluster', initialAdvertisePeerUrls: ['http://localhost:2380'], skipHashCheck: false });
    const fromFile = await startServer({ impl: 'etcd-ts', dataDir: restored });
    servers.push(fromFile);
    assert.deepEqual(await downgradeInfo(fromFile.endpoint), { enabled: true, targetVersion: '3.4.0' }, 'restore keeps the record');
    await fromFile.kill();

    server = await server.restart();
    servers.push(server);
    assert.deepEqual(await downgradeInfo(server.endpoint), { enabled: true, targetVersion: '3.4.0' }, 'after SIGKILL');
    assert.match(server.stderr(), /invalid downgrade; server version is not allowed to join when downgrade is enabled/, 'says what etcd 3.5 would refuse');
  });

  test('CANCEL ends it; a second CANCEL finds none; the record stays, disabled', async () => {
    assert.equal((await downgrade(server.endpoint, CANCEL)).version, '3.5.0');
    assert.deepEqual(await downgradeInfo(server.endpoint), { enabled: false, targetVersion: '' });
    const e = await downgradeError(server.endpoint, CANCEL);
    assert.deepEqual([e.code, e.details], [grpc.status.FAILED_PRECONDITION, NO_INFLIGHT]);
    assert.equal((await downgrade(server.endpoint, VALIDATE, '3.4')).version, '3.5.0', 'a new downgrade may be validated');
  });
});

describe('Downgrade on a 3-member cluster', () => {
  let cluster: Cluster;
  before(async () => {
    // A short log, so that a member down for a few hundred writes needs a snapshot.
    cluster = await startCluster(3, ['--snapshot-count', '100', '--log-level', 'info']);
  });
  after(async () => {
    await cluster?.cleanup();
  });

  test('ENABLE on a follower reaches every member, a member that missed it gets it by snapshot, SIGKILL keeps it, CANCEL ends it', async () => {
    const eps = cluster.endpoints();
    const li = eps.indexOf(await leaderEndpoint(eps));
    const fi = (li + 1) % 3;
    const ki = (li + 2) % 3;
    await cluster.kill(ki);

    assert.equal((await downgrade(eps[fi], ENABLE, '3.4.0')).version, '3.5.0');
    for (const i of [li, fi]) {
      await until(`member ${i} sees the downgrade`, async () => ((await downgradeInfo(eps[i]))?.enabled === true ? true : undefined), 5000);
    }
    const e = await downgradeError(eps[li], ENABLE, '3.4');
    assert.deepEqual([e.code, e.details], [grpc.status.FAILED_PRECONDITION, IN_PROGRESS], 'a second ENABLE on another member');

    // Past the retained log: the stopped member can only catch up from a snapshot.
    const kv = kvClient(eps[li]);
    try {
      for (let i = 0; i < 300; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => call(kv, 'Put', { key: b(`k/${i + j}`), value: b('v') })));
    } finally {
      kv.close();
    }
    let back = await cluster.start(ki);
    await until('the member that missed it sees the downgrade', async () => ((await downgradeInfo(eps[ki]))?.enabled === true ? true : undefined), 10_000);
    assert.match(back.stderr(), /applying snapshot/, 'it came by snapshot');
    assert.deepEqual(await downgradeInfo(eps[ki]), { enabled: true, targetVersion: '3.4.0' });

    back = await back.restart();
    cluster.members[ki].process = back;
    // VALIDATE reads linearizably: the restarted member must know the leader again first.
    await waitForLeader(eps);
    assert.deepEqual(await downgradeInfo(eps[ki]), { enabled: true, targetVersion: '3.4.0' }, 'from its own disk after SIGKILL');
    const v = await downgradeError(eps[ki], VALIDATE, '3.4');
    assert.deepEqual([v.code, v.details], [grpc.status.FAILED_PRECONDITION, IN_PROGRESS]);

    assert.equal((await downgrade(eps[ki], CANCEL)).version, '3.5.0');
    const again = await downgradeError(eps[fi], CANCEL);
    assert.deepEqual([again.code, again.details], [grpc.status.FAILED_PRECONDITION, NO_INFLIGHT], 'CANCEL again, on another member');
    for (const ep of eps) {
      await until(`${ep} sees the cancel`, async () => ((await downgradeInfo(ep))?.enabled === false ? true : undefined), 5000);
    }
  });
});
