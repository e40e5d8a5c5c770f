// etcd's hash building blocks: crc32-Castagnoli, the bbolt revision key and gogoproto's
// KeyValue bytes; and HashKV's keep rules on a real store (the etcd comparison is
// test/hashkv-etcd.test.ts, which needs an etcd binary).
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backend } from '../../src/backend/backend';
import { MvccStore } from '../../src/mvcc/store';
import { crc32c, hashByRev, keyBucketEntry, marshalKeyValue, revisionKey } from '../../src/mvcc/hash';
import { encodeRecord } from '../../src/mvcc/kv-record';

/** Bit-at-a-time reference (RFC 3720 appendix B.4's polynomial, reflected). */
function crc32cReference(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

describe('crc32c', () => {
  test('known vectors (the check value and RFC 3720 B.4)', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(crc32c(Buffer.alloc(0)), 0);
    assert.equal(crc32c(Buffer.alloc(32, 0)), 0x8a9136aa);
    assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
    assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e);
    assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))), 0x113fdb5c);
  });

  test('every length and split point equals the bitwise reference', () => {
    const data = Buffer.from(Array.from({ length: 100 }, (_, i) => (i * 37 + 11) & 0xff));
    for (let n = 0; n <= data.length; n++) {
      const whole = crc32c(data.subarray(0, n));
      assert.equal(whole, crc32cReference(data.subarray(0, n)), `length ${n}`);
      for (const cut of [0, 1, 7, 8, 9, Math.floor(n / 2)].filter((c) => c <= n)) {
        assert.equal(crc32c(data.subarray(cut, n), crc32c(data.subarray(0, cut))), whole, `length ${n} split at ${cut}`);
      }
    }
  });

  test('every alignment of the data in its memory (the word-at-a-time path starts at a 4-aligned byte)', () => {
    const backing = new Uint8Array(new ArrayBuffer(1100));
    for (let i = 0; i < backing.length; i++) backing[i] = (i * 131 + 7) & 0xff;
    for (let start = 0; start < 8; start++) {
      for (const n of [0, 3, 8, 15, 16, 17, 64, 1023]) {
        const view = backing.subarray(start, start + n);
        assert.equal(crc32c(view), crc32cReference(view), `start ${start} length ${n}`);
        assert.equal(crc32c(view, 0x12345678), crc32c(Buffer.from(view), 0x12345678), `start ${start} length ${n}, continued`);
      }
    }
  });
});

describe("etcd's key bucket bytes", () => {
  test('revision keys: 8-byte main, _, 8-byte sub, t for tombstones', () => {
    assert.equal(revisionKey(2, 0, false).toString('hex'), '0000000000000002' + '5f' + '0000000000000000');
    assert.equal(revisionKey(0x0102030405, 7, true).toString('hex'), '0000000102030405' + '5f' + '0000000000000007' + '74');
  });

  test('KeyValue as gogoproto marshals it: field order, zero fields omitted, int64 varints', () => {
    const kv = { key: Buffer.from('a'), create_revision: 2, mod_revision: 300, version: 1, value: Buffer.from('b'), lease: 0n };
    assert.equal(marshalKeyValue(kv).toString('hex'), '0a0161' + '1002' + '18ac02' + '2001' + '2a0162');
    // Empty value: no field 5 at all; a lease is field 6.
    assert.equal(marshalKeyValue({ ...kv, value: Buffer.alloc(0), lease: 0x1234n }).toString('hex'), '0a0161' + '1002' + '18ac02' + '2001' + '30b424');
    // A negative lease ID is Go's uint64(v): ten bytes.
    assert.equal(marshalKeyValue({ ...kv, lease: -1n }).subarray(-11).toString('hex'), '30' + 'ffffffffffffffffff01');
    // Lengths above 127 take a multi-byte varint.
    const big = marshalKeyValue({ ...kv, value: Buffer.alloc(200, 1) });
    assert.equal(big.subarray(10, 13).toString('hex'), '2ac801');
    assert.equal(big.length, 13 + 200);
  });

  test('a tombstone is stored as a KeyValue with only the key', () => {
    const rec = encodeRecord({ key: Buffer.from('k'), value: Buffer.alloc(0), lease: 0n, create_revision: 0, mod_revision: 9, version: 0 }, true);
    const e = keyBucketEntry(9, 1, rec);
    assert.equal(e.key.toString('hex'), '0000000000000009' + '5f' + '0000000000000001' + '74');
    assert.equal(e.value.toString('hex'), '0a016b');
  });
});

