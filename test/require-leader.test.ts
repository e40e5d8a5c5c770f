// Calls that carry etcd's require-leader metadata ("hasleader": "true", clientv3.WithRequireLeader):
// on a member without a leader every service fails them at once with `etcdserver: no leader`
// (UNAVAILABLE), unary and streaming alike, as etcd's gRPC interceptors do; a watch stream opened
// with it is ended when the member loses its leader. Without the metadata, the reads that need no
// leader answer from the member's own state, as on etcd.
//
// What etcd 3.4.23 answers on a leaderless member (3 members on loopback, two killed; the same
// whether the survivor had led or followed):
//   with the metadata: every unary call of KV, Lease, Cluster, Maintenance and the Watch and
//     LeaseKeepAlive streams → UNAVAILABLE "etcdserver: no leader" at once (< 120 ms, the first
//     call of a new channel included).
//   without it, at once: serializable Range, a Txn of serializable ranges, LeaseLeases, Watch
//     create, MemberList, Hash, HashKV answer normally; Status answers with leader 0 and
//     errors ["etcdserver: no leader"]; MoveLeader → FAILED_PRECONDITION "etcdserver: not leader".
//   without it, after etcd's request timeout (5 s + 2 × election timeout = 7 s): linearizable
//     Range → UNAVAILABLE "etcdserver: request timed out"; Put, DeleteRange, Txn with a put,
//     Compact, LeaseGrant, LeaseRevoke, Alarm → UNKNOWN "context deadline exceeded";
//     LeaseTimeToLive and LeaseKeepAlive → UNAVAILABLE "etcdserver: no leader". Those slow ones
//     are not asserted here (they are timeouts, not reads that need no leader).
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { startCluster, until, waitForLeader, type Cluster } from './helpers/cluster';
import { b, call, serviceClient, type Msg } from './helpers/grpc-client';
import { WatchClient } from './helpers/watch-client';

let cluster: Cluster;
const requireLeader = (): grpc.Metadata => {
  const md = new grpc.Metadata();
  md.set('hasleader', 'true');
  return md;
};

/** Written while the cluster still had its leader, for the leaderless member to answer from. */
const seeded = { revision: '', hash: 0, compactRevision: '', leaseId: '' };

before(async () => {
  cluster = await startCluster(3);
  await waitForLeader(cluster.endpoints(), 10_000);
  const ep = cluster.endpoints()[0];
  const kv = serviceClient('KV', ep);
  const lease = serviceClient('Lease', ep);
  const maintenance = serviceClient('Maintenance', ep);
  try {
    const put = await call(kv, 'Put', { key: b('rl/k'), value: b('v') });
    seeded.revision = String(put.header.revision);
    seeded.leaseId = String((await call(lease, 'LeaseGrant', { TTL: 600 })).ID);
    // Member 0 has applied the put (it answered it, or a linearizable read here waits for it).
    await call(kv, 'Range', { key: b('rl/k') });
    const h = await call(maintenance, 'HashKV', { revision: 0 });
    assert.equal(String(h.header.revision), seeded.revision);
    seeded.hash = h.hash;
    seeded.compactRevision = String(h.compact_revision);
  } finally {
    kv.close();
    lease.close();
    maintenance.close();
  }
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

/** "At once": far below etcd's request timeout (7 s here), with room for a loaded 2-core machine. */
const AT_ONCE_MS = 1000;
/** Long enough that a call the member holds until its own request timeout shows as held. */
const CALL_DEADLINE_MS = 10_000;

interface Outcome {
  ms: number;
  value?: Msg;
  error?: grpc.ServiceError;
}

function unaryCall(c: grpc.Client, method: string, req: Msg, metadata?: grpc.Metadata): Promise<Outcome> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const fn = (c as unknown as Record<string, (r: Msg, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: Msg) => void) => void>)[method];
    fn.call(c, req, metadata ?? new grpc.Metadata(), { deadline: Date.now() + CALL_DEADLINE_MS }, (error, value) =>
      resolve(error ? { ms: Date.now() - t0, error } : { ms: Date.now() - t0, value }),
    );
  });
}

