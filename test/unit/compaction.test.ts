// Compaction in batches (src/mvcc/compaction.ts) on a real LMDB environment: whatever the batch
// size and however far the deletion got, reads at or above the compacted revision, HashKV and
// watch history answer the same; once done, exactly the kept versions are left.
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backend } from '../../src/backend/backend';
import { MvccStore } from '../../src/mvcc/store';
import { CompactionScheduler } from '../../src/mvcc/compaction-scheduler';
import { LMDB_KEY_PREFIX_BYTES } from '../../src/mvcc/key-codec';
import { FileBytes, readSnapshot } from '../../src/mvcc/snapshot';

const b = (s: string): Buffer => Buffer.from(s);
const ALL = Buffer.alloc(0);
const dirs: string[] = [];
const backends: Backend[] = [];

interface Opened {
  store: MvccStore;
  backend: Backend;
  dir: string;
}

function open(dir?: string): Opened {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'compaction-test-'));
  if (dir === undefined) dirs.push(d);
  const backend = new Backend({ dir: d, mapSizeBytes: 64 * 1024 * 1024 });
  backends.push(backend);
  return { store: new MvccStore(backend), backend, dir: d };
}

afterEach(async () => {
  for (const be of backends.splice(0)) await be.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function write(s: Opened, ops: (['put', string, string] | ['del', string])[]): number {
  return s.backend.transaction(() => {
    const w = s.store.write();
    for (const op of ops) {
      if (op[0] === 'put') w.put(b(op[1]), b(op[2]), 0n);
      else w.deleteRange(b(op[1]), undefined);
    }
    return w.end();
  });
}

/** A deterministic history over a few keys: puts, deletes, re-creations, one long key. */
function fill(s: Opened, revisions: number, seed = 7): void {
  let x = seed;
  const rand = (n: number): number => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
  const keys = ['a', 'b', 'c', 'd', 'e', 'f', 'p'.repeat(LMDB_KEY_PREFIX_BYTES) + 'long'];
  for (let i = 0; i < revisions; i++) {
    const k = keys[rand(keys.length)];
    if (rand(5) === 0 && s.store.range(b(k), undefined).count > 0) write(s, [['del', k]]);
    else write(s, [['put', k, `v${i}`]]);
  }
}

/** Everything a reader can see at revisions from..to (default: the head), the watch history and HashKV. */
function observe(s: Opened, from: number, to?: number): string {
  const head = to ?? s.store.currentRevision();
  const out: string[] = [];
  for (let rev = from; rev <= head; rev++) {
    const r = s.store.range(b('a'), ALL, { revision: rev });
    out.push(`${rev}:${r.kvs.map((kv) => `${kv.key.toString().slice(-4)}=${kv.value.toString()}@${kv.mod_revision}/${kv.version}`).join(',')}`);
  }
  const h = s.store.historySince(from, { maxEvents: 1e9, maxBytes: 1e12, maxScannedBytes: 1e12 });
  out.push(h.events.filter((e) => e.kv.mod_revision <= head).map((e) => `${e.type}:${e.kv.mod_revision}`).join(','));
  out.push(String(s.store.hashKV(head).hash), String(s.store.hashKV(from).hash));
  return out.join('\n');
}

function rows(s: Opened): { history: number; index: number } {
  // Outside the store's API on purpose: what is physically left.
  const history = s.backend.orderedTable<Buffer, [number, number]>('mvcc-history', { keys: 'ordered-binary', values: 'binary' });
  const index = s.backend.orderedTable<[number, number, number], Buffer>('mvcc-index', { keys: 'binary', values: 'ordered-binary', dupSort: true });
  return { history: history.getKeysCount({}), index: [...index.getRange({})].length };
}

function compact(s: Opened, rev: number): void {
  s.backend.transaction(() => s.store.compact(rev));
}

/** Runs batches of `limit` until the compaction is done; checks `check` after each one. */
function drain(s: Opened, limit: number, check: () => void): number {
  let batches = 0;
  for (let i = 0; i < 100_000; i++) {
    const r = s.backend.transaction(() => s.store.compaction.batch(limit));
    batches++;
    check();
    if (r.done) return batches;
  }
  throw new Error('compaction did not finish');
}

describe('compaction in batches', () => {
  for (const limit of [1, 3, 1000]) {
    test(`reads at or above the compacted revision never change while batches of ${limit} run`, () => {
      const s = open();
      fill(s, 200);
      const at = 150;
      compact(s, at);
      const want = observe(s, at);
      assert.equal(s.store.compaction.pending(), true);
      const batches = drain(s, limit, () => assert.equal(observe(s, at), want));
      if (limit === 1) assert.ok(batches > 50, `${batches} batches`);
      assert.equal(s.store.compaction.pending(), false);
      assert.equal(s.store.compaction.finishedRevision(), at);

      // What is left is what a compaction of a fresh copy keeps: the same history written
      // again and compacted in one batch.
      const ref = open();
      fill(ref, 200);
      compact(ref, at);
      drain(ref, 1_000_000, () => undefined);
      assert.deepEqual(rows(s), rows(ref));
      assert.ok(rows(s).history < 200, 'history was deleted');
    });
  }

  test('a second compaction while one runs takes it over; reads stay the same throughout', () => {
    const s = open();
    fill(s, 400, 11);
    compact(s, 150);
    for (let i = 0; i < 20; i++) s.backend.transaction(() => s.store.compaction.batch(5));
    compact(s, 300);
    const want = observe(s, 300);
    drain(s, 7, () => assert.equal(observe(s, 300), want));
    assert.equal(s.store.compaction.finishedRevision(), 300);
    const ref = open();
    fill(ref, 400, 11);
    compact(ref, 300);
    drain(ref, 1_000_000, () => undefined);
    assert.deepEqual(rows(s), rows(ref));
  });

  test('a compaction interrupted by a restart resumes where its last batch ended', async () => {
    const s = open();
    fill(s, 300, 3);
    compact(s, 250);
    const want = observe(s, 250);
    for (let i = 0; i < 10; i++) s.backend.transaction(() => s.store.compaction.batch(4));
    const before = rows(s);
    await s.backend.close();
    backends.splice(backends.indexOf(s.backend), 1);
    const again = open(s.dir);
    assert.equal(again.store.compactRevision(), 250);
    assert.equal(again.store.compaction.pending(), true);
    assert.equal(observe(again, 250), want);
    // The next batch goes on from the cursor: it deletes, it does not start over.
    const r = again.backend.transaction(() => again.store.compaction.batch(4));
    assert.ok(r.removed > 0 && rows(again).history < before.history);
    drain(again, 50, () => assert.equal(observe(again, 250), want));
  });

  test('the scheduler runs batches in their own transactions and physical waiters are told', async () => {
    const s = open();
    fill(s, 500, 5);
    compact(s, 450);
    const head = s.store.currentRevision();
    const want = observe(s, 450);
    const scheduler = new CompactionScheduler({ backend: s.backend, ledger: s.store.compaction, batchLimit: 10, batchIntervalMs: 1 });
    const done = scheduler.waitFinished(450);
    // The scheduler's timers do not keep a process alive; this test's must.
    const keepAlive = setInterval(() => undefined, 1000);
    scheduler.start();
    // Writes go on meanwhile, through the same environment.
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 2));
      write(s, [['put', 'z', String(i)]]);
    }
    await done;
    clearInterval(keepAlive);
    assert.equal(s.store.compaction.pending(), false);
    assert.equal(observe(s, 450, head), want);
    assert.ok(rows(s).history < 500);
    await scheduler.stop();
    await assert.rejects(scheduler.waitFinished(s.store.currentRevision()), /stopped/);
  });

  test('an imported state is compacted again from the start (the sender may not have finished)', () => {
    const src = open();
    fill(src, 200, 9);
    compact(src, 150);
    const view = src.backend.readView();
    const { revision, compacted } = src.store.stateRevisions(view);
    const chunks = [...src.store.exportState(view)];
    view.done();
    const dst = open();
    dst.backend.transaction(() => dst.store.compact(1));
    dst.backend.transaction(() => dst.store.compaction.batch(1000));
    const file = join(dst.dir, 'snap');
    writeFileSync(file, Buffer.concat(chunks));
    const fd = openSync(file, 'r');
    try {
      dst.backend.transaction(() => dst.store.importState(readSnapshot(new FileBytes(fd, 0)), revision, compacted));
    } finally {
      closeSync(fd);
    }
    assert.equal(dst.store.compaction.pending(), true);
    assert.equal(observe(dst, 150), observe(src, 150));
    drain(dst, 9, () => undefined);
    drain(src, 1000, () => undefined);
    assert.deepEqual(rows(dst), rows(src));
  });
});
