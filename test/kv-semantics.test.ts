// KV semantics over real gRPC against the real server process: Range options, Put and
// DeleteRange flags, Txn compares, branches, nesting and revisions, response headers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type * as grpc from '@grpc/grpc-js';
import { startServer, type ServerProcess } from './helpers/server-process';
import { b, call, kvClient, maintenanceClient, type Msg } from './helpers/grpc-client';

const keys = (r: Msg): string[] => r.kvs.map((kv: Msg) => kv.key.toString());
const ZERO = Buffer.from([0]);

describe('KV semantics', () => {
  let server: ServerProcess;
  let kv: grpc.Client;
  let base = 0;

  before(async () => {
    server = await startServer();
    kv = kvClient(server.endpoint);
    // s/a v=3 (versions 1..2), s/b v=1, s/c v=2, t/x: revisions base+1..base+5
    base = Number((await call(kv, 'Range', { key: b('x') })).header.revision);
    await call(kv, 'Put', { key: b('s/a'), value: b('1') });
    await call(kv, 'Put', { key: b('s/b'), value: b('1') });
    await call(kv, 'Put', { key: b('s/c'), value: b('2') });
    await call(kv, 'Put', { key: b('s/a'), value: b('3') });
    await call(kv, 'Put', { key: b('t/x'), value: b('0') });
  });

  after(async () => {
    kv?.close();
    await server?.cleanup();
  });

  test('headers carry cluster, member, revision and term', async () => {
    const r = await call(kv, 'Range', { key: b('s/a') });
    assert.equal(Number(r.header.revision), base + 5);
    assert.notEqual(r.header.cluster_id, '0');
    assert.notEqual(r.header.member_id, '0');
    assert.ok(Number(r.header.raft_term) >= 1);
    const st = await call(maintenanceClient(server.endpoint), 'Status', {});
    assert.equal(st.header.member_id, r.header.member_id);
    assert.equal(st.leader, r.header.member_id);
    assert.ok(Number(st.dbSize) > 0);
    assert.match(st.version, /^3\.5\./);
  });

  test('range end: single key, [key, end), "\\0" = from key', async () => {
    assert.deepEqual(keys(await call(kv, 'Range', { key: b('s/a') })), ['s/a']);
    assert.deepEqual(keys(await call(kv, 'Range', { key: b('s/'), range_end: b('s0') })), ['s/a', 's/b', 's/c']);
    assert.deepEqual(keys(await call(kv, 'Range', { key: b('s/b'), range_end: ZERO })), ['s/b', 's/c', 't/x']);
    assert.deepEqual(keys(await call(kv, 'Range', { key: ZERO, range_end: ZERO })), ['s/a', 's/b', 's/c', 't/x']);
  });

  test('limit, more and count', async () => {
    const r = await call(kv, 'Range', { key: b('s/'), range_end: b('s0'), limit: 2 });
    assert.deepEqual([keys(r), r.more, Number(r.count)], [['s/a', 's/b'], true, 3]);
    const all = await call(kv, 'Range', { key: b('s/'), range_end: b('s0'), limit: 3 });
    assert.equal(all.more, false);
    const c = await call(kv, 'Range', { key: b('s/'), range_end: b('s0'), count_only: true });
    assert.deepEqual([c.kvs.length, Number(c.count)], [0, 3]);
  });

  test('sort order and target', async () => {
    const q = { key: b('s/'), range_end: b('s0') };
    assert.deepEqual(keys(await call(kv, 'Range', { ...q, sort_order: 2 })), ['s/c', 's/b', 's/a']);
    assert.deepEqual(keys(await call(kv, 'Range', { ...q, sort_target: 3 })), ['s/b', 's/c', 's/a'], 'MOD, ascending by default');
    assert.deepEqual(keys(await call(kv, 'Range', { ...q, sort_target: 2, sort_order: 2 })), ['s/c', 's/b', 's/a'], 'CREATE descending');
    assert.deepEqual(keys(await call(kv, 'Range', { ...q, sort_target: 1, sort_order: 2, limit: 1 })), ['s/a'], 'VERSION descending, limit after sort');
    const byValue = await call(kv, 'Range', { ...q, sort_target: 4, sort_order: 1 });
    assert.deepEqual(byValue.kvs.map((x: Msg) => x.value.toString()), ['1', '2', '3']);
  });

  test('min/max mod and create revision filters; keys_only; revision', async () => {
    const q = { key: b('s/'), range_end: b('s0') };
    assert.deepEqual(keys(await call(kv, 'Range', { ...q, min_mod_revision: base + 3 })), ['s/a', 's/c']);
    assert.deepEqual(keys(await call(kv, 'Range', { ...q, max_mod_revision: base + 3 })), ['s/b', 's/c']);
    assert.deepEqual(keys(await call(kv, 'Range', { ...q, min_create_revision: base + 2 })), ['s/b', 's/c']);
    assert.deepEqual(keys(await call(kv, 'Range', { ...q, max_create_revision: base + 1 })), ['s/a']);
    const ko = await call(kv, 'Range', { ...q, keys_only: true });
    assert.ok(ko.kvs.every((x: Msg) => x.value.length === 0));
    const old = await call(kv, 'Range', { key: b('s/a'), revision: base + 1 });
    assert.deepEqual([old.kvs[0].value.toString(), Number(old.kvs[0].version), Number(old.header.revision)], ['1', 1, base + 5]);
  });

  test('put prev_kv, ignore_value, ignore_lease; delete prev_kv and deleted count', async () => {
    const p = await call(kv, 'Put', { key: b('p'), value: b('one') });
    const p2 = await call(kv, 'Put', { key: b('p'), value: b('two'), prev_kv: true });
    assert.equal(Number(p2.header.revision), Number(p.header.revision) + 1);
    assert.equal(p2.prev_kv.value.toString(), 'one');
    await call(kv, 'Put', { key: b('p'), ignore_value: true });
    const got = await call(kv, 'Range', { key: b('p') });
    assert.deepEqual([got.kvs[0].value.toString(), Number(got.kvs[0].version)], ['two', 3]);
    await call(kv, 'Put', { key: b('p2'), value: b('') });
    const d = await call(kv, 'DeleteRange', { key: b('p'), range_end: b('p3'), prev_kv: true });
    assert.equal(Number(d.deleted), 2);
    assert.deepEqual(d.prev_kvs.map((x: Msg) => [x.key.toString(), x.value.toString()]), [['p', 'two'], ['p2', '']]);
    const none = await call(kv, 'DeleteRange', { key: b('p') });
    assert.equal(Number(none.deleted), 0);
    assert.equal(Number(none.header.revision), Number(d.header.revision), 'deleting nothing keeps the revision');
  });

  test('txn: compares on every target, both branches, one revision for all writes', async () => {
    const cur = await call(kv, 'Range', { key: b('s/a') });
    const a = cur.kvs[0];
    const cmp = (target: number, result: number, field: string, value: unknown, key = 's/a'): Msg => ({ key: b(key), target, result, [field]: value });
    const yes = [
      cmp(0, 0, 'version', 2),
      cmp(1, 0, 'create_revision', a.create_revision),
      cmp(2, 0, 'mod_revision', a.mod_revision),
      cmp(3, 0, 'value', b('3')),
      cmp(4, 0, 'lease', 0),
      cmp(0, 1, 'version', 1),
      cmp(2, 2, 'mod_revision', Number(a.mod_revision) + 1),
      cmp(3, 3, 'value', b('x')),
      cmp(0, 0, 'version', 0, 'nope'),
    ];
    const t = await call(kv, 'Txn', {
      compare: yes,
      success: [{ request_put: { key: b('w1'), value: b('1') } }, { request_put: { key: b('w2'), value: b('2') } }, { request_range: { key: b('w1') } }],
      failure: [{ request_put: { key: b('wrong'), value: b('x') } }],
    });
    assert.equal(t.succeeded, true);
    const rev = Number(t.header.revision);
    assert.equal(rev, Number(cur.header.revision) + 1);
    assert.equal(Number(t.responses[0].response_put.header.revision), rev);
    assert.equal(t.responses[2].response_range.kvs[0].value.toString(), '1', 'a read in a txn sees its earlier writes');
    const w = await call(kv, 'Range', { key: b('w'), range_end: b('x') });
    assert.deepEqual(w.kvs.map((x: Msg) => Number(x.mod_revision)), [rev, rev]);

    const f = await call(kv, 'Txn', { compare: [cmp(3, 0, 'value', b('nope'))], success: [{ request_put: { key: b('wrong'), value: b('x') } }], failure: [{ request_range: { key: b('w1') } }] });
    assert.equal(f.succeeded, false);
    assert.equal(Number(f.header.revision), rev, 'a read-only branch does not move the revision');
    assert.equal((await call(kv, 'Range', { key: b('wrong') })).kvs.length, 0);
    // Comparing the value of a missing key is always false, whatever the operator.
    const missing = await call(kv, 'Txn', { compare: [cmp(3, 3, 'value', b('x'), 'nope')] });
    assert.equal(missing.succeeded, false);
  });

  test('txn: compares with range_end apply to every key in the range', async () => {
    const all = { key: b('s/'), range_end: b('s0'), target: 0, result: 1, version: 0 };
    assert.equal((await call(kv, 'Txn', { compare: [all] })).succeeded, true);
    assert.equal((await call(kv, 'Txn', { compare: [{ ...all, version: 1 }] })).succeeded, false, 's/b has version 1');
  });

  test('nested txn: compares are judged before any write of the outer txn', async () => {
    const t = await call(kv, 'Txn', {
      success: [
        { request_put: { key: b('n1'), value: b('v') } },
        {
          request_txn: {
            compare: [{ key: b('n1'), target: 0, result: 0, version: 0 }],
            success: [{ request_put: { key: b('n2'), value: b('then') } }],
            failure: [{ request_put: { key: b('n2'), value: b('else') } }],
          },
        },
      ],
    });
    assert.equal(t.responses[1].response_txn.succeeded, true, 'n1 did not exist when the txn began');
    assert.equal((await call(kv, 'Range', { key: b('n2') })).kvs[0].value.toString(), 'then');
  });

  test('large values and empty values round-trip; a large range is not capped', async () => {
    const big = Buffer.alloc(1024 * 1024, 0x5a);
    await call(kv, 'Put', { key: b('big/1'), value: big });
    await call(kv, 'Put', { key: b('big/2'), value: big });
    await call(kv, 'Put', { key: b('big/3'), value: big });
    await call(kv, 'Put', { key: b('big/4'), value: big });
    await call(kv, 'Put', { key: b('big/5'), value: big });
    const r = await call(kv, 'Range', { key: b('big/'), range_end: b('big0') });
    assert.equal(r.kvs.length, 5, 'a 5 MiB response is sent whole');
    assert.ok(r.kvs.every((x: Msg) => x.value.equals(big)));
    await call(kv, 'Put', { key: b('empty'), value: Buffer.alloc(0) });
    const e = await call(kv, 'Range', { key: b('empty') });
    assert.deepEqual([e.kvs.length, e.kvs[0].value.length], [1, 0]);
  });

  test('keys longer than 2 KB keep their order (LMDB caps its own keys)', async () => {
    const p = 'L/' + 'k'.repeat(3000);
    const ks = [p + 'c', p + 'a', p, p + 'b'.repeat(10_000)];
    for (const k of ks) await call(kv, 'Put', { key: b(k), value: b(k.slice(-1)) });
    const r = await call(kv, 'Range', { key: b('L/'), range_end: b('L0') });
    assert.deepEqual(keys(r), [p, p + 'a', p + 'b'.repeat(10_000), p + 'c']);
    const one = await call(kv, 'Range', { key: b(p + 'a') });
    assert.deepEqual(keys(one), [p + 'a']);
    const d = await call(kv, 'DeleteRange', { key: b(p + 'a'), range_end: b(p + 'c') });
    assert.equal(Number(d.deleted), 2);
    assert.deepEqual(keys(await call(kv, 'Range', { key: b('L/'), range_end: b('L0') })), [p, p + 'c']);
  });
});
