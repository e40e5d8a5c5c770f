import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LMDB_KEY_PREFIX_BYTES, storageBounds, storageKey } from '../../src/mvcc/key-codec';
import { prefixEnd } from '../../src/concurrency/kv-ops';

describe('key codec', () => {
  test('short keys are stored as themselves', () => {
    const k = Buffer.from('abc');
    assert.equal(storageKey(k), k);
    const max = Buffer.alloc(LMDB_KEY_PREFIX_BYTES, 1);
    assert.equal(storageKey(max), max);
  });

  test('long keys fit LMDB, stay distinct, and sort right after their prefix', () => {
    const prefix = Buffer.alloc(LMDB_KEY_PREFIX_BYTES, 0x61);
    const k1 = Buffer.concat([prefix, Buffer.from('x')]);
    const k2 = Buffer.concat([prefix, Buffer.from('y'), Buffer.alloc(5000)]);
    const s1 = storageKey(k1);
    const s2 = storageKey(k2);
    assert.ok(s1.length <= 1978 && s2.length <= 1978);
    assert.notDeepEqual(s1, s2);
    assert.ok(Buffer.compare(prefix, s1) < 0 && Buffer.compare(prefix, s2) < 0);
    const next = prefixEnd(prefix);
    assert.ok(Buffer.compare(s1, next) < 0 && Buffer.compare(s2, next) < 0);
  });

  test('bounds cover every bucket entry of a long bound', () => {
    const prefix = Buffer.alloc(LMDB_KEY_PREFIX_BYTES, 0x62);
    const long = Buffer.concat([prefix, Buffer.from('zzz')]);
    const { lo, hi, exact } = storageBounds(long, Buffer.concat([prefix, Buffer.from('zzzz')]));
    assert.equal(exact, false);
    assert.ok(hi !== undefined && Buffer.compare(storageKey(long), hi) < 0 && Buffer.compare(lo, storageKey(long)) <= 0);
  });

  test('prefixEnd is etcd\'s GetPrefixRangeEnd', () => {
    assert.deepEqual(prefixEnd(Buffer.from('abc')), Buffer.from('abd'));
    assert.deepEqual(prefixEnd(Buffer.from([0x61, 0xff])), Buffer.from([0x62]));
    assert.deepEqual(prefixEnd(Buffer.from([0xff, 0xff])), Buffer.from([0]));
  });
});
