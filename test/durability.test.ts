// Acceptance: SIGKILL the server right after a batch of acknowledged writes; after restart every
// acknowledged write is there, and revisions continue from where they were.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { startServer, type ServerProcess } from './helpers/server-process';
import { prefixEnd } from '../src/concurrency/kv-ops';
import { kvClient, call, callError, b, type Msg } from './helpers/grpc-client';

const OUT_OF_RANGE = 11;
const COMPACTED = 'etcdserver: mvcc: required revision has been compacted';

interface Ack {
  key: string;
  value: string;
  revision: number;
}

interface PutItem {
  key: string;
  value: string;
}

interface StoredKv {
  key: string;
  value: string;
  create: number;
  mod: number;
  version: number;
}

// Everything a test starts is torn down in after(), also when the test fails.
const servers: ServerProcess[] = [];
const clients: grpc.Client[] = [];

after(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await s.cleanup();
});

async function start(): Promise<ServerProcess> {
  const s = await startServer();
  servers.push(s);
  return s;
}

async function restart(s: ServerProcess): Promise<ServerProcess> {
  const next = await s.restart();
  servers.push(next);
  return next;
}

function client(endpoint: string): grpc.Client {
  const c = kvClient(endpoint);
  clients.push(c);
  return c;
}

function closeClient(c: grpc.Client): void {
  c.close();
  const i = clients.indexOf(c);
  if (i >= 0) clients.splice(i, 1);
}

const rev = (m: Msg): number => Number(m.header.revision);

function toStored(kv: Msg): StoredKv {
  return {
    key: (kv.key as Buffer).toString(),
    value: (kv.value as Buffer).toString(),
    create: Number(kv.create_revision),
    mod: Number(kv.mod_revision),
    version: Number(kv.version),
  };
}

/** The server's current revision, from a Range header. */
async function serverRevision(c: grpc.Client): Promise<number> {
  return rev(await call(c, 'Range', { key: b('revision-probe') }));
}

/** Every key under prefix, by key. */
async function scan(c: grpc.Client, prefix: string, revision = 0): Promise<Map<string, StoredKv>> {
  const res = await call(c, 'Range', { key: b(prefix), range_end: prefixEnd(b(prefix)), revision }, 20_000);
  const out = new Map<string, StoredKv>();
  for (const kv of res.kvs as Msg[]) {
    const s = toStored(kv);
    out.set(s.key, s);
  }
  assert.equal(out.size, Number(res.count), 'count and kvs disagree');
  return out;
}

/** Items with distinct keys and unguessable values (a stale value from elsewhere cannot match). */
function items(prefix: string, n: number, tag = randomBytes(4).toString('hex')): PutItem[] {
  return Array.from({ length: n }, (_, i) => ({ key: `${prefix}${String(i).padStart(5, '0')}`, value: `${tag}-${i}-${randomBytes(6).toString('hex')}` }));
}

interface PutManyResult {
  acks: Ack[];
  /** Puts that were sent but failed (e.g. the server died before answering). */
  failed: number;
  /** Puts never sent (stopped after the kill). */
  notSent: number;
}

/**
 * Puts every item with up to `inFlight` requests outstanding. onAck runs synchronously in the
 * callback of each acknowledgement, so it can kill the server the moment a given ack arrives;
 * it returns true to stop sending further requests.
 */
