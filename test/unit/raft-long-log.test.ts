// The raft log handles runs of entries longer than fit as call arguments (~120,000 at Node's
// default stack): a restart that replays a long log tail hands all of it to RaftLog at once, and
// `push(...entries)` threw "Maximum call stack size exceeded" there, so the member could not start.
// Pure: an in-memory LogStorage.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftLog, appendAll } from '../../src/raft/log';
import { MemoryStorage } from '../helpers/raft-harness';
import { EntryType, type Entry } from '../../src/raft/types';

/** More than a spread can pass at the default stack size (checked below, so the test keeps its point). */
const LONG = 300_000;
const NO_DATA = Buffer.alloc(0);

function entries(from: number, count: number, term = 1): Entry[] {
  const out: Entry[] = new Array<Entry>(count);
  for (let k = 0; k < count; k++) out[k] = { term, index: from + k, type: EntryType.Normal, data: NO_DATA };
  return out;
}

function assertRun(got: Entry[], from: number, count: number): void {
  assert.equal(got.length, count);
  assert.equal(got[0].index, from);
  assert.equal(got[count - 1].index, from + count - 1);
}

describe('a raft log longer than a spread can pass', () => {
  test('the premise: pushing that many items as spread arguments throws', () => {
    assert.throws(() => new Array<Entry>().push(...entries(1, LONG)), RangeError);
    const to: Entry[] = [];
    appendAll(to, entries(1, LONG));
    assertRun(to, 1, LONG);
  });

  test('committed entries replayed from storage come back whole (a restart after a long uncheckpointed tail)', () => {
    const log = new RaftLog(new MemoryStorage(entries(1, LONG)), LONG, 0);
    assertRun(log.nextCommitted(64 * 1024 * 1024), 1, LONG);
    // A byte bound still cuts the run: 24 bytes an empty entry counts for.
    assertRun(log.nextCommitted(24 * 1000), 1, 1000);
  });

  test('a stable and an unstable run together', () => {
    const log = new RaftLog(new MemoryStorage(entries(1, LONG)), 0, 0);
    log.append(entries(LONG + 1, LONG));
    assert.equal(log.lastIndex(), 2 * LONG);
    assertRun(log.entries(1, 2 * LONG + 1), 1, 2 * LONG);
  });

  test('appending a long run to the unstable tail, twice', () => {
    const log = new RaftLog(new MemoryStorage([]), 0, 0);
    log.append(entries(1, LONG));
    log.append(entries(LONG + 1, LONG));
    assertRun(log.entries(1, 2 * LONG + 1), 1, 2 * LONG);
    assert.equal(log.term(2 * LONG), 1);
  });
});
