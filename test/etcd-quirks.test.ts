// etcd 3.4's answers in the corners, quirks included (clients were written against them): each
// test states what etcd answers and checks that we answer the same. Run with TEST_AGAINST_ETCD=1
// to check the expectations against real etcd 3.4. Found by the differential test
// (test/differential/), one test per class of mismatch.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
// The server's codec limits, for this client too (a chain of 129 nested txns is deeper than
// protobufjs's default).
import { protoType } from '../src/pb/load';
import { startServer, type ServerProcess } from './helpers/server-process';
import { b, call, callError, kvClient, serviceClient, type Msg } from './helpers/grpc-client';
import { WatchClient } from './helpers/watch-client';

const AGAINST_ETCD = process.env.TEST_AGAINST_ETCD === '1';
const ZERO = Buffer.from([0]);
const keys = (r: Msg): string[] => r.kvs.map((kv: Msg) => kv.key.toString());
const rev = (r: Msg): number => Number(r.header.revision);
// Compare targets and results, sort orders and targets (etcdserverpb's enum numbers).
const VERSION = 0;
const VALUE = 3;
const EQUAL = 0;
const NOT_EQUAL = 3;
const GREATER = 1;
const ASCEND = 1;
const DESCEND = 2;
const SORT_BY_VERSION = 1;

async function expectError(kv: grpc.Client, method: string, req: Msg, code: grpc.status, message: string): Promise<void> {
  const err = await callError(kv, method, req);
  assert.deepEqual([grpc.status[err.code], err.details], [grpc.status[code], message]);
}

/** A fresh server for one describe block, with a KV and a Lease client; writes run in before(). */
function freshServer(setup: (kv: grpc.Client) => Promise<void> = async () => undefined): { server: () => ServerProcess; kv: () => grpc.Client; lease: () => grpc.Client } {
  let server: ServerProcess | undefined;
  let kv: grpc.Client | undefined;
  let lease: grpc.Client | undefined;
  before(async () => {
    server = await startServer();
    kv = kvClient(server.endpoint);
    lease = serviceClient('Lease', server.endpoint);
    await setup(kv);
  });
  after(async () => {
    kv?.close();
    lease?.close();
    await server?.cleanup();
  });
  const need = <T>(x: T | undefined): T => {
    if (x === undefined) throw new Error('the server is not up');
    return x;
  };
  return { server: () => need(server), kv: () => need(kv), lease: () => need(lease) };
}

