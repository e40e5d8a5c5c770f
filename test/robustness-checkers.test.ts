// The robustness checkers on hand-built histories: one correct history every checker must pass,
// one known-bad variant per violation class that must be flagged, a history made to exhaust the
// linearizability search (must come out 'unknown', never 'ok'), and a simulated correct history
// of a few thousand overlapping calls with unknown outcomes that must pass.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Call, History, Op, Result, Verdict, WatchEvent, WatchSession } from './robustness/history';
import { checkLinearizability } from './robustness/check-linearizability';
import { checkWatches } from './robustness/check-watch';
import { checkDurability } from './robustness/check-durability';
import { wglSearch, type SequentialModel, type TimedOp } from './robustness/check-wgl';
import { INITIAL_KEY_STATE, keyOpPlace, keyStateId, stepKey, type KeyOp, type KeyState } from './robustness/model-kv-key';
import { simulateHistory } from './robustness/model-simulated-history';

const LIMIT_MS = 10_000;

function call(id: number, client: number, op: Op, invokeMs: number, completeMs: number | undefined, outcome: Call['outcome'], result?: Result, error?: string): Call {
  return { id, client, endpoint: `m${client}`, op, invokeMs, completeMs, outcome, result, error };
}
const put = (key: string, value: string, revision: number, createRevision: number, version: number): WatchEvent => ({ type: 'put', key, value, modRevision: revision, createRevision, version });
const del = (key: string, revision: number): WatchEvent => ({ type: 'delete', key, modRevision: revision, createRevision: 0, version: 0 });
const resp = (events: WatchEvent[]): WatchSession['responses'][number] => ({ revision: Math.max(...events.map((e) => e.modRevision)), events, atMs: 0 });

/**
 * rev 2 put a; 3 put b (lease L1); 4 put e (lease L1); 5 txn a; 6 delete a; 7 put c (unknown
 * outcome, happened); 8 L1 expires (b, e deleted, no call); 9 put a. Plus a txn whose compare
 * failed, a delete that found nothing, an unknown put that did not happen, a failed put, a stale
 * but real serializable read, a compaction.
 */
function goodHistory(): History {
  const E = {
    a2: put('a', 'a1', 2, 2, 1),
    b3: put('b', 'b1', 3, 3, 1),
    e4: put('e', 'e1', 4, 4, 1),
    a5: put('a', 'a2', 5, 2, 2),
    a6: del('a', 6),
    c7: put('c', 'c1', 7, 7, 1),
    b8: del('b', 8),
    e8: del('e', 8),
    a9: put('a', 'a4', 9, 9, 1),
  };
  const calls: Call[] = [
    call(0, 2, { type: 'lease-grant', ttl: 10 }, 0, 3, 'ok', { revision: 1, lease: 'L1' }),
    call(1, 1, { type: 'put', key: 'a', value: 'a1' }, 0, 10, 'ok', { revision: 2 }),
    call(2, 2, { type: 'put', key: 'b', value: 'b1', lease: 'L1' }, 5, 15, 'ok', { revision: 3 }),
    call(3, 3, { type: 'get', key: 'a', serializable: false }, 12, 20, 'ok', { revision: 3, value: 'a1', modRevision: 2 }),
    call(4, 2, { type: 'put', key: 'e', value: 'e1', lease: 'L1' }, 16, 19, 'ok', { revision: 4 }),
    call(5, 1, { type: 'txn', key: 'a', expectModRev: 2, value: 'a2' }, 20, 30, 'ok', { revision: 5, succeeded: true }),
    call(6, 2, { type: 'txn', key: 'a', expectModRev: 2, value: 'a3' }, 32, 40, 'ok', { revision: 5, succeeded: false, value: 'a2', modRevision: 5 }),
    call(7, 3, { type: 'delete', key: 'a' }, 41, 50, 'ok', { revision: 6 }),
    call(8, 1, { type: 'delete', key: 'a' }, 51, 55, 'ok', { revision: 6 }),
    call(9, 2, { type: 'put', key: 'c', value: 'c1' }, 56, 58, 'unknown', undefined, 'context deadline exceeded'),
    call(10, 3, { type: 'put', key: 'c', value: 'cX' }, 56, 60, 'unknown', undefined, 'connection reset'),
    call(11, 3, { type: 'put', key: 'd', value: 'dF', lease: 'L9' }, 61, 62, 'fail', undefined, 'etcdserver: requested lease not found'),
    call(12, 1, { type: 'get', key: 'b', serializable: true }, 70, 75, 'ok', { revision: 6, value: 'b1', modRevision: 3 }),
    call(13, 1, { type: 'get', key: 'b', serializable: false }, 76, 80, 'ok', { revision: 8, value: null, modRevision: 0 }),
    call(14, 3, { type: 'put', key: 'a', value: 'a4' }, 81, 90, 'ok', { revision: 9 }),
    call(15, 2, { type: 'compact', revision: 5 }, 91, 92, 'ok', { revision: 9 }),
  ];
  const watches: WatchSession[] = [
    { watcher: 1, endpoint: 'm1', key: 'a', rangeEnd: '', startRevision: 2, responses: [resp([E.a2]), resp([E.a5]), resp([E.a6])], endedMs: 60 },
    { watcher: 1, endpoint: 'm2', key: 'a', rangeEnd: '', startRevision: 7, responses: [resp([E.a9])] },
    {
      watcher: 2,
      endpoint: 'm3',
      key: 'a',
      rangeEnd: 'f',
      startRevision: 1,
      responses: [resp([E.a2, E.b3]), resp([E.e4]), resp([E.a5, E.a6]), resp([E.c7]), resp([E.b8, E.e8]), resp([E.a9])],
    },
    { watcher: 3, endpoint: 'm1', key: '', rangeEnd: '\0', startRevision: 8, responses: [resp([E.b8, E.e8, E.a9])] },
  ];
  return {
    seed: 1,
    calls,
    watches,
    faults: [],
    finalEvents: Object.values(E),
    finalState: { a: ['a4', 9], c: ['c1', 7] },
    finalRevision: 9,
  };
}