async function putMany(c: grpc.Client, list: PutItem[], inFlight: number, onAck?: (acked: number, outstanding: number) => boolean): Promise<PutManyResult> {
  const acks: Ack[] = [];
  let failed = 0;
  let next = 0;
  let outstanding = 0;
  let stop = false;
  const worker = async (): Promise<void> => {
    while (!stop && next < list.length) {
      const item = list[next++];
      outstanding++;
      try {
        const res = await call(c, 'Put', { key: b(item.key), value: b(item.value) });
        outstanding--;
        acks.push({ key: item.key, value: item.value, revision: rev(res) });
        if (onAck?.(acks.length, outstanding)) stop = true;
      } catch {
        outstanding--;
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return { acks, failed, notSent: list.length - next };
}

/** Checks that every acknowledged put is stored with its value at its acknowledged revision. */
function assertAcked(stored: Map<string, StoredKv>, acks: Ack[]): void {
  let missing = 0;
  let wrong = 0;
  const examples: string[] = [];
  for (const a of acks) {
    const s = stored.get(a.key);
    if (s === undefined) {
      missing++;
      if (examples.length < 5) examples.push(`${a.key} missing (acked at ${a.revision})`);
    } else if (s.value !== a.value || s.mod !== a.revision) {
      wrong++;
      if (examples.length < 5) examples.push(`${a.key}: stored ${s.value}@${s.mod}, acked ${a.value}@${a.revision}`);
    }
  }
  assert.equal(missing + wrong, 0, `${missing} acked keys missing, ${wrong} wrong after restart: ${examples.join('; ')}`);
}

/** The revisions are exactly lo, lo+1, ..., hi (each once). */
function assertContiguous(revisions: number[], lo: number, hi: number, what: string): void {
  const sorted = [...revisions].sort((x, y) => x - y);
  assert.equal(sorted.length, hi - lo + 1, `${what}: expected ${hi - lo + 1} revisions in [${lo}, ${hi}], got ${sorted.length}`);
  for (let i = 0; i < sorted.length; i++) {
    if (sorted[i] !== lo + i) assert.fail(`${what}: revision ${lo + i} expected at position ${i}, found ${sorted[i]} (duplicates or gaps)`);
  }
}

describe('durability across SIGKILL', () => {
  test('2,000 concurrent acknowledged puts, SIGKILL at the last ack: all there after restart, revisions continue', async () => {
    let server = await start();
    let c = client(server.endpoint);
    const base = await serverRevision(c);
    const list = items('ack/', 2000);

    let killed: Promise<void> | undefined;
    const res = await putMany(c, list, 300, (acked) => {
      if (acked === list.length) killed = server.kill(); // SIGKILL in the callback of the last ack
      return false;
    });
    assert.ok(killed !== undefined, 'the kill was not triggered');
    await killed;
    assert.equal(res.failed, 0, 'no put should fail while the server runs');
    assert.equal(res.acks.length, list.length);
    // Every put took its own revision, one after the other.
    const maxAcked = Math.max(...res.acks.map((a) => a.revision));
    assertContiguous(
      res.acks.map((a) => a.revision),
      base + 1,
      base + list.length,
      'acked put revisions',
    );
    closeClient(c);

    server = await restart(server);
    c = client(server.endpoint);
    const stored = await scan(c, 'ack/');
    assert.equal(stored.size, list.length, 'number of keys after restart');
    assertAcked(stored, res.acks);
    for (const s of stored.values()) {
      assert.equal(s.version, 1, `${s.key} version`);
      assert.equal(s.create, s.mod, `${s.key} create_revision`);
    }
    assert.equal(await serverRevision(c), maxAcked, 'revision after restart equals the highest acked revision');
    // Revisions continue: no reuse, no gap.
    const next = await call(c, 'Put', { key: b('ack/after-restart'), value: b('x') });
    assert.equal(rev(next), maxAcked + 1);
    const next2 = await call(c, 'Put', { key: b('ack/00000'), value: b('overwrite'), prev_kv: true });
    assert.equal(rev(next2), maxAcked + 2);
    assert.equal(toStored(next2.prev_kv as Msg).value, list[0].value, 'prev_kv after restart');
    assert.equal(toStored(next2.prev_kv as Msg).mod, stored.get('ack/00000')?.mod);
    // History from before the crash is still readable at its revisions.
    const old = await call(c, 'Range', { key: b('ack/00000'), revision: maxAcked });
    assert.equal(toStored((old.kvs as Msg[])[0]).value, list[0].value);
  });

  test('SIGKILL while puts are still in flight: every acked put survives, the rest all-or-nothing in revision order', async () => {
    let server = await start();
    let c = client(server.endpoint);
    const base = await serverRevision(c);
    const list = items('inflight/', 2000);

    let killed: Promise<void> | undefined;
    let outstandingAtKill = 0;
    const res = await putMany(c, list, 400, (acked, outstanding) => {
      if (acked === 1000) {
        outstandingAtKill = outstanding;
        killed = server.kill();
        return true;
      }
      return false;
    });
    assert.ok(killed !== undefined, 'the kill was not triggered');
    await killed;
    assert.ok(outstandingAtKill > 0, 'puts were in flight when the server was killed');
    // Acks that arrived after the signal was sent are acks all the same: the server sent them.
    assert.ok(res.acks.length >= 1000);
    assert.equal(res.acks.length + res.failed + res.notSent, list.length);
    const maxAcked = Math.max(...res.acks.map((a) => a.revision));
    closeClient(c);

    server = await restart(server);
    c = client(server.endpoint);
    const stored = await scan(c, 'inflight/');
    assertAcked(stored, res.acks);
    const revAfter = await serverRevision(c);
    assert.ok(revAfter >= maxAcked, `revision after restart ${revAfter} < highest acked ${maxAcked}`);
    // Unacknowledged puts may or may not have landed, but whatever is stored was sent by us, and
    // the stored puts are exactly revisions base+1 .. after: no gaps, no reuse.
    const sent = new Map(list.map((i) => [i.key, i.value]));
    for (const s of stored.values()) assert.equal(s.value, sent.get(s.key), `${s.key} holds a value nobody wrote`);
    assertContiguous(
      [...stored.values()].map((s) => s.mod),
      base + 1,
      revAfter,
      'stored put revisions',
    );
    const next = await call(c, 'Put', { key: b('inflight/after-restart'), value: b('x') });
    assert.equal(rev(next), revAfter + 1, 'the first put after restart takes the next revision');
  });

  test('a Txn and a DeleteRange acknowledged before SIGKILL are in effect after restart', async () => {
    let server = await start();
    let c = client(server.endpoint);
    const seedAcks = (await putMany(c, items('td/del/', 50), 50)).acks;
    await call(c, 'Put', { key: b('td/guard'), value: b('go') });
    await call(c, 'Put', { key: b('td/overwrite'), value: b('old') });
    await call(c, 'Put', { key: b('td/txn-deletes'), value: b('doomed') });
    const before = await serverRevision(c);
    assert.equal(seedAcks.length, 50);

    const txn = await call(c, 'Txn', {
      compare: [{ key: b('td/guard'), target: 'VALUE', result: 'EQUAL', value: b('go') }],
      success: [
        { request_put: { key: b('td/txn/a'), value: b('A') } },
        { request_put: { key: b('td/txn/b'), value: b('B') } },
        { request_put: { key: b('td/overwrite'), value: b('new') } },
        { request_delete_range: { key: b('td/txn-deletes') } },
      ],
      failure: [{ request_put: { key: b('td/failure-ran'), value: b('1') } }],
    });
    assert.equal(txn.succeeded, true);
    const txnRev = rev(txn);
    assert.equal(txnRev, before + 1);
    const failedTxn = await call(c, 'Txn', {
      compare: [{ key: b('td/guard'), target: 'VALUE', result: 'EQUAL', value: b('stop') }],
      success: [{ request_put: { key: b('td/success-ran'), value: b('1') } }],
      failure: [{ request_put: { key: b('td/failure-branch'), value: b('F') } }],
    });
    assert.equal(failedTxn.succeeded, false);
    assert.equal(rev(failedTxn), txnRev + 1);
    const del = await call(c, 'DeleteRange', { key: b('td/del/'), range_end: prefixEnd(b('td/del/')) });
    assert.equal(Number(del.deleted), 50);
    const delRev = rev(del);
    assert.equal(delRev, txnRev + 2);
    await server.kill(); // right after the last ack
    closeClient(c);

    server = await restart(server);
    c = client(server.endpoint);
    assert.equal(await serverRevision(c), delRev);
    const all = await scan(c, 'td/');
    assert.deepEqual(
      [...all.values()].map((s) => [s.key, s.value, s.mod]),
      [
        ['td/failure-branch', 'F', txnRev + 1],
        ['td/guard', 'go', before - 2],
        ['td/overwrite', 'new', txnRev],
        ['td/txn/a', 'A', txnRev],
        ['td/txn/b', 'B', txnRev],
      ],
    );
    assert.equal(all.get('td/overwrite')?.version, 2);
    assert.equal((await scan(c, 'td/del/')).size, 0, 'the DeleteRange is in effect');
    // The deleted keys are still visible in history just before the delete.
    assert.equal((await scan(c, 'td/del/', delRev - 1)).size, 50);
    assert.equal((await scan(c, 'td/txn-deletes', txnRev - 1)).size, 1);
    assert.equal((await scan(c, 'td/txn-deletes', txnRev)).size, 0);
    const next = await call(c, 'Put', { key: b('td/next'), value: b('n') });
    assert.equal(rev(next), delRev + 1);
  });

  test('a compaction acknowledged before SIGKILL is in effect after restart', async () => {
    let server = await start();
    let c = client(server.endpoint);
    const r1 = rev(await call(c, 'Put', { key: b('cmp/k'), value: b('v1') }));
    const r2 = rev(await call(c, 'Put', { key: b('cmp/k'), value: b('v2') }));
    const r3 = rev(await call(c, 'Put', { key: b('cmp/k'), value: b('v3') }));
    await call(c, 'Put', { key: b('cmp/gone'), value: b('x') });
    const r5 = rev(await call(c, 'DeleteRange', { key: b('cmp/gone') }));
    const compact = await call(c, 'Compact', { revision: r2 });
    assert.equal(rev(compact), r5, 'a compaction does not take a revision');
    await server.kill(); // right after the ack
    closeClient(c);

    server = await restart(server);
    c = client(server.endpoint);
    const err = await callError(c, 'Range', { key: b('cmp/k'), revision: r1 });
    assert.equal(err.code, OUT_OF_RANGE, `range below the compacted revision: ${err.message}`);
    assert.equal(err.details, COMPACTED);
    const again = await callError(c, 'Compact', { revision: r2 });
    assert.equal(again.code, OUT_OF_RANGE, `compacting again at the same revision: ${again.message}`);
    assert.equal(again.details, COMPACTED);
    const lower = await callError(c, 'Compact', { revision: r1 });
    assert.equal(lower.code, OUT_OF_RANGE);
    // At and above the compacted revision everything still reads.
    assert.equal(toStored((await call(c, 'Range', { key: b('cmp/k'), revision: r2 })).kvs[0] as Msg).value, 'v2');
    assert.equal(toStored((await call(c, 'Range', { key: b('cmp/k'), revision: r3 })).kvs[0] as Msg).value, 'v3');
    assert.equal(toStored((await call(c, 'Range', { key: b('cmp/gone'), revision: r5 - 1 })).kvs[0] as Msg).value, 'x');
    assert.equal(await serverRevision(c), r5);
    const next = await call(c, 'Put', { key: b('cmp/k'), value: b('v4') });
    assert.equal(rev(next), r5 + 1);
    const kv = toStored((await call(c, 'Range', { key: b('cmp/k') })).kvs[0] as Msg);
    assert.deepEqual([kv.value, kv.create, kv.mod, kv.version], ['v4', r1, r5 + 1, 4]);
    // A later compaction still works after restart.
    await call(c, 'Compact', { revision: r3 });
    assert.equal((await callError(c, 'Range', { key: b('cmp/k'), revision: r2 })).code, OUT_OF_RANGE);
  });

  test('three kill/restart cycles in a row: state and revisions exactly as acknowledged each time', async () => {
    let server = await start();
    let c = client(server.endpoint);
    const model = new Map<string, StoredKv>();
    const applyPut = (key: string, value: string, revision: number): void => {
      const prev = model.get(key);
      model.set(key, { key, value, create: prev?.create ?? revision, mod: revision, version: (prev?.version ?? 0) + 1 });
    };
    let lastAcked = await serverRevision(c);
    const history: { revision: number; key: string; value: string }[] = [];

    for (let cycle = 0; cycle < 3; cycle++) {
      const begin = lastAcked;
      // Overwrites of the same keys every cycle, plus keys new in this cycle.
      const shared = items('cyc/shared/', 300, `c${cycle}`);
      const fresh = items(`cyc/c${cycle}/`, 200, `c${cycle}`);
      const puts = await putMany(c, [...shared, ...fresh], 250);
      assert.equal(puts.failed, 0);
      assert.equal(puts.acks.length, 500);
      assertContiguous(
        puts.acks.map((a) => a.revision),
        begin + 1,
        begin + 500,
        `cycle ${cycle} put revisions`,
      );
      for (const a of puts.acks) applyPut(a.key, a.value, a.revision);
      history.push({ revision: begin + 500, key: shared[7].key, value: shared[7].value });

      const txn = await call(c, 'Txn', {
        compare: [{ key: b(shared[0].key), target: 'VERSION', result: 'EQUAL', version: cycle + 1 }],
        success: [
          { request_put: { key: b('cyc/txn/a'), value: b(`a${cycle}`) } },
          { request_put: { key: b('cyc/txn/b'), value: b(`b${cycle}`) } },
          { request_delete_range: { key: b(fresh[0].key) } },
        ],
        failure: [],
      });
      assert.equal(txn.succeeded, true, `cycle ${cycle} txn compare`);
      const txnRev = rev(txn);
      assert.equal(txnRev, begin + 501);
      applyPut('cyc/txn/a', `a${cycle}`, txnRev);
      applyPut('cyc/txn/b', `b${cycle}`, txnRev);
      model.delete(fresh[0].key);

      // Deletes fresh keys 00100..00199.
      const delPrefix = `cyc/c${cycle}/001`;
      const del = await call(c, 'DeleteRange', { key: b(delPrefix), range_end: prefixEnd(b(delPrefix)) });
      assert.equal(Number(del.deleted), 100);
      lastAcked = rev(del);
      assert.equal(lastAcked, txnRev + 1);
      for (const k of [...model.keys()]) if (k.startsWith(delPrefix)) model.delete(k);

      await server.kill(); // right after the last ack
      closeClient(c);
      server = await restart(server);
      c = client(server.endpoint);

      assert.equal(await serverRevision(c), lastAcked, `cycle ${cycle}: revision after restart`);
      const stored = await scan(c, 'cyc/');
      assert.equal(stored.size, model.size, `cycle ${cycle}: number of keys after restart`);
      const mismatches: string[] = [];
      for (const [k, want] of model) {
        const got = stored.get(k);
        if (got === undefined || got.value !== want.value || got.mod !== want.mod || got.create !== want.create || got.version !== want.version) {
          mismatches.push(`${k}: want ${JSON.stringify(want)} got ${JSON.stringify(got)}`);
        }
      }
      assert.deepEqual(mismatches.slice(0, 5), [], `cycle ${cycle}: ${mismatches.length} keys differ from what was acknowledged`);
      // Older revisions, written before earlier crashes, still read the same.
      for (const h of history) {
        const old = await call(c, 'Range', { key: b(h.key), revision: h.revision });
        assert.equal(toStored((old.kvs as Msg[])[0]).value, h.value, `cycle ${cycle}: ${h.key} at revision ${h.revision}`);
      }
      // Revisions continue after the restart.
      const probe = await call(c, 'Put', { key: b(`cyc/probe/${cycle}`), value: b('p') });
      assert.equal(rev(probe), lastAcked + 1, `cycle ${cycle}: first revision after restart`);
      lastAcked = rev(probe);
      applyPut(`cyc/probe/${cycle}`, 'p', lastAcked);
    }
  });
});

describe('a long uncheckpointed tail', () => {
  // With checkpoints held off (etcd's --backend-batch-interval and --backend-batch-limit), every
  // write since start lives only in the WAL when the process dies; the restart replays all of
  // them at once. Past ~120,000 entries that replay threw "Maximum call stack size exceeded" (a
  // spread of the entries as call arguments) and the member could not start again.
  test('160,000 acknowledged puts, SIGKILL, restart: the replay brings back every one', async () => {
    const n = 160_000;
    let server = await startServer({ args: ['--backend-batch-interval', '1h', '--backend-batch-limit', '100000000'] });
    servers.push(server);
    let c = client(server.endpoint);
    const list = Array.from({ length: n }, (_, i) => ({ key: `tail/${String(i).padStart(6, '0')}`, value: `v${i}` }));
    const { acks, failed } = await putMany(c, list, 256);
    assert.equal(failed, 0);
    assert.equal(acks.length, n);
    const lastAcked = Math.max(...acks.slice(-1000).map((a) => a.revision));
    await server.kill();
    closeClient(c);
    server = await restart(server);
    c = client(server.endpoint);

    assert.equal(await serverRevision(c), lastAcked, 'revision after restart');
    const count = await call(c, 'Range', { key: b('tail/'), range_end: prefixEnd(b('tail/')), count_only: true }, 20_000);
    assert.equal(Number(count.count), n, 'keys after restart');
    // Every 997th acknowledgement and the last 200, each with its value at its revision.
    const sample = [...acks.filter((_, i) => i % 997 === 0), ...acks.slice(-200)];
    for (const a of sample) {
      const got = await call(c, 'Range', { key: b(a.key) });
      const kv = toStored((got.kvs as Msg[])[0]);
      assert.deepEqual([kv.value, kv.mod], [a.value, a.revision], a.key);
    }
  });
});
