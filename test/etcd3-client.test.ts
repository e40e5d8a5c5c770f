// Acceptance: the npm etcd3 client (v1.1.2) — its KV and Txn (if(...).then(...).else(...)) paths —
// against a real etcd-ts server process.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Etcd3, type IKeyValue, type IResponseOp, type ITxnResponse } from 'etcd3';
import { startServer, type ServerProcess } from './helpers/server-process';

let server: ServerProcess | undefined;
let client: Etcd3 | undefined;

function etcd(): Etcd3 {
  if (client === undefined) throw new Error('client not started');
  return client;
}

/** The current revision of the store, from a Range header. */
async function currentRevision(): Promise<number> {
  const res = await etcd().get('rev-probe').exec();
  return Number(res.header.revision);
}

/** The one key-value of a single-key get (fails the test if the key is missing). */
async function kvOf(key: string | Buffer): Promise<IKeyValue> {
  const res = await etcd().get(key).exec();
  assert.equal(res.kvs.length, 1, `expected exactly one kv for ${String(key)}`);
  return res.kvs[0];
}

function putResponse(op: IResponseOp): IResponseOp['response_put'] {
  assert.ok(op.response_put, `expected a response_put, got ${JSON.stringify(Object.keys(op))}`);
  return op.response_put;
}

function rangeResponse(op: IResponseOp): IResponseOp['response_range'] {
  assert.ok(op.response_range, `expected a response_range, got ${JSON.stringify(Object.keys(op))}`);
  return op.response_range;
}

function deleteResponse(op: IResponseOp): IResponseOp['response_delete_range'] {
  assert.ok(op.response_delete_range, `expected a response_delete_range, got ${JSON.stringify(Object.keys(op))}`);
  return op.response_delete_range;
}

