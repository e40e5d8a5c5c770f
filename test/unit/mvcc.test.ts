// The MVCC store on a real LMDB environment in a temp dir.
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backend } from '../../src/backend/backend';
import { MvccStore } from '../../src/mvcc/store';
import { FileBytes, hasEndRecord, readSnapshot } from '../../src/mvcc/snapshot';
import { CompactedError, FutureRevisionError } from '../../src/mvcc/errors';
import { LMDB_KEY_PREFIX_BYTES } from '../../src/mvcc/key-codec';

const b = (s: string): Buffer => Buffer.from(s);
const ALL = Buffer.alloc(0);
const dirs: string[] = [];
const backends: Backend[] = [];

function open(dir?: string): { store: MvccStore; backend: Backend; dir: string } {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'mvcc-test-'));
  if (dir === undefined) dirs.push(d);
  const backend = new Backend({ dir: d, mapSizeBytes: 64 * 1024 * 1024 });
  backends.push(backend);
  return { store: new MvccStore(backend), backend, dir: d };
}

function put(s: { store: MvccStore; backend: Backend }, kvs: [string | Buffer, string][]): number {
  const rev = s.backend.transaction(() => {
    const w = s.store.write();
    for (const [k, v] of kvs) w.put(typeof k === 'string' ? b(k) : k, b(v), 0n);
    return w.end();
  });
  return rev;
}

function del(s: { store: MvccStore; backend: Backend }, key: string, end?: string): number {
  const rev = s.backend.transaction(() => {
    const w = s.store.write();
    w.deleteRange(b(key), end === undefined ? undefined : b(end));
    return w.end();
  });
  return rev;
}

function compact(s: { store: MvccStore; backend: Backend }, rev: number): void {
  s.backend.transaction(() => s.store.compact(rev));
}

const keys = (r: { kvs: { key: Buffer }[] }): string[] => r.kvs.map((kv) => kv.key.toString());