/** Opens a bidi stream, writes one request, and settles on the first reply, error or end. */
function streamCall(c: grpc.Client, method: string, first: Msg, metadata?: grpc.Metadata): Promise<Outcome> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const fn = (c as unknown as Record<string, (md: grpc.Metadata, o: grpc.CallOptions) => grpc.ClientDuplexStream<Msg, Msg>>)[method];
    const s = fn.call(c, metadata ?? new grpc.Metadata(), { deadline: Date.now() + CALL_DEADLINE_MS });
    let settled = false;
    const settle = (o: Outcome): void => {
      if (settled) return;
      settled = true;
      resolve(o);
      s.cancel();
    };
    s.on('data', (value: Msg) => settle({ ms: Date.now() - t0, value }));
    s.on('error', (error: grpc.ServiceError) => settle({ ms: Date.now() - t0, error }));
    s.on('end', () => settle({ ms: Date.now() - t0, error: Object.assign(new Error('stream ended without a reply'), { code: grpc.status.OK, details: 'ended', metadata: new grpc.Metadata() }) }));
    s.write(first);
  });
}

const describeOutcome = (o: Outcome): string => (o.error ? `${grpc.status[o.error.code]} "${o.error.details}" after ${o.ms} ms` : `a reply after ${o.ms} ms: ${JSON.stringify(o.value).slice(0, 200)}`);

/** Status says there is no leader, or a require-leader call already fails for that reason. */
async function waitLeaderless(ep: string): Promise<void> {
  const maintenance = serviceClient('Maintenance', ep);
  const kv = serviceClient('KV', ep);
  try {
    await until(
      'the member to have no leader',
      async () => {
        const st = await unaryCall(maintenance, 'Status', {});
        if (st.value !== undefined && String(st.value.leader) === '0') return true;
        const r = await unaryCall(kv, 'Range', { key: b('rl/k'), serializable: true }, requireLeader());
        return r.error?.details === 'etcdserver: no leader' ? true : undefined;
      },
      20_000,
    );
  } finally {
    maintenance.close();
    kv.close();
  }
}

