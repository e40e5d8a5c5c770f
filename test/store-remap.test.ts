// An idle member gives back the store's mapped pages by closing and opening its LMDB environment
// again (Backend.releaseMappedPages). Here the threshold is 1 byte, so the server reopens its
// store at nearly every idle checkpoint tick while writes, reads, a compaction and leases go on
// around it; every answer must be right, and after a SIGKILL every acknowledged write is there.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type * as grpc from '@grpc/grpc-js';
import { b, call, kvClient, serviceClient, type Msg } from './helpers/grpc-client';
import { startServer, type ServerProcess } from './helpers/server-process';

const REMAPPED = 'gave back the pages of the store mapped since it was opened';
const ROUNDS = 8;
const KEYS_PER_ROUND = 60;

const servers: ServerProcess[] = [];
const clients: grpc.Client[] = [];
after(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await s.cleanup();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const keyOf = (round: number, i: number): string => `remap/${String(round).padStart(2, '0')}/${String(i).padStart(3, '0')}`;
const valueOf = (round: number, i: number): string => `v${round}-${i}-${'x'.repeat((round * 37 + i) % 300)}`;

async function rangeAll(kv: grpc.Client): Promise<Map<string, string>> {
  const r = await call(kv, 'Range', { key: b('remap/'), range_end: b('remap0') });
  const out = new Map<string, string>();
  for (const kvp of r.kvs as Msg[]) out.set(Buffer.from(kvp.key as Buffer).toString(), Buffer.from(kvp.value as Buffer).toString());
  return out;
}

test('the store reopened at idle ticks under writes, reads, a compaction and leases; a SIGKILL after it loses nothing', async (t) => {
  const env = { ETCD_TS_RELEASE_MAPPED_BYTES: '1' };
  let s = await startServer({ env, args: ['--log-level', 'debug'] });
  servers.push(s);
  let kv = kvClient(s.endpoint);
  clients.push(kv);
  const lease = serviceClient('Lease', s.endpoint);
  clients.push(lease);

  const expected = new Map<string, string>();
  let revision = 0;
  let compactedAt = 0;
  let firstRoundRevision = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const granted = await call(lease, 'LeaseGrant', { TTL: 600, ID: 0 });
    const puts = Array.from({ length: KEYS_PER_ROUND }, (_, i) => {
      const key = keyOf(round, i);
      // Every third key overwrites one of the round before (random updates move pages around).
      const target = round > 0 && i % 3 === 0 ? keyOf(round - 1, i) : key;
      expected.set(target, valueOf(round, i));
      return call(kv, 'Put', { key: b(target), value: b(valueOf(round, i)), lease: i % 5 === 0 ? granted.ID : 0 });
    });
    for (const r of await Promise.all(puts)) revision = Math.max(revision, Number((r.header as Msg).revision));
    if (round === 0) firstRoundRevision = revision;
    if (round === ROUNDS / 2) {
      compactedAt = revision - 10;
      await call(kv, 'Compact', { revision: compactedAt, physical: true });
    }
    // Idle for a few checkpoint ticks: the member reopens its store.
    await sleep(350);
    assert.deepEqual(await rangeAll(kv), expected, `round ${round}: every key as written`);
    // A read at an older revision goes through the history (keyOf(0, 1) is never overwritten).
    const old = await call(kv, 'Range', { key: b(keyOf(0, 1)), revision: Math.max(compactedAt, firstRoundRevision) });
    assert.deepEqual((old.kvs as Msg[]).map((k) => Buffer.from(k.value as Buffer).toString()), [valueOf(0, 1)]);
  }
  const remaps = s.stderr().split('\n').filter((l) => l.includes(REMAPPED)).length;
  assert.ok(remaps >= ROUNDS, `the store was reopened ${remaps} times`);
  t.diagnostic(`the store was reopened ${remaps} times`);

  await s.kill();
  s = await s.restart();
  servers.push(s);
  kv = kvClient(s.endpoint);
  clients.push(kv);
  assert.deepEqual(await rangeAll(kv), expected, 'after SIGKILL and restart');
  const head = await call(kv, 'Range', { key: b(keyOf(0, 0)) });
  assert.equal(Number((head.header as Msg).revision), revision, 'the revision goes on from where it was');
  const leaseAfter = serviceClient('Lease', s.endpoint);
  clients.push(leaseAfter);
  const leases = await call(leaseAfter, 'LeaseLeases', {});
  assert.equal((leases.leases as Msg[]).length, ROUNDS);
});
