// Raft entry payloads decode to the request that was proposed, by the hand-written put path and
// by the generic one alike.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEntryData, encodeEntryData, entryHeader } from '../../src/apply/entry-codec';
import type { InternalRequest } from '../../src/pb/types';

const put = { key: Buffer.from('k'), value: Buffer.alloc(300, 7), lease: '7587863016785577988', prev_kv: true, ignore_value: false, ignore_lease: true };

describe('entry codec', () => {
  test('a put without a header decodes by the fast path to the proposed request', () => {
    const data = encodeEntryData(5n, 2n ** 63n + 9n, { put });
    assert.deepEqual(entryHeader(data), { member: 5n, id: 2n ** 63n + 9n });
    const req = decodeEntryData(data);
    assert.deepEqual(req.put, put);
    assert.equal(req.header, null);
  });

  test('a put of an empty key and value, and one with a 2-byte length, decode', () => {
    for (const p of [{ ...put, key: Buffer.alloc(0), value: Buffer.alloc(0), lease: '0', prev_kv: false, ignore_lease: false }, { ...put, value: Buffer.alloc(20_000, 1) }]) {
      assert.deepEqual(decodeEntryData(encodeEntryData(1n, 1n, { put: p })).put, p);
    }
  });

  test('a put with a header, and other requests, take the generic path', () => {
    const withHeader = decodeEntryData(encodeEntryData(1n, 2n, { put, header: { username: 'alice', auth_revision: '12' } }));
    assert.deepEqual(withHeader.put, put);
    assert.deepEqual(withHeader.header, { username: 'alice', auth_revision: '12' });
    const del: InternalRequest = { delete_range: { key: Buffer.from('a'), range_end: Buffer.from('b'), prev_kv: false } };
    const back = decodeEntryData(encodeEntryData(1n, 3n, del));
    assert.deepEqual(back.delete_range, del.delete_range);
    assert.ok(!back.put);
  });

  test('a truncated put body is refused, not misread', () => {
    const data = encodeEntryData(1n, 1n, { put });
    assert.throws(() => decodeEntryData(data.subarray(0, data.length - 10)));
  });
});