describe('etcd3 client against etcd-ts', () => {
  before(async () => {
    server = await startServer();
    client = new Etcd3({
      hosts: 'http://' + server.endpoint,
      // Fail fast instead of hanging if the server stops answering.
      defaultCallOptions: () => ({ deadline: Date.now() + 10_000 }),
    });
  });

  after(async () => {
    try {
      client?.close();
    } finally {
      await server?.cleanup();
    }
  });

  describe('put and get', () => {
    test('string values round-trip; a missing key reads as null and does not exist', async () => {
      const c = etcd();
      await c.put('pg/str').value('hello world');
      assert.equal(await c.get('pg/str').string(), 'hello world');
      assert.equal(await c.get('pg/str'), 'hello world'); // the builder itself resolves to the string
      assert.equal(await c.get('pg/str').exists(), true);
      assert.equal(await c.get('pg/missing').string(), null);
      assert.equal(await c.get('pg/missing').buffer(), null);
      assert.equal(await c.get('pg/missing').exists(), false);
    });

    test('buffer values keep every byte', async () => {
      const c = etcd();
      const value = Buffer.from([0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0x00, 0xc3, 0x28]); // includes invalid UTF-8
      await c.put('pg/buf').value(value);
      const got = await c.get('pg/buf').buffer();
      assert.ok(got !== null);
      assert.deepEqual(got, value);
    });

    test('json values', async () => {
      const c = etcd();
      const doc = { name: 'etcd-ts', n: 3, nested: { list: [1, 'two', null, true] }, unicode: 'é漢😀' };
      await c.put('pg/json').value(JSON.stringify(doc));
      assert.deepEqual(await c.get('pg/json').json(), doc);
    });

    test('number values', async () => {
      const c = etcd();
      await c.put('pg/num').value(42);
      assert.equal(await c.get('pg/num').number(), 42);
      assert.equal(await c.get('pg/num').string(), '42');
      await c.put('pg/neg').value(-1.5);
      assert.equal(await c.get('pg/neg').number(), -1.5);
    });

    test('put headers: each put takes the next revision; version and create/mod revisions follow', async () => {
      const c = etcd();
      const r1 = Number((await c.put('pg/rev').value('a').exec()).header.revision);
      const r2 = Number((await c.put('pg/rev').value('b').exec()).header.revision);
      const r3 = Number((await c.put('pg/rev-other').value('c').exec()).header.revision);
      assert.equal(r2, r1 + 1);
      assert.equal(r3, r2 + 1);
      const kv = await kvOf('pg/rev');
      assert.equal(kv.value.toString(), 'b');
      assert.equal(kv.version, '2');
      assert.equal(kv.create_revision, String(r1));
      assert.equal(kv.mod_revision, String(r2));
      assert.equal(kv.lease, '0');
      assert.equal(await currentRevision(), r3);
    });

    test('put().getPrevious(): nothing for a new key, the old version for an existing one', async () => {
      const c = etcd();
      const first = await c.put('pg/prev').value('v1').getPrevious();
      assert.equal(first.key, undefined, 'a new key has no previous version');
      assert.equal(first.value, undefined);
      const firstRev = Number(first.header.revision);
      assert.ok(firstRev > 1);

      const second = await c.put('pg/prev').value('v2').getPrevious();
      assert.ok(second.key !== undefined, 'prev_kv expected on overwrite');
      assert.equal(second.key.toString(), 'pg/prev');
      assert.equal(second.value.toString(), 'v1');
      assert.equal(second.version, '1');
      assert.equal(second.create_revision, String(firstRev));
      assert.equal(second.mod_revision, String(firstRev));
      assert.equal(Number(second.header.revision), firstRev + 1);

      const third = await c.put('pg/prev').value('v3').getPrevious();
      assert.equal(third.value.toString(), 'v2');
      assert.equal(third.version, '2');
      assert.equal(third.create_revision, String(firstRev));
      assert.equal(third.mod_revision, String(firstRev + 1));
    });

    test('empty values are stored as present keys with an empty value', async () => {
      const c = etcd();
      await c.put('pg/empty').value('');
      assert.equal(await c.get('pg/empty').string(), '');
      assert.equal(await c.get('pg/empty').exists(), true);
      const kv = await kvOf('pg/empty');
      assert.equal(kv.value.length, 0);
      assert.equal(kv.version, '1');
      // Overwriting a value with empty, then reading the previous value back.
      await c.put('pg/empty2').value('not empty');
      const prev = await c.put('pg/empty2').value(Buffer.alloc(0)).getPrevious();
      assert.equal(prev.value.toString(), 'not empty');
      assert.equal(await c.get('pg/empty2').string(), '');
      const all = await c.getAll().prefix('pg/empty').strings();
      assert.deepEqual(all, { 'pg/empty': '', 'pg/empty2': '' });
    });

    test('a 100 KB value round-trips exactly, also as a previous value', async () => {
      const c = etcd();
      const big = randomBytes(100 * 1024);
      await c.put('pg/big').value(big);
      const got = await c.get('pg/big').buffer();
      assert.ok(got !== null);
      assert.equal(got.length, big.length);
      assert.ok(got.equals(big), '100 KB value differs');
      const prev = await c.put('pg/big').value('small').getPrevious();
      assert.ok(prev.value.equals(big), '100 KB previous value differs');
      assert.equal(await c.get('pg/big').string(), 'small');
    });

    test('keys with binary bytes: exact match, prefix ranges, byte order', async () => {
      const c = etcd();
      const base = Buffer.from([0x01, 0xff]);
      const keys = [
        Buffer.from([0x01, 0xff]),
        Buffer.from([0x01, 0xff, 0x00]),
        Buffer.from([0x01, 0xff, 0x00, 0x00]),
        Buffer.from([0x01, 0xff, 0x7f]),
        Buffer.from([0x01, 0xff, 0x80, 0x00, 0xc3]),
        Buffer.from([0x01, 0xff, 0xff]),
        Buffer.from([0x01, 0xff, 0xff, 0xff]),
      ];
      const outside = [Buffer.from([0x01, 0xfe, 0xff]), Buffer.from([0x02]), Buffer.from([0x01])];
      // Write in a scrambled order so that ordering comes from the server.
      for (const k of [...keys].reverse().concat(outside)) await c.put(k).value(Buffer.concat([Buffer.from('v:'), k]));
      for (const k of [...keys, ...outside]) {
        const v = await c.get(k).buffer();
        assert.ok(v !== null, `key ${k.toString('hex')} missing`);
        assert.deepEqual(v, Buffer.concat([Buffer.from('v:'), k]));
      }
      // A key with a NUL suffix is a different key from the one without.
      assert.notDeepEqual(await c.get(Buffer.from([0x01, 0xff, 0x00])).buffer(), await c.get(base).buffer());
      assert.equal(await c.get(Buffer.from([0x01, 0xff, 0x01])).buffer(), null);

      const inPrefix = await c.getAll().prefix(base).keyBuffers();
      assert.deepEqual(
        inPrefix.map((k) => k.toString('hex')),
        keys.map((k) => k.toString('hex')),
      );
      const desc = await c.getAll().prefix(base).sort('Key', 'Descend').keyBuffers();
      assert.deepEqual(
        desc.map((k) => k.toString('hex')),
        [...keys].reverse().map((k) => k.toString('hex')),
      );
      assert.equal(await c.getAll().prefix(base).count(), keys.length);
      // Deleting by a binary prefix removes exactly those keys.
      const del = await c.delete().prefix(base).exec();
      assert.equal(Number(del.deleted), keys.length);
      for (const k of outside) assert.ok((await c.get(k).buffer()) !== null, `${k.toString('hex')} should survive`);
      assert.equal(await c.getAll().prefix(base).count(), 0);
    });
  });

  describe('getAll', () => {
    const seed = async (): Promise<void> => {
      const c = etcd();
      // Inserted out of order; values sort the other way round from keys.
      await c.put('ga/b').value('2');
      await c.put('ga/d').value('0');
      await c.put('ga/a').value('3');
      await c.put('ga/c').value('1');
      // Neighbours that a prefix range must exclude.
      await c.put('ga').value('x');
      await c.put('ga0').value('x');
      await c.put('gA/a').value('x');
      await c.put('ga.').value('x');
    };

    before(seed);

    test('prefix: keys(), strings(), count(), buffers(), numbers()', async () => {
      const c = etcd();
      assert.deepEqual(await c.getAll().prefix('ga/').keys(), ['ga/a', 'ga/b', 'ga/c', 'ga/d']);
      assert.deepEqual(await c.getAll().prefix('ga/').strings(), { 'ga/a': '3', 'ga/b': '2', 'ga/c': '1', 'ga/d': '0' });
      assert.equal(await c.getAll().prefix('ga/').count(), 4);
      assert.equal(await c.getAll().prefix('ga').count(), 7); // ga, ga., ga/a..ga/d, ga0
      assert.equal(await c.getAll().prefix('nothing-here/').count(), 0);
      assert.deepEqual(await c.getAll().prefix('nothing-here/').keys(), []);
      assert.deepEqual(await c.getAll().prefix('ga/').numbers(), { 'ga/a': 3, 'ga/b': 2, 'ga/c': 1, 'ga/d': 0 });
      const bufs = await c.getAll().prefix('ga/').buffers();
      assert.deepEqual(Object.keys(bufs), ['ga/a', 'ga/b', 'ga/c', 'ga/d']);
      assert.deepEqual(bufs['ga/c'], Buffer.from('1'));
    });

    test('keys() asks for keys only: the raw range returns no values', async () => {
      const c = etcd();
      // keys() sets keys_only on the builder; exec() on the same builder reuses the request.
      const builder = c.getAll().prefix('ga/');
      await builder.keys();
      const raw = await builder.exec();
      assert.equal(raw.kvs.length, 4);
      for (const kv of raw.kvs) assert.equal(kv.value.length, 0, `keys_only returned a value for ${kv.key.toString()}`);
      assert.equal(raw.kvs[0].version, '1', 'keys_only still returns metadata');
    });

    test('count() uses count_only: count set, no kvs', async () => {
      const c = etcd();
      const builder = c.getAll().prefix('ga/');
      assert.equal(await builder.count(), 4);
      const raw = await builder.exec();
      assert.equal(raw.count, '4');
      assert.equal(raw.kvs.length, 0);
    });

    test('sort by key descending, by value, by mod revision', async () => {
      const c = etcd();
      assert.deepEqual(await c.getAll().prefix('ga/').sort('Key', 'Descend').keys(), ['ga/d', 'ga/c', 'ga/b', 'ga/a']);
      assert.deepEqual(await c.getAll().prefix('ga/').sort('Key', 'Ascend').keys(), ['ga/a', 'ga/b', 'ga/c', 'ga/d']);
      assert.deepEqual(await c.getAll().prefix('ga/').sort('Value', 'Ascend').keys(), ['ga/d', 'ga/c', 'ga/b', 'ga/a']);
      // Insertion order: b, d, a, c.
      assert.deepEqual(await c.getAll().prefix('ga/').sort('Mod', 'Ascend').keys(), ['ga/b', 'ga/d', 'ga/a', 'ga/c']);
      assert.deepEqual(await c.getAll().prefix('ga/').sort('Create', 'Descend').keys(), ['ga/c', 'ga/a', 'ga/d', 'ga/b']);
      const strings = await c.getAll().prefix('ga/').sort('Key', 'Descend').strings();
      assert.deepEqual(Object.keys(strings), ['ga/d', 'ga/c', 'ga/b', 'ga/a']);
    });

    test('limit: the first n keys in the requested order, more and the full count reported', async () => {
      const c = etcd();
      assert.deepEqual(await c.getAll().prefix('ga/').limit(2).keys(), ['ga/a', 'ga/b']);
      assert.deepEqual(await c.getAll().prefix('ga/').sort('Key', 'Descend').limit(2).keys(), ['ga/d', 'ga/c']);
      assert.deepEqual(await c.getAll().prefix('ga/').sort('Value', 'Descend').limit(1).keys(), ['ga/a']);
      const raw = await c.getAll().prefix('ga/').limit(3).exec();
      assert.equal(raw.kvs.length, 3);
      assert.equal(raw.more, true);
      assert.equal(raw.count, '4');
      const exact = await c.getAll().prefix('ga/').limit(4).exec();
      assert.equal(exact.kvs.length, 4);
      assert.equal(exact.more, false);
      const over = await c.getAll().prefix('ga/').limit(100).keys();
      assert.equal(over.length, 4);
    });

    test('revision(): a getAll at an older revision sees the old values', async () => {
      const c = etcd();
      const before = await currentRevision();
      await c.put('ga/a').value('changed');
      await c.put('ga/e').value('new');
      assert.deepEqual(await c.getAll().prefix('ga/').revision(before).strings(), { 'ga/a': '3', 'ga/b': '2', 'ga/c': '1', 'ga/d': '0' });
      assert.equal((await c.getAll().prefix('ga/').strings())['ga/a'], 'changed');
      assert.equal(await c.getAll().prefix('ga/').count(), 5);
      // Put things back for other tests in this group.
      await c.put('ga/a').value('3');
      await c.delete().key('ga/e');
    });
  });

  describe('delete', () => {
    test('delete().key() removes one key and reports deleted = 1; a missing key reports 0', async () => {
      const c = etcd();
      await c.put('dk/a').value('1');
      await c.put('dk/ab').value('2');
      const rev = await currentRevision();
      const res = await c.delete().key('dk/a').exec();
      assert.equal(res.deleted, '1');
      assert.equal(Number(res.header.revision), rev + 1);
      assert.equal(await c.get('dk/a').string(), null);
      assert.equal(await c.get('dk/ab').string(), '2', 'delete().key() must not act as a prefix');
      const none = await c.delete().key('dk/a').exec();
      assert.equal(none.deleted, '0');
      assert.equal(Number(none.header.revision), rev + 1, 'deleting nothing must not bump the revision');
    });

    test('delete().prefix() returns the deleted count; getPrevious() returns the deleted kvs', async () => {
      const c = etcd();
      for (const k of ['dp/1', 'dp/2', 'dp/3']) await c.put(k).value(`val-${k}`);
      await c.put('dp').value('outside');
      await c.put('dp0').value('outside');
      const res = await c.delete().prefix('dp/').exec();
      assert.equal(res.deleted, '3');
      assert.equal(res.prev_kvs.length, 0, 'no prev_kvs unless asked');
      assert.equal(await c.getAll().prefix('dp/').count(), 0);
      assert.equal(await c.get('dp').string(), 'outside');
      assert.equal(await c.get('dp0').string(), 'outside');

      for (const k of ['dq/1', 'dq/2', 'dq/3']) await c.put(k).value(`val-${k}`);
      await c.put('dq/2').value('second');
      const prev = await c.delete().prefix('dq/').getPrevious();
      assert.deepEqual(
        prev.map((kv) => [kv.key.toString(), kv.value.toString(), kv.version]),
        [
          ['dq/1', 'val-dq/1', '1'],
          ['dq/2', 'second', '2'],
          ['dq/3', 'val-dq/3', '1'],
        ],
      );
      assert.equal(await c.getAll().prefix('dq/').count(), 0);
      // A deleted key that is written again starts a new life: version 1, new create revision.
      const put = await c.put('dq/2').value('again').exec();
      const kv = await kvOf('dq/2');
      assert.equal(kv.version, '1');
      assert.equal(kv.create_revision, put.header.revision);
      assert.notEqual(kv.create_revision, prev[1].create_revision);
    });

    test('delete().all() in a namespace reports the number of keys deleted', async () => {
      const c = etcd();
      const ns = c.namespace('delall/');
      await ns.put('x').value('1');
      await ns.put('y').value('2');
      const res = await ns.delete().all().exec();
      assert.equal(res.deleted, '2');
      assert.equal(await c.getAll().prefix('delall/').count(), 0);
    });
  });

  describe('transactions', () => {
    test('if(Value ==) true: the then branch runs, its responses come back, the else branch does not run', async () => {
      const c = etcd();
      await c.put('tx/k').value('v1');
      await c.put('tx/other').value('o');
      const rev = await currentRevision();
      const res = await c
        .if('tx/k', 'Value', '==', 'v1')
        .then(c.put('tx/k').value('v2'), c.get('tx/other'), c.put('tx/new').value('n'))
        .else(c.put('tx/else-ran').value('yes'))
        .commit();
      assert.equal(res.succeeded, true);
      assert.equal(Number(res.header.revision), rev + 1);
      assert.equal(res.responses.length, 3);
      assert.equal(Number(putResponse(res.responses[0]).header.revision), rev + 1);
      const r1 = rangeResponse(res.responses[1]);
      assert.equal(r1.kvs.length, 1);
      assert.equal(r1.kvs[0].key.toString(), 'tx/other');
      assert.equal(r1.kvs[0].value.toString(), 'o');
      assert.equal(r1.count, '1');
      assert.equal(Number(putResponse(res.responses[2]).header.revision), rev + 1);
      assert.equal(await c.get('tx/k').string(), 'v2');
      assert.equal(await c.get('tx/new').string(), 'n');
      assert.equal(await c.get('tx/else-ran').string(), null);
    });

    test('if(Value ==) false: the else branch runs and returns its responses; nothing of then is written', async () => {
      const c = etcd();
      await c.put('tx/f').value('actual');
      const rev = await currentRevision();
      const res = await c
        .if('tx/f', 'Value', '==', 'expected')
        .then(c.put('tx/f').value('overwritten'), c.put('tx/then-ran').value('yes'))
        .else(c.get('tx/f'))
        .commit();
      assert.equal(res.succeeded, false);
      assert.equal(res.responses.length, 1);
      const r = rangeResponse(res.responses[0]);
      assert.equal(r.kvs.length, 1);
      assert.equal(r.kvs[0].value.toString(), 'actual');
      assert.equal(r.kvs[0].mod_revision, String(rev));
      assert.equal(Number(res.header.revision), rev, 'a txn that writes nothing must not bump the revision');
      assert.equal(await c.get('tx/f').string(), 'actual');
      assert.equal(await c.get('tx/then-ran').string(), null);
      assert.equal(await currentRevision(), rev);
    });

    test('false branch with writes: else puts and deletes run and are reported', async () => {
      const c = etcd();
      await c.put('tx/e1').value('a');
      await c.put('tx/e2').value('b');
      const rev = await currentRevision();
      const res = await c
        .if('tx/e1', 'Value', '!=', 'a')
        .then(c.put('tx/e1').value('then'))
        .else(c.put('tx/e1').value('else'), c.delete().key('tx/e2'), c.delete().key('tx/e-missing'))
        .commit();
      assert.equal(res.succeeded, false);
      assert.equal(res.responses.length, 3);
      assert.equal(Number(putResponse(res.responses[0]).header.revision), rev + 1);
      assert.equal(deleteResponse(res.responses[1]).deleted, '1');
      assert.equal(deleteResponse(res.responses[2]).deleted, '0');
      assert.equal(Number(res.header.revision), rev + 1);
      assert.equal(await c.get('tx/e1').string(), 'else');
      assert.equal(await c.get('tx/e2').string(), null);
    });

    test('a value compare on a missing key is false, even against the empty value', async () => {
      const c = etcd();
      const res = await c.if('tx/never-written', 'Value', '==', '').then(c.put('tx/nw-then').value('1')).else().commit();
      assert.equal(res.succeeded, false);
      assert.equal(res.responses.length, 0);
      await c.put('tx/really-empty').value('');
      const res2 = await c.if('tx/really-empty', 'Value', '==', '').then().commit();
      assert.equal(res2.succeeded, true);
      const res3 = await c.if('tx/really-empty', 'Value', '<', 'a').then().commit();
      assert.equal(res3.succeeded, true);
    });

    test('value compares order bytes: <, >, !=', async () => {
      const c = etcd();
      await c.put('tx/ord').value('m');
      // The compare holds when (stored value) <op> (given value), bytewise.
      const check = async (cmp: '<' | '>' | '!=' | '==', v: string): Promise<boolean> => (await c.if('tx/ord', 'Value', cmp, v).commit()).succeeded;
      assert.equal(await check('<', 'n'), true);
      assert.equal(await check('<', 'm'), false);
      assert.equal(await check('<', 'l'), false);
      assert.equal(await check('>', 'l'), true);
      assert.equal(await check('>', 'm'), false);
      assert.equal(await check('>', 'mm'), false); // a prefix is smaller
      assert.equal(await check('<', 'mm'), true);
      assert.equal(await check('!=', 'm'), false);
      assert.equal(await check('!=', 'M'), true);
      assert.equal(await check('==', 'm'), true);
    });

    test('compare on Version: ==, >, <, and 0 for a missing key', async () => {
      const c = etcd();
      await c.put('tx/ver').value('1');
      await c.put('tx/ver').value('2');
      await c.put('tx/ver').value('3');
      const succeeded = async (cmp: '==' | '>' | '<' | '!=', v: number, key = 'tx/ver'): Promise<boolean> =>
        (await c.if(key, 'Version', cmp, v).then(c.get(key)).commit()).succeeded;
      assert.equal(await succeeded('==', 3), true);
      assert.equal(await succeeded('==', 2), false);
      assert.equal(await succeeded('>', 2), true);
      assert.equal(await succeeded('>', 3), false);
      assert.equal(await succeeded('<', 4), true);
      assert.equal(await succeeded('<', 3), false);
      assert.equal(await succeeded('!=', 3), false);
      assert.equal(await succeeded('==', 0, 'tx/ver-missing'), true);
      assert.equal(await succeeded('>', 0, 'tx/ver-missing'), false);
    });

    test('compare on Create: the lock idiom (Create == 0) succeeds once', async () => {
      const c = etcd();
      const acquire = (who: string): Promise<ITxnResponse> =>
        c.if('tx/lock', 'Create', '==', 0).then(c.put('tx/lock').value(who)).else(c.get('tx/lock')).commit();
      const first = await acquire('alice');
      assert.equal(first.succeeded, true);
      const createdAt = Number(first.header.revision);
      const second = await acquire('bob');
      assert.equal(second.succeeded, false);
      const held = rangeResponse(second.responses[0]);
      assert.equal(held.kvs[0].value.toString(), 'alice');
      assert.equal(held.kvs[0].create_revision, String(createdAt));
      assert.equal(await c.get('tx/lock').string(), 'alice');
      // The create revision stays when the key is rewritten.
      await c.put('tx/lock').value('alice-2');
      assert.equal((await c.if('tx/lock', 'Create', '==', createdAt).commit()).succeeded, true);
      assert.equal((await c.if('tx/lock', 'Create', '==', createdAt + 1).commit()).succeeded, false);
      assert.equal((await c.if('tx/lock', 'Create', '<', createdAt + 1).commit()).succeeded, true);
      assert.equal((await c.if('tx/lock', 'Create', '>', createdAt).commit()).succeeded, false);
    });

    test('compare on Mod: optimistic concurrency (compare-and-swap on mod revision)', async () => {
      const c = etcd();
      const put = await c.put('tx/cas').value('0').exec();
      const seen = Number(put.header.revision);
      const ok = await c.if('tx/cas', 'Mod', '==', seen).then(c.put('tx/cas').value('1')).commit();
      assert.equal(ok.succeeded, true);
      const newMod = Number(ok.header.revision);
      assert.equal(newMod, seen + 1);
      // A writer holding the stale mod revision loses.
      const stale = await c.if('tx/cas', 'Mod', '==', seen).then(c.put('tx/cas').value('lost')).else(c.get('tx/cas')).commit();
      assert.equal(stale.succeeded, false);
      const current = rangeResponse(stale.responses[0]).kvs[0];
      assert.equal(current.value.toString(), '1');
      assert.equal(current.mod_revision, String(newMod));
      assert.equal(await c.get('tx/cas').string(), '1');
      assert.equal((await c.if('tx/cas', 'Mod', '>', seen).commit()).succeeded, true);
      assert.equal((await c.if('tx/cas', 'Mod', '<', newMod).commit()).succeeded, false);
      assert.equal((await c.if('tx/cas-missing', 'Mod', '==', 0).commit()).succeeded, true);
    });

    test('multiple compares: all must hold', async () => {
      const c = etcd();
      await c.put('tx/m1').value('a');
      await c.put('tx/m2').value('b');
      await c.put('tx/m2').value('b2');
      const both = await c
        .if('tx/m1', 'Value', '==', 'a')
        .and('tx/m2', 'Version', '==', 2)
        .and('tx/m3-missing', 'Create', '==', 0)
        .then(c.put('tx/m-result').value('all-true'))
        .else(c.put('tx/m-result').value('some-false'))
        .commit();
      assert.equal(both.succeeded, true);
      assert.equal(await c.get('tx/m-result').string(), 'all-true');

      const oneFalse = await c
        .if('tx/m1', 'Value', '==', 'a')
        .and('tx/m2', 'Version', '==', 1) // false: version is 2
        .and('tx/m3-missing', 'Create', '==', 0)
        .then(c.put('tx/m-result').value('all-true-2'))
        .else(c.put('tx/m-result').value('some-false'))
        .commit();
      assert.equal(oneFalse.succeeded, false);
      assert.equal(await c.get('tx/m-result').string(), 'some-false');

      const lastFalse = await c
        .if('tx/m1', 'Value', '==', 'a')
        .and('tx/m2', 'Value', '==', 'b2')
        .and('tx/m1', 'Mod', '>', 1_000_000)
        .then(c.put('tx/m-result').value('wrong'))
        .commit();
      assert.equal(lastFalse.succeeded, false);
      assert.equal(lastFalse.responses.length, 0);
      assert.equal(await c.get('tx/m-result').string(), 'some-false');
    });

    test('a txn that writes several keys does so at one revision', async () => {
      const c = etcd();
      await c.put('tx/multi/old').value('to-delete');
      const rev = await currentRevision();
      const res = await c
        .if('tx/multi/guard', 'Version', '==', 0)
        .then(
          c.put('tx/multi/a').value('1'),
          c.put('tx/multi/b').value('2'),
          c.put('tx/multi/c').value('3'),
          c.delete().key('tx/multi/old'),
          c.put('tx/multi/guard').value('done'),
        )
        .commit();
      assert.equal(res.succeeded, true);
      const txnRev = Number(res.header.revision);
      assert.equal(txnRev, rev + 1, 'the whole txn is one revision');
      assert.equal(res.responses.length, 5);
      for (const i of [0, 1, 2, 4]) assert.equal(Number(putResponse(res.responses[i]).header.revision), txnRev);
      assert.equal(deleteResponse(res.responses[3]).deleted, '1');
      const raw = await c.getAll().prefix('tx/multi/').exec();
      assert.equal(Number(raw.header.revision), txnRev);
      assert.deepEqual(
        raw.kvs.map((kv) => [kv.key.toString(), kv.value.toString(), kv.mod_revision, kv.create_revision, kv.version]),
        [
          ['tx/multi/a', '1', String(txnRev), String(txnRev), '1'],
          ['tx/multi/b', '2', String(txnRev), String(txnRev), '1'],
          ['tx/multi/c', '3', String(txnRev), String(txnRev), '1'],
          ['tx/multi/guard', 'done', String(txnRev), String(txnRev), '1'],
        ],
      );
      // Reading just before the txn sees none of it; at the txn revision sees all of it.
      assert.equal(await c.getAll().prefix('tx/multi/').revision(rev).count(), 1);
      assert.deepEqual(await c.getAll().prefix('tx/multi/').revision(rev).keys(), ['tx/multi/old']);
      assert.equal(await c.getAll().prefix('tx/multi/').revision(txnRev).count(), 4);
      // Running it again: the guard now exists, the txn fails and writes nothing.
      const again = await c
        .if('tx/multi/guard', 'Version', '==', 0)
        .then(c.put('tx/multi/a').value('again'))
        .commit();
      assert.equal(again.succeeded, false);
      assert.equal(await currentRevision(), txnRev);
    });

    test('a read inside a txn after a write in the same txn sees the write', async () => {
      const c = etcd();
      await c.put('tx/rw').value('before');
      const res = await c.if('tx/rw', 'Value', '==', 'before').then(c.put('tx/rw').value('after'), c.get('tx/rw')).commit();
      assert.equal(res.succeeded, true);
      const r = rangeResponse(res.responses[1]);
      assert.equal(r.kvs[0].value.toString(), 'after');
      assert.equal(r.kvs[0].version, '2');
      assert.equal(Number(r.header.revision), Number(res.header.revision));
    });
  });

  describe('namespaces', () => {
    test('client.namespace(prefix) isolates keys in both directions', async () => {
      const c = etcd();
      const ns = c.namespace('ns/');
      const other = c.namespace('ns2/');
      await ns.put('a').value('in-ns');
      await ns.put('b').value('in-ns-b');
      await c.put('a').value('at-root');
      await c.put('ns0').value('just-past-the-prefix');
      await other.put('a').value('in-ns2');

      // The namespace writes under its prefix.
      assert.equal(await c.get('ns/a').string(), 'in-ns');
      assert.equal(await c.get('ns2/a').string(), 'in-ns2');
      // Each view sees its own 'a'.
      assert.equal(await ns.get('a').string(), 'in-ns');
      assert.equal(await other.get('a').string(), 'in-ns2');
      assert.equal(await c.get('a').string(), 'at-root');
      assert.equal(await ns.get('ns/a').string(), null);

      // getAll in the namespace sees only its keys, unprefixed.
      assert.deepEqual(await ns.getAll().keys(), ['a', 'b']);
      assert.deepEqual(await ns.getAll().strings(), { a: 'in-ns', b: 'in-ns-b' });
      assert.equal(await ns.getAll().count(), 2);
      assert.deepEqual(await ns.getAll().sort('Key', 'Descend').keys(), ['b', 'a']);

      // A txn in the namespace compares and writes inside it.
      const res = await ns.if('a', 'Value', '==', 'in-ns').then(ns.put('c').value('from-txn')).else(ns.put('c').value('wrong')).commit();
      assert.equal(res.succeeded, true);
      assert.equal(await c.get('ns/c').string(), 'from-txn');
      assert.equal(await c.get('c').string(), null);
      const res2 = await ns.if('a', 'Value', '==', 'at-root').then(ns.put('d').value('wrong')).commit();
      assert.equal(res2.succeeded, false, 'the compare must read ns/a, not a');

      // Deleting everything in the namespace leaves the rest alone.
      const del = await ns.delete().all().exec();
      assert.equal(del.deleted, '3');
      assert.equal(await ns.getAll().count(), 0);
      assert.equal(await c.get('a').string(), 'at-root');
      assert.equal(await c.get('ns0').string(), 'just-past-the-prefix');
      assert.equal(await other.get('a').string(), 'in-ns2');
    });

    test('nested namespaces compose their prefixes', async () => {
      const c = etcd();
      const inner = c.namespace('outer/').namespace('inner/');
      await inner.put('k').value('deep');
      assert.equal(await c.get('outer/inner/k').string(), 'deep');
      assert.deepEqual(await c.namespace('outer/').getAll().keys(), ['inner/k']);
    });
  });
});