describe('HashKV keep rules', () => {
  const dirs: string[] = [];
  const backends: Backend[] = [];
  afterEach(async () => {
    for (const be of backends.splice(0)) await be.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function open(): { store: MvccStore; backend: Backend } {
    const dir = mkdtempSync(join(tmpdir(), 'hash-test-'));
    dirs.push(dir);
    const backend = new Backend({ dir, mapSizeBytes: 64 * 1024 * 1024 });
    backends.push(backend);
    return { store: new MvccStore(backend), backend };
  }
  const put = (s: { store: MvccStore; backend: Backend }, key: string, value: string): number =>
    s.backend.transaction(() => {
      const w = s.store.write();
      w.put(Buffer.from(key), Buffer.from(value), 0n);
      return w.end();
    });
  const del = (s: { store: MvccStore; backend: Backend }, key: string): number =>
    s.backend.transaction(() => {
      const w = s.store.write();
      w.deleteRange(Buffer.from(key), undefined);
      return w.end();
    });
  const compact = (s: { store: MvccStore; backend: Backend }, rev: number): void => s.backend.transaction(() => s.store.compact(rev));
  /** crc32c("key" + the given versions' etcd bytes). */
  function expected(versions: [main: number, sub: number, key: string, create: number, version: number, value: string | undefined][]): number {
    let crc = crc32c(Buffer.from('key'));
    for (const [main, sub, key, create, version, value] of versions) {
      const kv =
        value === undefined
          ? { key: Buffer.from(key), create_revision: 0, mod_revision: 0, version: 0, value: Buffer.alloc(0), lease: 0n }
          : { key: Buffer.from(key), create_revision: create, mod_revision: main, version, value: Buffer.from(value), lease: 0n };
      crc = crc32c(revisionKey(main, sub, value === undefined), crc);
      crc = crc32c(marshalKeyValue(kv), crc);
    }
    return crc;
  }

  test('below the compacted revision only Keep(rev) is hashed while some key is alive', () => {
    const s = open();
    put(s, 'a', '1'); // 2
    put(s, 'b', '1'); // 3
    del(s, 'b'); // 4 (tombstone at the compacted revision: not hashed)
    compact(s, 4);
    put(s, 'a', '2'); // 5
    assert.equal(s.store.hashKV(4).hash, expected([[2, 0, 'a', 2, 1, '1']]));
    // At 5, a@2 was superseded: etcd's Keep(5) is {a@5}, so a@2 is skipped.
    assert.equal(s.store.hashKV(5).hash, expected([[5, 0, 'a', 2, 2, '2']]));
    // Nothing alive at 6: Keep is empty and etcd hashes every version still stored below.
    del(s, 'a'); // 6
    assert.equal(s.store.hashKV(6).hash, expected([[2, 0, 'a', 2, 1, '1'], [5, 0, 'a', 2, 2, '2'], [6, 0, 'a', 0, 0, undefined]]));
    assert.equal(s.store.hashKV(0).hash, s.store.hashKV(6).hash);
    assert.equal(s.store.hashKV(-3).hash, crc32c(Buffer.from('key')), 'a negative rev hashes nothing');
  });

  test('history not yet deleted below the compacted revision does not change the hash', () => {
    const s = open();
    put(s, 'a', '1'); // 2
    put(s, 'a', '2'); // 3
    put(s, 'gone', 'x'); // 4
    del(s, 'gone'); // 5
    const t = (): { history: { key: [number, number]; value: Buffer }[]; index: { key: Buffer; value: [number, number, number] }[] } => ({
      history: [
        { key: [2, 0], value: encodeRecord({ key: Buffer.from('a'), value: Buffer.from('1'), lease: 0n, create_revision: 2, mod_revision: 2, version: 1 }, false) },
        { key: [3, 0], value: encodeRecord({ key: Buffer.from('a'), value: Buffer.from('2'), lease: 0n, create_revision: 2, mod_revision: 3, version: 2 }, false) },
        { key: [4, 0], value: encodeRecord({ key: Buffer.from('gone'), value: Buffer.from('x'), lease: 0n, create_revision: 4, mod_revision: 4, version: 1 }, false) },
        { key: [5, 0], value: encodeRecord({ key: Buffer.from('gone'), value: Buffer.alloc(0), lease: 0n, create_revision: 0, mod_revision: 5, version: 0 }, true) },
      ],
      index: [
        { key: Buffer.from('a'), value: [2, 0, 0] },
        { key: Buffer.from('a'), value: [3, 0, 0] },
        { key: Buffer.from('gone'), value: [4, 0, 0] },
        { key: Buffer.from('gone'), value: [5, 0, 1] },
      ],
    });
    // The rows before compaction, hashed as if compacted at 5: what a member that has not yet
    // deleted the compacted history would see.
    const pending = hashByRev(t().history, () => t().index, 5, 5);
    compact(s, 5);
    assert.equal(s.store.hashKV(5).hash, pending);
    assert.equal(pending, expected([[3, 0, 'a', 2, 2, '2']]));
    // Deleting the compacted rows one small batch at a time changes neither hash on the way.
    const all = s.store.hashAll();
    let removed = 0;
    for (let batches = 0; batches < 20; batches++) {
      const r = s.backend.transaction(() => s.store.compaction.batch(1));
      removed += r.removed;
      assert.equal(s.store.hashKV(0).hash, pending, `HashKV after batch ${batches}`);
      assert.equal(s.store.hashAll(), all, `Hash after batch ${batches}`);
      if (r.done) break;
    }
    assert.equal(s.store.compaction.pending(), false, 'the compaction finished');
    assert.equal(removed, 3, 'a@2, gone@4 and its tombstone were deleted');
  });

  test('compacted and future revisions are refused; the compacted one itself is answered', () => {
    const s = open();
    put(s, 'a', '1'); // 2
    put(s, 'a', '2'); // 3
    compact(s, 3);
    assert.throws(() => s.store.hashKV(2), /compacted/);
    assert.throws(() => s.store.hashKV(4), /future/);
    const h = s.store.hashKV(3);
    assert.deepEqual([h.revision, h.compacted, h.hashRevision], [3, 3, 3]);
    assert.equal(h.hash, s.store.hashKV(0).hash);
  });
});