/** A copy of the good history with one change. */
function variant(change: (h: History) => void): History {
  const h = structuredClone(goodHistory());
  change(h);
  return h;
}
const callById = (h: History, id: number): Call => h.calls.find((c) => c.id === id) as Call;

function expectViolation(v: Verdict, pattern: RegExp): void {
  assert.equal(v.result, 'violation', `expected a violation matching ${pattern}, got ${v.result}`);
  assert.match(v.message ?? '', pattern);
  assert.notEqual(v.evidence, undefined);
}

describe('robustness checkers', () => {
  test('a correct history passes all three', () => {
    const h = goodHistory();
    assert.deepEqual(checkLinearizability(h, LIMIT_MS), { checker: 'linearizability', result: 'ok' });
    assert.deepEqual(checkWatches(h), { checker: 'watch', result: 'ok' });
    assert.deepEqual(checkDurability(h), { checker: 'durability', result: 'ok' });
  });

  test('stale linearizable read', () => {
    // The txn at revision 5 completed at 30; a read invoked at 31 answers revision 3.
    const h = variant((h) => h.calls.push(call(99, 3, { type: 'get', key: 'a', serializable: false }, 31, 33, 'ok', { revision: 3, value: 'a1', modRevision: 2 })));
    expectViolation(checkLinearizability(h, LIMIT_MS), /stale read/);
  });

  test('lost acknowledged write', () => {
    const h = variant((h) => h.calls.push(call(99, 2, { type: 'put', key: 'd', value: 'd1' }, 85, 88, 'ok', { revision: 9 })));
    expectViolation(checkLinearizability(h, LIMIT_MS), /lost acknowledged write/);
    expectViolation(checkDurability(h), /lost acknowledged write/);
  });

  test('lost acknowledged delete', () => {
    // Answered revision 9, but a existed then and nothing deleted it.
    const h = variant((h) => h.calls.push(call(99, 2, { type: 'delete', key: 'a' }, 93, 95, 'ok', { revision: 9 })));
    expectViolation(checkLinearizability(h, LIMIT_MS), /lost delete/);
    expectViolation(checkDurability(h), /lost acknowledged write/);
  });

  test('write acknowledged with the wrong revision', () => {
    const h = variant((h) => ((callById(h, 1).result as Result).revision = 3));
    expectViolation(checkLinearizability(h, LIMIT_MS), /wrong revision/);
  });

  test('real-time order violation between writes', () => {
    // put b (revision 3) completes at 15, then put a (revision 2) is invoked.
    const h = variant((h) => {
      callById(h, 1).invokeMs = 16;
      callById(h, 1).completeMs = 18;
    });
    expectViolation(checkLinearizability(h, LIMIT_MS), /real-time order violation/);
  });

  test('serializable read of a value that never existed at its revision', () => {
    const h = variant((h) => ((callById(h, 12).result as Result).revision = 2)); // b was put at 3
    expectViolation(checkLinearizability(h, LIMIT_MS), /serializable read/);
  });

  test('failed call whose write took effect', () => {
    const h = variant((h) => (callById(h, 9).outcome = 'fail'));
    expectViolation(checkLinearizability(h, LIMIT_MS), /failed .* but its write is committed/);
  });

  test('broken reference history: a skipped revision', () => {
    const h = variant((h) => {
      h.finalEvents = h.finalEvents.filter((e) => e.modRevision !== 4);
    });
    for (const v of [checkLinearizability(h, LIMIT_MS), checkWatches(h), checkDurability(h)]) expectViolation(v, /revision 4 is skipped/);
  });

  test('watch gap', () => {
    const h = variant((h) => (h.watches[2].responses[2] = resp([h.finalEvents[4]]))); // drops revision 5
    expectViolation(checkWatches(h), /watch gap: missed revision 5/);
  });

  test('a watch from exactly a compacted revision may miss its deletes (as etcd 3.4), and only then', () => {
    // Watcher 3 starts at 8, where b and e were deleted; a9 still comes.
    const missing = (h: History): void => {
      h.watches[3].responses = [resp([h.finalEvents[8]])];
    };
    expectViolation(checkWatches(variant(missing)), /watch gap: missed revision 8/);
    const compactedAt8 = variant((h) => {
      missing(h);
      (callById(h, 15).op as { revision: number }).revision = 8;
    });
    assert.equal(checkWatches(compactedAt8).result, 'ok', 'compacting at 8 removed its tombstones');
    assert.equal(checkWatches(variant((h) => ((callById(h, 15).op as { revision: number }).revision = 8))).result, 'ok', 'delivering them is fine too');
  });

  test('duplicate watch event', () => {
    const h = variant((h) => h.watches[2].responses.splice(3, 0, resp([h.finalEvents[2]]))); // revision 4 again after 6
    expectViolation(checkWatches(h), /duplicate watch event/);
    const again = variant((h) => h.watches[2].responses.splice(2, 0, resp([h.finalEvents[2]]))); // revision 4 twice in a row
    expectViolation(checkWatches(again), /duplicate watch event/);
  });

  test('events of one revision split over two responses', () => {
    const h = variant((h) => {
      const [b8, e8] = h.watches[2].responses[4].events;
      h.watches[2].responses.splice(4, 1, resp([b8]), resp([e8]));
    });
    expectViolation(checkWatches(h), /revision 8 were split over 2 responses/);
  });

  test('resumption that skips a revision', () => {
    // Session 1 received up to 6, so the next must start at 7 (here 8: a's revision 9 still comes).
    const h = variant((h) => (h.watches[1].startRevision = 8));
    expectViolation(checkWatches(h), /resumption skips revisions 7\.\.7/);
  });

  test('a search that runs out of time is unknown, never ok', () => {
    // A correct history, but a time limit the search cannot finish within.
    const h = simulateHistory({ seed: 7, calls: 2000, clients: 3, keys: 5, watchers: 0 });
    assert.deepEqual(checkLinearizability(h, LIMIT_MS), { checker: 'linearizability', result: 'ok' });
    const tiny = checkLinearizability(h, 0);
    assert.equal(tiny.result, 'unknown');
    assert.match(tiny.message ?? '', /time limit/);

    // And a search that is exponential in earnest: the per-key model, searched in plain time
    // order (Porcupine's), over n deletes that found nothing at revision 3, all invoked before the
    // put (2) and the delete (3) they must follow. Tried first, each subset of them is a new
    // (linearized set, state) pair, and every one is a dead end: 2^n of them.
    const hard = (n: number): TimedOp<KeyOp>[] => [
      { invokeMs: 10, completeMs: 100, op: { kind: 'put', revision: 2, value: 'v1', createRevision: 2, version: 1 } },
      { invokeMs: 10, completeMs: 100, op: { kind: 'delete', revision: 3 } },
      ...Array.from({ length: n }, () => ({ invokeMs: 0, completeMs: 100, op: { kind: 'read' as const, revision: 3, value: null, modRevision: 0 } })),
    ];
    const timeOrder: SequentialModel<KeyState, KeyOp> = { init: INITIAL_KEY_STATE, step: stepKey, id: keyStateId };
    assert.equal(wglSearch(timeOrder, hard(6), performance.now() + LIMIT_MS).result, 'ok'); // correct, merely slow to prove
    const started = performance.now();
    const v = wglSearch(timeOrder, hard(40), started + 50);
    assert.equal(v.result, 'unknown');
    console.log(`time-ordered search gave up after ${(performance.now() - started).toFixed(0)} ms`);
    // Trying candidates in revision order (what checkLinearizability does) walks straight through.
    assert.equal(wglSearch({ ...timeOrder, priority: keyOpPlace }, hard(40), performance.now() + LIMIT_MS).result, 'ok');
  });

  test('the search itself finds a non-linearizable register history', () => {
    // write 1, then a read of 2 that completes before write 2 is invoked.
    type RegOp = { w: number } | { r: number };
    const reg: SequentialModel<number, RegOp> = {
      init: 0,
      step: (s, op) => ('w' in op ? op.w : op.r === s ? s : undefined),
      id: String,
    };
    const ops = [
      { invokeMs: 0, completeMs: 2, op: { w: 1 } },
      { invokeMs: 3, completeMs: 4, op: { r: 2 } },
      { invokeMs: 5, completeMs: 6, op: { w: 2 } },
    ];
    const bad = wglSearch(reg, ops, performance.now() + LIMIT_MS);
    assert.equal(bad.result, 'violation');
    assert.equal(bad.result === 'violation' && bad.blockedBy, 1);
    // The per-key etcd model: a read served at revision 1 after the put at revision 2 returned.
    const stale = wglSearch({ init: INITIAL_KEY_STATE, step: stepKey, id: keyStateId, priority: keyOpPlace }, [
      { invokeMs: 0, completeMs: 1, op: { kind: 'put', revision: 2, value: 'v', createRevision: 2, version: 1 } },
      { invokeMs: 2, completeMs: 3, op: { kind: 'read', revision: 1, value: null, modRevision: 0 } },
    ], performance.now() + LIMIT_MS);
    assert.equal(stale.result, 'violation');
    ops[2].invokeMs = 1; // now write 2 overlaps the read
    assert.equal(wglSearch(reg, ops, performance.now() + LIMIT_MS).result, 'ok');
    ops[2].completeMs = Infinity; // an unknown outcome may still take effect
    assert.equal(wglSearch(reg, ops, performance.now() + LIMIT_MS).result, 'ok');
  });

  test('a simulated correct history of a few thousand overlapping calls passes', () => {
    for (const seed of [1, 2, 3]) {
      const h = simulateHistory({ seed, calls: 4000, clients: 3, keys: 20, watchers: 6 });
      const count = (outcome: Call['outcome']): number => h.calls.filter((c) => c.outcome === outcome).length;
      const values = new Set(h.finalEvents.map((e) => e.value));
      const unknownWrites = h.calls.filter((c) => c.outcome === 'unknown' && (c.op.type === 'put' || c.op.type === 'txn'));
      const happened = unknownWrites.filter((c) => values.has((c.op as { value: string }).value)).length;
      assert.ok(happened > 0 && happened < unknownWrites.length, 'some unknown writes happened and some did not');
      const t0 = performance.now();
      const lin = checkLinearizability(h, LIMIT_MS);
      const t1 = performance.now();
      const watch = checkWatches(h);
      const dur = checkDurability(h);
      const t2 = performance.now();
      console.log(
        `seed ${seed}: ${h.calls.length} calls (${count('unknown')} unknown, ${happened} of ${unknownWrites.length} unknown puts/txns happened, ${count('fail')} failed), ` +
          `revision ${h.finalRevision}, ${h.watches.length} watch sessions; linearizability ${(t1 - t0).toFixed(0)} ms, watch + durability ${(t2 - t1).toFixed(0)} ms`,
      );
      assert.deepEqual(lin, { checker: 'linearizability', result: 'ok' }, JSON.stringify(lin, null, 1)?.slice(0, 3000));
      assert.deepEqual(watch, { checker: 'watch', result: 'ok' }, JSON.stringify(watch, null, 1)?.slice(0, 3000));
      assert.deepEqual(dur, { checker: 'durability', result: 'ok' });
    }
  });
});