test('on a leaderless member every service fails require-leader calls at once with "etcdserver: no leader"; reads that need no leader still answer as on etcd 3.4', { timeout: 90_000 }, async (t: TestContext) => {
  const ep = cluster.endpoints()[0];
  // The test above left member 0 alone; make sure of it also when this test runs by itself.
  await cluster.kill(1);
  await cluster.kill(2);
  await waitLeaderless(ep);

  const clients = {
    KV: serviceClient('KV', ep),
    Watch: serviceClient('Watch', ep),
    Lease: serviceClient('Lease', ep),
    Cluster: serviceClient('Cluster', ep),
    Maintenance: serviceClient('Maintenance', ep),
  };
  type Service = keyof typeof clients;
  const moveTarget = cluster.members[1].id;
  try {
    // Every implemented method of every service, the two bidi streams (Watch, LeaseKeepAlive)
    // among them. etcd also refuses Alarm, Defragment and Snapshot so; etcd-ts does not serve
    // those yet (UNIMPLEMENTED), so they are left out until it does.
    const withMetadata: [Service, string, Msg, 'unary' | 'stream'][] = [
      ['KV', 'Range', { key: b('rl/k'), serializable: true }, 'unary'],
      ['KV', 'Range', { key: b('rl/k') }, 'unary'],
      ['KV', 'Put', { key: b('rl/k'), value: b('w') }, 'unary'],
      ['KV', 'DeleteRange', { key: b('rl/k') }, 'unary'],
      ['KV', 'Txn', { success: [{ request_put: { key: b('rl/k'), value: b('w') } }] }, 'unary'],
      ['KV', 'Txn', { success: [{ request_range: { key: b('rl/k'), serializable: true } }] }, 'unary'],
      ['KV', 'Compact', { revision: 1 }, 'unary'],
      ['Watch', 'Watch', { create_request: { key: b('rl/k'), range_end: Buffer.alloc(0) } }, 'stream'],
      ['Lease', 'LeaseGrant', { TTL: 60 }, 'unary'],
      ['Lease', 'LeaseRevoke', { ID: seeded.leaseId }, 'unary'],
      ['Lease', 'LeaseTimeToLive', { ID: seeded.leaseId }, 'unary'],
      ['Lease', 'LeaseLeases', {}, 'unary'],
      ['Lease', 'LeaseKeepAlive', { ID: seeded.leaseId }, 'stream'],
      ['Cluster', 'MemberList', {}, 'unary'],
      ['Maintenance', 'Status', {}, 'unary'],
      ['Maintenance', 'Hash', {}, 'unary'],
      ['Maintenance', 'HashKV', { revision: 0 }, 'unary'],
      ['Maintenance', 'MoveLeader', { targetID: moveTarget }, 'unary'],
    ];
    for (const [service, method, req, kind] of withMetadata) {
      const label = `${service}.${method}${req.serializable === true ? ' (serializable)' : ''}${method === 'Txn' ? ` (${Object.keys(req.success[0]).join()})` : ''}`;
      await t.test(`with require-leader: ${label} fails at once with "etcdserver: no leader"`, async () => {
        const c = clients[service];
        const o = kind === 'unary' ? await unaryCall(c, method, req, requireLeader()) : await streamCall(c, method, req, requireLeader());
        assert.ok(o.error !== undefined, `expected "etcdserver: no leader", got ${describeOutcome(o)}`);
        assert.equal(o.error.code, grpc.status.UNAVAILABLE, describeOutcome(o));
        assert.equal(o.error.details, 'etcdserver: no leader');
        assert.ok(o.ms < AT_ONCE_MS, `answered after ${o.ms} ms`);
      });
    }

    // Without the metadata: what etcd 3.4 serves from the member's own state, at once.
    const plain = async (service: Service, method: string, req: Msg, kind: 'unary' | 'stream' = 'unary'): Promise<Msg> => {
      const c = clients[service];
      const o = kind === 'unary' ? await unaryCall(c, method, req) : await streamCall(c, method, req);
      assert.ok(o.value !== undefined, `expected a reply, got ${describeOutcome(o)}`);
      assert.ok(o.ms < AT_ONCE_MS, `answered after ${o.ms} ms`);
      return o.value;
    };
    const selfId = cluster.members[0].id;

    await t.test('without it: a serializable Range answers from the local store', async () => {
      const r = await plain('KV', 'Range', { key: b('rl/k'), serializable: true });
      assert.equal(String(r.header.member_id), selfId);
      assert.equal(String(r.header.revision), seeded.revision);
      assert.deepEqual(r.kvs.map((kv: Msg) => [kv.key.toString(), kv.value.toString()]), [['rl/k', 'v']]);
    });
    await t.test('without it: a Txn of serializable ranges answers from the local store', async () => {
      const r = await plain('KV', 'Txn', { success: [{ request_range: { key: b('rl/k'), serializable: true } }] });
      assert.equal(r.succeeded, true);
      assert.equal(r.responses[0].response_range.kvs[0].value.toString(), 'v');
    });
    await t.test('without it: a Watch is created', async () => {
      const r = await plain('Watch', 'Watch', { create_request: { key: b('rl/k'), range_end: Buffer.alloc(0) } }, 'stream');
      assert.equal(r.created, true);
      assert.equal(String(r.header.revision), seeded.revision);
    });
    await t.test('without it: LeaseLeases lists the member\'s leases', async () => {
      const r = await plain('Lease', 'LeaseLeases', {});
      assert.ok(r.leases.some((l: Msg) => String(l.ID) === seeded.leaseId), JSON.stringify(r.leases));
    });
    await t.test('without it: MemberList lists the three members', async () => {
      const r = await plain('Cluster', 'MemberList', {});
      assert.equal(String(r.header.member_id), selfId);
      assert.deepEqual(
        r.members.map((m: Msg) => [String(m.ID), m.name]).sort(),
        cluster.members.map((m) => [m.id, m.name]).sort(),
      );
    });
    await t.test('without it: Status answers with leader 0 and errors ["etcdserver: no leader"]', async () => {
      const r = await plain('Maintenance', 'Status', {});
      assert.equal(String(r.header.member_id), selfId);
      assert.equal(String(r.leader), '0');
      assert.deepEqual(r.errors, ['etcdserver: no leader']);
    });
    await t.test('without it: Hash answers', async () => {
      const r = await plain('Maintenance', 'Hash', {});
      assert.equal(typeof r.hash, 'number');
    });
    await t.test('without it: HashKV answers with the hash the member had while it had a leader', async () => {
      const r = await plain('Maintenance', 'HashKV', { revision: 0 });
      assert.equal(String(r.header.revision), seeded.revision);
      assert.equal(String(r.compact_revision), seeded.compactRevision);
      assert.equal(r.hash, seeded.hash);
    });
    await t.test('without it: MoveLeader fails at once with "etcdserver: not leader"', async () => {
      const o = await unaryCall(clients.Maintenance, 'MoveLeader', { targetID: moveTarget });
      assert.ok(o.error !== undefined, `expected "etcdserver: not leader", got ${describeOutcome(o)}`);
      assert.equal(o.error.code, grpc.status.FAILED_PRECONDITION, describeOutcome(o));
      assert.equal(o.error.details, 'etcdserver: not leader');
      assert.ok(o.ms < AT_ONCE_MS, `answered after ${o.ms} ms`);
    });
  } finally {
    for (const c of Object.values(clients)) c.close();
  }
});
