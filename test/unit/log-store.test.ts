// The durable Raft log on a real LMDB environment: append, overwrite a suffix, compact, reopen.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backend } from '../../src/backend/backend';
import { decodeHardState, encodeHardState, LogStore } from '../../src/raftnode/log-store';
import { EntryType, type Entry } from '../../src/raft/types';

const dir = mkdtempSync(join(tmpdir(), 'log-store-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const entry = (index: number, term: number): Entry => ({ index, term, type: EntryType.Normal, data: Buffer.from(`e${index}`) });

describe('raft log store', () => {
  test('append, replace a suffix, compact and reopen', async () => {
    let backend = new Backend({ dir, mapSizeBytes: 16 * 1024 * 1024 });
    let log = new LogStore(backend);
    assert.deepEqual([log.firstIndex(), log.lastIndex()], [1, 0]);
    backend.transaction(() => log.append(Array.from({ length: 100 }, (_, i) => entry(i + 1, 1))));
    assert.equal(log.lastIndex(), 100);
    // A new leader's entries replace the tail from index 91.
    backend.transaction(() => log.append([entry(91, 2), entry(92, 2)]));
    assert.equal(log.lastIndex(), 92);
    assert.equal(log.term(92), 2);
    backend.transaction(() => log.compactTo(50));
    assert.equal(log.firstIndex(), 50);
    assert.equal(log.term(49), 1, 'the term before the first kept entry is remembered');
    assert.throws(() => log.entries(40, 60));
    backend.transaction(() => log.setHardState({ term: 2, vote: '7', commit: 92 }));
    await backend.close();

    backend = new Backend({ dir });
    log = new LogStore(backend);
    assert.deepEqual([log.firstIndex(), log.lastIndex()], [50, 92]);
    assert.deepEqual(log.entries(90, 93).map((e) => [e.index, e.term, e.data.toString()]), [[90, 1, 'e90'], [91, 2, 'e91'], [92, 2, 'e92']]);
    assert.deepEqual(log.hardState(), { term: 2, vote: '7', commit: 92 });
    await backend.close();
  });

  test('the hard state is stored in binary; the JSON of earlier stores is still read', () => {
    const buf = Buffer.alloc(300);
    for (const hs of [
      { term: 0, vote: '', commit: 0 },
      { term: 7, vote: '10276657743932975437', commit: 123_456_789 },
      { term: 2 ** 40, vote: '1', commit: Number.MAX_SAFE_INTEGER },
    ]) {
      const stored = encodeHardState(hs, buf);
      assert.equal(stored.length, 5 + 17 + Buffer.byteLength(hs.vote));
      assert.deepEqual(decodeHardState(Buffer.from(stored)), hs);
    }
    assert.deepEqual(decodeHardState(Buffer.from(JSON.stringify({ term: 3, vote: '9', commit: 44 }))), { term: 3, vote: '9', commit: 44 });
    assert.throws(() => encodeHardState({ term: 1, vote: 'x'.repeat(256), commit: 1 }, buf), /longer than 255 bytes/);
  });

  test('meta numbers keep their big-endian int64 form, negative ones included', async () => {
    const d = mkdtempSync(join(tmpdir(), 'meta-number-test-'));
    const backend = new Backend({ dir: d, mapSizeBytes: 16 * 1024 * 1024 });
    try {
      const values = [0, 1, 255, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 5, 2 ** 52 + 3, Number.MAX_SAFE_INTEGER, -1, -(2 ** 40)];
      backend.transaction(() => values.forEach((v, i) => backend.putMetaNumber(`test/n${i}`, v)));
      assert.deepEqual(values.map((_, i) => backend.getMetaNumber(`test/n${i}`)), values);
      const raw = backend.getMetaBuffer('test/n5');
      assert.equal(raw?.toString('hex'), '0000000100000005');
    } finally {
      await backend.close();
      rmSync(d, { recursive: true, force: true });
    }
  });
});
