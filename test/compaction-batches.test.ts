// Acceptance (issue 13, item 6, short form): compacting a big history does not stall the member.
// 200,000 key versions are written, then Compact(head, physical) removes almost all of them while
// a writer puts in a loop: its worst latency stays within a generous bound of its median (the
// deletion runs in bounded batches off the apply path; deleting inside the apply stalls it for
// the whole deletion). A second compaction is visible at once, HashKV at it is the same during
// and after its deletion, and afterwards the history is really gone from the data dir.
// scripts/compaction-stall.ts measures the 1,000,000 case.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { Backend } from '../src/backend/backend';
import { startServer, type ServerProcess } from './helpers/server-process';
import { call, callError, kvClient, maintenanceClient, type Msg } from './helpers/grpc-client';
import { loadRevisions, stats, TimedLoop } from './helpers/compaction-load';

const COMPACTED = 'etcdserver: mvcc: required revision has been compacted';
const KEYS = 1000;
const VERSIONS = 200_000;

const servers: ServerProcess[] = [];
const clients: grpc.Client[] = [];
after(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await s.cleanup();
});

describe('compaction in batches', () => {
  test('a compaction of 200,000 versions does not stall a writer; the history is gone afterwards', { timeout: 240_000 }, async (t) => {
    const s = await startServer({ args: ['--max-txn-ops', '1000'] });
    servers.push(s);
    const kv = kvClient(s.endpoint);
    const mt = maintenanceClient(s.endpoint);
    clients.push(kv, mt);
    const head = await loadRevisions(s.endpoint, { versions: VERSIONS, putsPerTxn: 500, keys: KEYS, connections: 2, inFlightPerConnection: 4 });

    const writer = new TimedLoop((i) => call(kv, 'Put', { key: Buffer.from('writer'), value: Buffer.from(String(i)) }, 60_000));
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 1500));
    const t1 = performance.now();
    await call(kv, 'Compact', { revision: head, physical: true }, 200_000);
    const t2 = performance.now();
    await writer.stop();
    const base = stats(writer.within(t0, t1));
    const w = stats(writer.overlapping(t1, t2));
    // Generous: this machine may be shared, and a batch's commit delays a put by a few fsyncs.
    const bound = Math.max(20 * base.p50Ms, 400);
    t.diagnostic(`writer before compacting: p50 ${base.p50Ms.toFixed(1)} ms, max ${base.maxMs.toFixed(1)} ms`);
    t.diagnostic(`writer while compacting ${(t2 - t1).toFixed(0)} ms: ${w.count} puts, p50 ${w.p50Ms.toFixed(1)} ms, p99 ${w.p99Ms.toFixed(1)} ms, max ${w.maxMs.toFixed(1)} ms`);
    assert.equal(writer.errors, 0);
    assert.ok(w.maxMs < bound, `writer while compacting: max ${w.maxMs.toFixed(1)} ms, over ${bound.toFixed(0)} ms (20 x its median before, ${base.p50Ms.toFixed(1)} ms, or 400 ms)`);
    assert.ok(w.count >= 10, `the writer went on while compacting (${w.count} puts in ${(t2 - t1).toFixed(0)} ms)`);

    // A second compaction: visible at once, while its deletion has only begun, with the same
    // answers as once it is done.
    const head2 = await loadRevisions(s.endpoint, { versions: 20_000, putsPerTxn: 500, keys: KEYS, connections: 2, inFlightPerConnection: 4 });
    await call(kv, 'Compact', { revision: head2 }, 60_000);
    const during = await call(mt, 'HashKV', { revision: head2 });
    assert.equal(Number(during.compact_revision), head2);
    assert.match((await callError(kv, 'Range', { key: Buffer.from('key-000001'), revision: head2 - 1 })).details, new RegExp(COMPACTED));
    // As etcd: a physical Compact of a revision compacted already answers so once every
    // compaction before it is physically done.
    const again = await call(kv, 'Compact', { revision: head2, physical: true }, 200_000).then(
      () => assert.fail('compacted twice'),
      (err: grpc.ServiceError) => err,
    );
    assert.match(again.details, new RegExp(COMPACTED));
    const done = await call(mt, 'HashKV', { revision: head2 });
    assert.equal(done.hash, during.hash, 'HashKV at the compacted revision does not depend on how far the deletion got');

    // Reads at the compacted revision see every key's last version.
    const at = await call(kv, 'Range', { key: Buffer.from('key-'), range_end: Buffer.from('key.'), revision: head2, count_only: true });
    assert.equal(Number(at.count), KEYS);
    const now = Number(((await call(kv, 'Range', { key: Buffer.from('writer') })).header as Msg).revision);

    // What is left on disk: each key's version at the compacted revision and the writes after it.
    // A clean stop: after a SIGKILL the newest writes would be in the write-ahead log only.
    await s.stop();
    const backend = new Backend({ dir: join(s.dataDir, 'member', 'lmdb') });
    try {
      const history = backend.orderedTable<Buffer, [number, number]>('mvcc-history', { keys: 'ordered-binary', values: 'binary' });
      const index = backend.orderedTable<[number, number, number], Buffer>('mvcc-index', { keys: 'binary', values: 'ordered-binary', dupSort: true });
      // Each key's version at the compacted revision (the writer's key too), and anything newer.
      const want = KEYS + 1 + (now - head2);
      assert.equal(history.getKeysCount({}), want);
      let indexRows = 0;
      for (const k of index.getKeys({})) indexRows += index.getValuesCount(k);
      assert.equal(indexRows, want);
    } finally {
      await backend.close();
    }
  });
});