describe('a fresh store (never compacted)', () => {
  const s = freshServer(async (kv) => {
    await call(kv, 'Put', { key: b('a'), value: b('1') });
  });

  test('a negative revision in a txn range: -1 reads the head, below -1 is compacted (etcd has compacted to -1)', async () => {
    const head = rev(await call(s.kv(), 'Range', { key: b('a') }));
    const r = await call(s.kv(), 'Txn', { success: [{ request_range: { key: b('a'), revision: -1 } }] });
    assert.deepEqual([keys(r.responses[0].response_range), rev(r.responses[0].response_range)], [['a'], head]);
    await expectError(s.kv(), 'Txn', { success: [{ request_range: { key: b('a'), revision: -2 } }] }, grpc.status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted');
    // Outside a txn any revision <= 0 reads the head.
    assert.deepEqual(keys(await call(s.kv(), 'Range', { key: b('a'), revision: -7 })), ['a']);
  });

  test('a watch from a revision below -1 is created, then canceled as compacted at -1', async () => {
    const w = new WatchClient(s.server().endpoint);
    try {
      w.create({ key: b('a'), start_revision: -5 });
      const created = await w.next();
      assert.deepEqual([created.created, created.canceled, created.watch_id], [true, false, '0']);
      const canceled = await w.next();
      assert.deepEqual([canceled.watch_id, canceled.canceled, canceled.created, canceled.compact_revision, canceled.header.revision], ['0', true, false, '-1', '0']);
      // Watch IDs go on from there.
      w.create({ key: b('a') });
      assert.equal((await w.next()).watch_id, '1');
    } finally {
      w.close();
    }
  });

  test('a watcher canceled by compaction keeps its ID until the client cancels it', async () => {
    const w = new WatchClient(s.server().endpoint);
    try {
      w.create({ key: b('a'), start_revision: -5, watch_id: 5 });
      assert.equal((await w.next()).watch_id, '5');
      assert.equal((await w.next()).compact_revision, '-1');
      // The ID is taken: chosen again it is refused, auto IDs skip it.
      w.create({ key: b('a'), watch_id: 5 });
      const dup = await w.next();
      assert.deepEqual([dup.watch_id, dup.created, dup.canceled, dup.cancel_reason], ['-1', true, true, 'mvcc: duplicate watch ID provided on the WatchStream']);
      for (const id of ['0', '1', '2', '3', '4', '6']) {
        w.create({ key: b('a') });
        assert.equal((await w.next()).watch_id, id);
      }
      // A cancel of it is answered (with the store's revision), and frees the ID.
      const head = rev(await call(s.kv(), 'Range', { key: b('a') }));
      w.cancel(5);
      const canceled = await w.next();
      assert.deepEqual([canceled.watch_id, canceled.canceled, canceled.compact_revision, rev(canceled)], ['5', true, '0', head]);
      w.create({ key: b('a'), watch_id: 5 });
      const again = await w.next();
      assert.deepEqual([again.watch_id, again.canceled], ['5', false]);
      // A progress request is still answered.
      w.progress();
      const progress = await w.next();
      assert.deepEqual([progress.watch_id, rev(progress)], ['-1', head]);
    } finally {
      w.close();
    }
  });

  test('a watch from -1 is created and sees new events only', async () => {
    const w = new WatchClient(s.server().endpoint);
    try {
      w.create({ key: b('a'), start_revision: -1 });
      const created = await w.next();
      assert.deepEqual([created.created, created.canceled, created.watch_id], [true, false, '0']);
      // Let etcd's unsynced watcher pass (every 100 ms) run before the put.
      await new Promise((r) => setTimeout(r, 300));
      const put = await call(s.kv(), 'Put', { key: b('a'), value: b('2') });
      const ev = await w.next();
      assert.deepEqual(ev.events.map((e: Msg) => [e.kv.value.toString(), Number(e.kv.mod_revision)]), [['2', rev(put)]]);
    } finally {
      w.close();
    }
  });

  test('compact at revision 0 succeeds once; then 0 and negative revisions are compacted', async () => {
    const head = rev(await call(s.kv(), 'Range', { key: b('a') }));
    const r = await call(s.kv(), 'Compact', { revision: 0 });
    assert.equal(rev(r), head);
    await expectError(s.kv(), 'Compact', { revision: 0 }, grpc.status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted');
    await expectError(s.kv(), 'Compact', { revision: -1 }, grpc.status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted');
    await expectError(s.kv(), 'Txn', { success: [{ request_range: { key: b('a'), revision: -1 } }] }, grpc.status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted');
    assert.deepEqual(keys(await call(s.kv(), 'Range', { key: b('a'), revision: -1 })), ['a']);
  });
});

describe('compact below the first revision of a fresh store', () => {
  const s = freshServer();

  test('compact -1 is compacted, a future revision is future', async () => {
    await expectError(s.kv(), 'Compact', { revision: -1 }, grpc.status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted');
    await expectError(s.kv(), 'Compact', { revision: 100 }, grpc.status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision');
  });
});

describe('txn and range corners', () => {
  const s = freshServer(async (kv) => {
    // s/a=3 s/b=1 s/c=2
    await call(kv, 'Put', { key: b('s/a'), value: b('3') });
    await call(kv, 'Put', { key: b('s/b'), value: b('1') });
    await call(kv, 'Put', { key: b('s/c'), value: b('2') });
  });

  test('a Range whose range_end is sent empty reads every key from key on', async () => {
    // Go tells an empty field sent from one not sent; protobufjs clients send it when set.
    assert.equal(Number((await call(s.kv(), 'Range', { key: b('s/b'), range_end: Buffer.alloc(0), count_only: true })).count), 2);
    assert.equal(Number((await call(s.kv(), 'Range', { key: b('s/b'), count_only: true })).count), 1);
  });

  test('in a read-only txn a range_end sent empty is from-key too (compares and ranges); in a txn that writes it is one key', async () => {
    const EMPTY = Buffer.alloc(0);
    const fromB = { key: b('s/b'), range_end: EMPTY, count_only: true };
    // VALUE == "1" holds for s/b alone, not for s/b and s/c.
    const cmp = { key: b('s/b'), range_end: EMPTY, target: VALUE, result: EQUAL, value: b('1') };
    const ro = await call(s.kv(), 'Txn', { compare: [cmp], success: [{ request_range: fromB }], failure: [{ request_range: fromB }] });
    assert.deepEqual([ro.succeeded, Number(ro.responses[0].response_range.count)], [false, 2]);
    // A nested txn makes the txn a write for etcd (it goes through raft, whose encoding drops the
    // empty field): one key.
    const nested = { request_txn: { success: [{ request_range: fromB }] } };
    const rw = await call(s.kv(), 'Txn', { compare: [cmp], success: [{ request_range: fromB }, nested], failure: [] });
    assert.deepEqual([rw.succeeded, Number(rw.responses[0].response_range.count), Number(rw.responses[1].response_txn.responses[0].response_range.count)], [true, 1, 1]);
  });

  test('a nested txn response carries an empty header; its ops carry their revision', async () => {
    const head = rev(await call(s.kv(), 'Range', { key: b('s/a') }));
    const r = await call(s.kv(), 'Txn', { success: [{ request_txn: { success: [{ request_range: { key: b('s/a') } }] } }] });
    assert.equal(rev(r), head);
    const nested = r.responses[0].response_txn;
    assert.deepEqual(nested.header, { cluster_id: '0', member_id: '0', revision: '0', raft_term: '0' });
    assert.equal(rev(nested.responses[0].response_range), head);
    assert.equal(nested.responses[0].response_range.header.member_id, '0');
  });

  test('an out-of-range sort order serves keys unsorted (in key order), also in a txn', async () => {
    const req = { key: b('s/'), range_end: b('s0'), sort_target: VALUE, sort_order: 7 };
    assert.deepEqual(keys(await call(s.kv(), 'Range', req)), ['s/a', 's/b', 's/c']);
    assert.deepEqual(keys(await call(s.kv(), 'Range', { ...req, limit: 2 })), ['s/a', 's/b']);
    // An out-of-range target with an out-of-range order is not sorted either.
    assert.deepEqual(keys(await call(s.kv(), 'Range', { ...req, sort_target: 9 })), ['s/a', 's/b', 's/c']);
    const t = await call(s.kv(), 'Txn', { success: [{ request_range: req }] });
    assert.deepEqual(keys(t.responses[0].response_range), ['s/a', 's/b', 's/c']);
  });

  test('an out-of-range sort target with a real order: etcd 3.4 panics, we refuse the request', async (t) => {
    if (AGAINST_ETCD) {
      t.diagnostic('not sent to etcd: etcd 3.4 crashes on it (sort.Sort on a nil sorter)');
      return;
    }
    for (const sort_order of [0, 1, 2]) {
      await expectError(s.kv(), 'Range', { key: b('s/'), range_end: b('s0'), sort_target: 9, sort_order }, grpc.status.INVALID_ARGUMENT, 'etcdserver: invalid sort option');
    }
  });

  test('an empty RequestOp anywhere in a txn refuses the whole txn, taken branch or not', async () => {
    const msg = 'etcdserver: key not found';
    await expectError(s.kv(), 'Txn', { success: [{}] }, grpc.status.INVALID_ARGUMENT, msg);
    await expectError(s.kv(), 'Txn', { success: [{ request_put: { key: b('s/x'), value: b('1') } }], failure: [{}] }, grpc.status.INVALID_ARGUMENT, msg);
    await expectError(s.kv(), 'Txn', { success: [{ request_txn: { failure: [{}] } }] }, grpc.status.INVALID_ARGUMENT, msg);
    assert.deepEqual(keys(await call(s.kv(), 'Range', { key: b('s/x') })), [], 'nothing written');
  });

  test('a from-key delete does not conflict with a put in the same txn; both apply at one revision', async () => {
    const head = rev(await call(s.kv(), 'Range', { key: b('s/a') }));
    const r = await call(s.kv(), 'Txn', {
      success: [{ request_delete_range: { key: b('u/'), range_end: ZERO } }, { request_put: { key: b('u/x'), value: b('new') } }],
    });
    assert.equal(rev(r), head + 1);
    const got = await call(s.kv(), 'Range', { key: b('u/x') });
    assert.deepEqual([keys(got), got.kvs[0].value.toString(), Number(got.kvs[0].mod_revision)], [['u/x'], 'new', head + 1]);
    // A delete whose end is below its key deletes nothing and conflicts with nothing.
    const r2 = await call(s.kv(), 'Txn', { success: [{ request_delete_range: { key: b('u/x'), range_end: b('u/') } }, { request_put: { key: b('u/x'), value: b('2') } }] });
    assert.equal(Number(r2.responses[0].response_delete_range.deleted), 0);
    // A real overlap is still refused.
    await expectError(s.kv(), 'Txn', { success: [{ request_delete_range: { key: b('u/'), range_end: b('u0') } }, { request_put: { key: b('u/x'), value: b('3') } }] }, grpc.status.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request');
  });

  test('an out-of-range compare result is true; an out-of-range target compares as equal', async () => {
    const txn = async (compare: Msg): Promise<boolean> => (await call(s.kv(), 'Txn', { compare: [compare] })).succeeded;
    assert.equal(await txn({ key: b('s/a'), target: VERSION, result: 9, version: 100 }), true);
    assert.equal(await txn({ key: b('nope'), target: VERSION, result: 9, version: 100 }), true);
    assert.equal(await txn({ key: b('s/a'), target: 9, result: EQUAL, version: 100 }), true);
    assert.equal(await txn({ key: b('s/a'), target: 9, result: NOT_EQUAL, version: 100 }), false);
    assert.equal(await txn({ key: b('s/a'), target: 9, result: GREATER, version: 0 }), false);
    assert.equal(await txn({ key: b('nope'), target: 9, result: EQUAL }), true);
    // A VALUE compare on a missing key fails whatever the result.
    assert.equal(await txn({ key: b('nope'), target: VALUE, result: 9, value: b('') }), false);
  });

  test('nested txns count against the op budget: a nested txn gets 128 minus its parent\'s count', async () => {
    const puts = (n: number, p: string): Msg[] => Array.from({ length: n }, (_, i) => ({ request_put: { key: b(`${p}${i}`), value: b('v') } }));
    const msg = 'etcdserver: too many operations in txn request';
    await expectError(s.kv(), 'Txn', { success: [...puts(99, 'b/'), { request_txn: { success: puts(29, 'n/') } }] }, grpc.status.INVALID_ARGUMENT, msg);
    const ok = await call(s.kv(), 'Txn', { success: [...puts(99, 'b/'), { request_txn: { success: puts(28, 'n/') } }] });
    assert.equal(ok.responses.length, 100);
    // A chain of one-op txns: 128 levels fit, 129 do not.
    const chain = (depth: number): Msg => (depth === 0 ? { request_range: { key: b('s/a') } } : { request_txn: { success: [chain(depth - 1)] } });
    await call(s.kv(), 'Txn', { success: [chain(127)] });
    await expectError(s.kv(), 'Txn', { success: [chain(128)] }, grpc.status.INVALID_ARGUMENT, msg);
  });

  test('txn checks: every put of the taken path first, then the ranges; ignore_value before the lease (a Put alone: the lease first)', async () => {
    const head = rev(await call(s.kv(), 'Range', { key: b('s/a') }));
    await expectError(s.kv(), 'Txn', { success: [{ request_range: { key: b('s/a'), revision: head + 10 } }, { request_put: { key: b('s/z'), value: b(''), lease: 12345 } }] }, grpc.status.NOT_FOUND, 'etcdserver: requested lease not found');
    await expectError(s.kv(), 'Txn', { success: [{ request_put: { key: b('s/missing'), ignore_value: true, lease: 12345 } }] }, grpc.status.INVALID_ARGUMENT, 'etcdserver: key not found');
    // A Put on its own checks the lease first.
    await expectError(s.kv(), 'Put', { key: b('s/missing'), ignore_value: true, lease: 12345 }, grpc.status.NOT_FOUND, 'etcdserver: requested lease not found');
    await expectError(s.kv(), 'Txn', { success: [{ request_range: { key: b('s/a'), revision: head + 10 } }, { request_txn: { success: [{ request_put: { key: b('s/z'), value: b(''), lease: 12345 } }] } }] }, grpc.status.NOT_FOUND, 'etcdserver: requested lease not found');
    // A read-only txn checks its ranges only.
    await expectError(s.kv(), 'Txn', { success: [{ request_range: { key: b('s/a'), revision: head + 10 } }] }, grpc.status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision');
  });
});

describe('sorted ranges with ties', () => {
  const s = freshServer(async (kv) => {
    // st/00..st/39 at versions 1-3 (i*7 mod 3 + 1): many keys share a version.
    for (let i = 0; i < 40; i++) for (let v = 0; v <= (i * 7) % 3; v++) await call(kv, 'Put', { key: b(`st/${String(i).padStart(2, '0')}`), value: b('x') });
  });

  test('keys with equal versions come in the order of etcd\'s unstable sort (Go\'s pdqsort), not key order', async () => {
    const order = async (sort_order: number): Promise<string> =>
      (await call(s.kv(), 'Range', { key: b('st/'), range_end: b('st0'), sort_target: SORT_BY_VERSION, sort_order })).kvs.map((kv: Msg) => kv.key.toString().slice(3)).join(' ');
    assert.equal(await order(ASCEND), '15 39 36 03 33 30 06 27 24 09 00 21 12 18 10 04 16 01 13 19 37 34 22 31 28 25 07 14 08 29 05 23 32 26 11 35 02 20 38 17');
    assert.equal(await order(DESCEND), '14 38 02 35 32 05 29 26 08 23 20 11 17 10 04 01 16 37 34 19 13 31 22 28 07 25 00 24 09 06 30 21 27 33 36 03 18 12 15 39');
  });
});

describe('transport and watch replies', () => {
  const s = freshServer();

  test('a message past the gRPC limit gets grpc-go\'s error text', async () => {
    const big = serviceClient('KV', s.server().endpoint);
    try {
      const value = Buffer.alloc(2 * 1024 * 1024 + 10, 1);
      const err = await callError(big, 'Put', { key: b('big'), value });
      assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.match(err.details, /^grpc: received message larger than max \(\d+ vs\. 2097152\)$/);
    } finally {
      big.close();
    }
  });

  test('the request size limit counts the raft entry as etcd encodes it', async () => {
    // etcd's entry: the PutRequest (key "k" and the value: 7 bytes beside it) as a field
    // (1-byte tag, 3-byte length), and a header of 4 bytes plus a request ID of 7 to 10 bytes
    // (by member). Under 1.5 MiB for every member:
    const limit = 1.5 * 1024 * 1024;
    const fits = limit - (1 + 3 + 7 + 4 + 10);
    await call(s.kv(), 'Put', { key: b('k'), value: Buffer.alloc(fits, 1) });
    // Over it for every member:
    await expectError(s.kv(), 'Put', { key: b('k'), value: Buffer.alloc(limit - (1 + 3 + 7 + 4 + 7) + 1, 1) }, grpc.status.INVALID_ARGUMENT, 'etcdserver: request is too large');
  });

  test('a watch replay of several big events comes in one response', async () => {
    const value = Buffer.alloc(1024 * 1024, 7);
    const first = rev(await call(s.kv(), 'Put', { key: b('big/1'), value }));
    await call(s.kv(), 'Put', { key: b('big/2'), value });
    await call(s.kv(), 'Put', { key: b('big/3'), value });
    const w = new WatchClient(s.server().endpoint, undefined, { 'grpc.max_receive_message_length': -1 });
    try {
      w.create({ key: b('big/'), range_end: b('big0'), start_revision: first });
      assert.equal((await w.next()).created, true);
      const r = await w.next(10_000);
      assert.equal(r.events.length, 3);
    } finally {
      w.close();
    }
  });

  test('a fragmenting watcher gets a reply whole when its encoded size is under 2 MiB by one byte, in pieces at 2 MiB', async () => {
    // etcd fragments above its request limit (1.5 MiB) plus gRPC's allowance (512 KiB), by the
    // reply's encoded size: computed here for two PUT events, header and all.
    const LIMIT = 2 * 1024 * 1024;
    const WatchResponse = protoType('etcdserverpb.WatchResponse');
    const A = 1024 * 1024;
    const first = await call(s.kv(), 'Put', { key: b('frag/a1'), value: Buffer.alloc(A, 1) });
    const r1 = rev(first);
    const last = r1 + 3;
    const kv = (key: string, r: number, size: number): Msg => ({ key: b(key), create_revision: r, mod_revision: r, version: 1, value: Buffer.alloc(size, 1) });
    const size = (k1: string, k2: string, r: number, bSize: number): number =>
      WatchResponse.encode({ header: { ...first.header, revision: last }, events: [{ kv: kv(k1, r, A) }, { kv: kv(k2, r + 1, bSize) }] }).finish().length;
    const fit = (k1: string, k2: string, r: number, target: number): number => {
      let bSize = target - A;
      while (size(k1, k2, r, bSize) > target) bSize--;
      assert.equal(size(k1, k2, r, bSize), target, 'no value size gives the target exactly');
      return bSize;
    };
    await call(s.kv(), 'Put', { key: b('frag/a2'), value: Buffer.alloc(fit('frag/a1', 'frag/a2', r1, LIMIT - 1), 1) });
    await call(s.kv(), 'Put', { key: b('frag/b1'), value: Buffer.alloc(A, 1) });
    await call(s.kv(), 'Put', { key: b('frag/b2'), value: Buffer.alloc(fit('frag/b1', 'frag/b2', r1 + 2, LIMIT), 1) });
    const replies = async (prefix: string, from: number, count: number): Promise<Msg[]> => {
      const w = new WatchClient(s.server().endpoint, undefined, { 'grpc.max_receive_message_length': -1 });
      try {
        w.create({ key: b(prefix), range_end: b(`${prefix}\xff`), start_revision: from, fragment: true });
        assert.equal((await w.next()).created, true);
        const out: Msg[] = [];
        while (out.reduce((n, m) => n + m.events.length, 0) < 2) out.push(await w.next(10_000));
        assert.equal(out.length, count);
        return out;
      } finally {
        w.close();
      }
    };
    assert.deepEqual((await replies('frag/a', r1, 1)).map((m) => [m.events.length, m.fragment]), [[2, false]]);
    assert.deepEqual((await replies('frag/b', r1 + 2, 2)).map((m) => [m.events.length, m.fragment]), [[1, true], [1, false]]);
  });

  test('a catching-up watcher\'s reply carries the store\'s revision, however much history lies between', async () => {
    const from = rev(await call(s.kv(), 'Put', { key: b('lag/k'), value: b('v') }));
    let head = 0;
    for (let i = 0; i < 6; i++) head = rev(await call(s.kv(), 'Put', { key: b(`lag/big${i}`), value: Buffer.alloc(1024 * 1024, 2) }));
    const w = new WatchClient(s.server().endpoint);
    try {
      w.create({ key: b('lag/k'), start_revision: from });
      assert.equal((await w.next()).created, true);
      const r = await w.next(10_000);
      assert.deepEqual([r.events.length, rev(r)], [1, head]);
    } finally {
      w.close();
    }
  });

  test('a catching-up watcher gets all its events in one reply, however much other history lies between', async () => {
    const from = rev(await call(s.kv(), 'Put', { key: b('grp/k'), value: b('v0') }));
    for (let i = 1; i <= 6; i++) {
      await call(s.kv(), 'Put', { key: b('grp/big'), value: Buffer.alloc(1024 * 1024, 3) });
      await call(s.kv(), 'Put', { key: b('grp/k'), value: b(`v${i}`) });
    }
    const w = new WatchClient(s.server().endpoint);
    try {
      w.create({ key: b('grp/k'), start_revision: from });
      assert.equal((await w.next()).created, true);
      assert.equal((await w.next(10_000)).events.length, 7);
    } finally {
      w.close();
    }
  });

  // A deliberate difference: etcd's notify sends a synced watcher each txn's events in a reply of
  // their own, its header at that revision; etcd-ts sends one reply per applied batch, its header
  // at the batch's revision (a quarter as many replies in the watch benchmark). What etcd
  // documents holds for both, and is what this checks of etcd-ts: a reply's revisions come
  // whole and in order (watch-semantics.test.ts checks it with txns), its header at or past them.
  test('a synced watcher gets writes applied together: etcd one reply per revision, etcd-ts whole revisions per reply', async () => {
    const w = new WatchClient(s.server().endpoint);
    try {
      w.create({ key: b('conc/'), range_end: b('conc0') });
      assert.equal((await w.next()).created, true);
      // 60 puts at once: we apply them in a few batches.
      await Promise.all(Array.from({ length: 60 }, (_, i) => call(s.kv(), 'Put', { key: b(`conc/${i}`), value: b('v') })));
      let events = 0;
      let last = 0;
      while (events < 60) {
        const r = await w.next(10_000);
        const revs = r.events.map((e: Msg) => Number(e.kv.mod_revision));
        if (AGAINST_ETCD) assert.deepEqual([...new Set(revs), rev(r)], [rev(r), rev(r)]);
        else {
          assert.ok(revs[0] > last && revs.every((x: number, i: number) => i === 0 || x > revs[i - 1]), `revisions out of order: ${revs}`);
          assert.ok(rev(r) >= revs[revs.length - 1], `header ${rev(r)} behind its events`);
          last = revs[revs.length - 1];
        }
        events += r.events.length;
      }
    } finally {
      w.close();
    }
  });

  test('a watch event\'s prev_kv is the key before the txn, also when the txn wrote the key twice (live and replayed)', async () => {
    await call(s.kv(), 'Put', { key: b('tx/c'), value: b('v0') });
    const live = new WatchClient(s.server().endpoint);
    try {
      live.create({ key: b('tx/'), range_end: b('tx0'), prev_kv: true });
      assert.equal((await live.next()).created, true);
      const fromKey = { request_delete_range: { key: b('tx/'), range_end: ZERO } };
      // Put then delete: etcd's delete event shows v0 (before the txn), not the put's v1; the key
      // created and deleted in the txn has no prev_kv at all.
      const first = rev(await call(s.kv(), 'Txn', { success: [{ request_put: { key: b('tx/c'), value: b('v1') } }, { request_put: { key: b('tx/d'), value: b('new') } }, fromKey] }));
      await call(s.kv(), 'Put', { key: b('tx/c'), value: b('v2') });
      // Delete then put: the put creates the key again, and etcd gives a put that creates a key no
      // prev_kv, though v2 was there before the txn.
      await call(s.kv(), 'Txn', { success: [fromKey, { request_put: { key: b('tx/c'), value: b('v3') } }] });
      const shape = (evs: Msg[]): string[] => evs.map((e) => `${e.type === 0 ? 'PUT' : 'DELETE'} ${e.kv.key.toString()} prev=${e.prev_kv === null || e.prev_kv === undefined ? '-' : e.prev_kv.value.toString()}`);
      const want = ['PUT tx/c prev=v0', 'PUT tx/d prev=-', 'DELETE tx/c prev=v0', 'DELETE tx/d prev=-', 'PUT tx/c prev=-', 'DELETE tx/c prev=v2', 'PUT tx/c prev=-'];
      assert.deepEqual(shape(await live.events(want.length)), want);
      const replay = new WatchClient(s.server().endpoint);
      try {
        replay.create({ key: b('tx/'), range_end: b('tx0'), prev_kv: true, start_revision: first });
        assert.equal((await replay.next()).created, true);
        assert.deepEqual(shape(await replay.events(want.length)), want);
      } finally {
        replay.close();
      }
    } finally {
      live.close();
    }
  });
});

describe('leases', () => {
  const s = freshServer();

  test('LeaseLeases lists the leases soonest to expire first', async () => {
    for (const [ID, TTL] of [[1, 3000], [2, 600], [3, 1200]]) await call(s.lease(), 'LeaseGrant', { ID, TTL });
    const r = await call(s.lease(), 'LeaseLeases', {});
    assert.deepEqual(r.leases.map((l: Msg) => String(l.ID)), ['2', '3', '1']);
  });
});