afterEach(async () => {
  for (const be of backends.splice(0)) await be.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('mvcc store', () => {
  test("a range's keys and values stay as read while more reads and writes follow (they are views into lmdb-js's own copies)", () => {
    const s = open();
    const n = 300;
    put(s, Array.from({ length: n }, (_, i): [string, string] => [`k/${String(i).padStart(4, '0')}`, `v${i}-`.repeat(20 + (i % 7))]));
    const first = s.store.range(b('k/'), b('k0')).kvs;
    assert.equal(first.length, n);
    // More reads (a range over the same rows, single gets) and a write that rewrites every value.
    for (let r = 0; r < 3; r++) s.store.range(b('k/'), b('k0'));
    for (let i = 0; i < n; i += 17) s.store.range(b(`k/${String(i).padStart(4, '0')}`), undefined);
    put(s, Array.from({ length: n }, (_, i): [string, string] => [`k/${String(i).padStart(4, '0')}`, 'x'.repeat(100)]));
    s.store.range(b('k/'), b('k0'));
    first.forEach((kv, i) => {
      assert.equal(kv.key.toString(), `k/${String(i).padStart(4, '0')}`);
      assert.equal(kv.value.toString(), `v${i}-`.repeat(20 + (i % 7)));
    });
  });

  test('revisions, versions and history', () => {
    const s = open();
    assert.equal(s.store.currentRevision(), 1);
    assert.equal(put(s, [['a', '1']]), 2);
    assert.equal(put(s, [['a', '2'], ['b', '1']]), 3, 'one txn, one revision');
    const a = s.store.range(b('a'), undefined).kvs[0];
    assert.deepEqual([a.create_revision, a.mod_revision, a.version, a.value.toString()], [2, 3, 2, '2']);
    assert.equal(s.store.range(b('a'), undefined, { revision: 2 }).kvs[0].value.toString(), '1');
    assert.equal(s.store.range(b('b'), undefined, { revision: 2 }).kvs.length, 0);
    assert.equal(del(s, 'a'), 4);
    assert.equal(s.store.range(b('a'), undefined).kvs.length, 0);
    assert.equal(s.store.range(b('a'), undefined, { revision: 3 }).kvs[0].value.toString(), '2');
    // Recreated after delete: a new generation with create = its own revision, version 1.
    put(s, [['a', '3']]);
    const again = s.store.range(b('a'), undefined).kvs[0];
    assert.deepEqual([again.create_revision, again.version], [5, 1]);
    // Deleting nothing does not move the revision.
    assert.equal(del(s, 'zzz'), 5);
  });

  test('ranges: prefix-like bounds, from-key, limit and count', () => {
    const s = open();
    put(s, [['a', '1'], ['ab', '2'], ['b', '3'], ['c', '4']]);
    assert.deepEqual(keys(s.store.range(b('a'), b('b'))), ['a', 'ab']);
    assert.deepEqual(keys(s.store.range(b('ab'), ALL)), ['ab', 'b', 'c']);
    const limited = s.store.range(b('a'), ALL, { limit: 2 });
    assert.deepEqual([keys(limited), limited.count], [['a', 'ab'], 4]);
    const counted = s.store.range(b('a'), ALL, { countOnly: true });
    assert.deepEqual([counted.kvs.length, counted.count], [0, 4]);
    assert.deepEqual(keys(s.store.range(b('c'), b('a'))), [], 'end before start is empty');
    del(s, 'ab');
    assert.deepEqual(keys(s.store.range(b('a'), ALL, { revision: 2 })), ['a', 'ab', 'b', 'c']);
    assert.deepEqual(keys(s.store.range(b('a'), ALL)), ['a', 'b', 'c']);
  });

  test('a limited or count-only range at the head counts every key in it, long (bucketed) keys and deletes included, without reading past its limit', () => {
    const s = open();
    const long = (c: string): Buffer => Buffer.concat([b('p/'), Buffer.alloc(LMDB_KEY_PREFIX_BYTES + 10, c)]);
    put(s, [['p/a', '1'], ['p/b', '2'], [long('x'), '3'], [long('y'), '4'], ['p/z', '5'], ['q', '6']]);
    del(s, 'p/b');
    const limited = s.store.range(b('p/'), b('p0'), { limit: 2 });
    assert.deepEqual([limited.kvs.length, limited.count], [2, 4]);
    assert.equal(limited.kvs[0].key.toString(), 'p/a');
    assert.equal(s.store.range(b('p/'), b('p0'), { countOnly: true }).count, 4);
    assert.equal(s.store.range(b('p/'), ALL, { limit: 1 }).count, 5, 'from-key');
    // A long bound takes the scanning path: the same counts.
    assert.equal(s.store.range(long('x'), b('p0'), { limit: 1 }).count, 3);
    assert.equal(s.store.range(b('p/'), b('p0'), { revision: 2, limit: 1 }).count, 5, 'older revisions count as before');
  });

  test('future and compacted revisions are refused', () => {
    const s = open();
    put(s, [['a', '1']]);
    put(s, [['a', '2']]);
    assert.throws(() => s.store.range(b('a'), undefined, { revision: 9 }), FutureRevisionError);
    compact(s, 3);
    assert.throws(() => s.store.range(b('a'), undefined, { revision: 2 }), CompactedError);
    assert.equal(s.store.range(b('a'), undefined, { revision: 3 }).kvs[0].value.toString(), '2');
  });

  test('compaction keeps exactly what reads at or after it can see', () => {
    const s = open();
    put(s, [['k', 'v1']]); // 2
    put(s, [['k', 'v2']]); // 3
    put(s, [['gone', 'x']]); // 4
    del(s, 'gone'); // 5
    put(s, [['k', 'v3']]); // 6
    compact(s, 5);
    assert.equal(s.store.range(b('k'), undefined, { revision: 5 }).kvs[0].value.toString(), 'v2');
    assert.equal(s.store.range(b('gone'), undefined, { revision: 5 }).kvs.length, 0);
    assert.deepEqual(keys(s.store.range(b('a'), ALL, { revision: 5 })), ['k']);
    assert.equal(s.store.range(b('k'), undefined).kvs[0].value.toString(), 'v3');
    // A second compaction past every version but the newest.
    compact(s, 6);
    assert.equal(s.store.range(b('k'), undefined, { revision: 6 }).kvs[0].version, 3);
  });

  test('keys longer than LMDB allows keep etcd order, also at older revisions', () => {
    const s = open();
    const p = 'p'.repeat(LMDB_KEY_PREFIX_BYTES);
    const long = [p + 'zz', p + 'a', p + 'm'.repeat(3000), p + 'b'];
    put(s, [[p, 'short'], ['q', 'after'], ['o', 'before']]);
    put(s, long.map((k) => [k, k.slice(-1)]));
    const expected = ['o', p, p + 'a', p + 'b', p + 'm'.repeat(3000), p + 'zz', 'q'];
    assert.deepEqual(keys(s.store.range(b('a'), ALL)), expected);
    assert.deepEqual(keys(s.store.range(b('a'), ALL, { limit: 4 })), expected.slice(0, 4));
    assert.deepEqual(keys(s.store.range(b(p + 'a'), b(p + 'n'))), [p + 'a', p + 'b', p + 'm'.repeat(3000)]);
    assert.equal(s.store.range(b(p + 'zz'), undefined).kvs[0].value.toString(), 'z');
    const rev = s.store.currentRevision();
    del(s, p + 'b');
    assert.deepEqual(keys(s.store.range(b('a'), ALL, { revision: rev })), expected);
    assert.deepEqual(keys(s.store.range(b('a'), ALL)), expected.filter((k) => k !== p + 'b'));
  });

  test('empty values, binary keys and state survive reopening', async () => {
    const s = open();
    put(s, [[Buffer.from([0, 255, 1]), ''], ['k', 'v']]);
    const rev = s.store.currentRevision();
    await s.backend.close();
    backends.splice(backends.indexOf(s.backend), 1);
    const again = open(s.dir);
    assert.equal(again.store.currentRevision(), rev);
    const got = again.store.range(Buffer.from([0]), ALL);
    assert.deepEqual(got.kvs.map((kv) => [kv.key.toString('hex'), kv.value.length]), [['00ff01', 0], ['6b', 1]]);
  });

  test('a state exported in chunks from a pinned view imports to an equal store; a cut-short file is refused', () => {
    const src = open();
    for (let i = 0; i < 300; i++) put(src, [[`k${i % 40}`, 'v'.repeat(i)]]);
    del(src, 'k1', 'k3');
    src.backend.transaction(() => src.store.compact(50));
    const view = src.backend.readView();
    const { revision, compacted } = src.store.stateRevisions(view);
    const want = src.store.hashAll();
    // Writes after the view was taken are not in the export.
    put(src, [['later', 'x']]);
    const chunks = [...src.store.exportState(view, 4096)];
    view.done();
    assert.ok(chunks.length > 5, `exported in ${chunks.length} chunks`);
    const file = join(dirs[0] ?? tmpdir(), `snap-${process.pid}`);
    writeFileSync(file, Buffer.concat(chunks));
    const dst = open();
    put(dst, [['stale', 'gone']]);
    const fd = openSync(file, 'r');
    try {
      assert.equal(hasEndRecord(fd, fstatSync(fd).size), true);
      dst.backend.transaction(() => dst.store.importState(readSnapshot(new FileBytes(fd, 0, 1000)), revision, compacted));
    } finally {
      closeSync(fd);
    }
    assert.equal(dst.store.hashAll(), want);
    assert.equal(dst.store.range(b('stale'), undefined).kvs.length, 0);
    assert.equal(dst.store.range(b('later'), undefined).kvs.length, 0);
    assert.equal(dst.store.currentRevision(), revision);

    const whole = Buffer.concat(chunks);
    writeFileSync(file, whole.subarray(0, whole.length - 20));
    const cut = openSync(file, 'r');
    try {
      assert.equal(hasEndRecord(cut, whole.length - 20), false);
      assert.throws(() => [...readSnapshot(new FileBytes(cut, 0))], /truncated|unknown record|damaged/);
    } finally {
      closeSync(cut);
    }
  });
});
