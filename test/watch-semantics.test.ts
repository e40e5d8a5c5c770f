// Watch semantics over our own gRPC client against a real server process: etcd's refusals,
// client-chosen IDs, filters, future start revisions, fragments, progress (requested and on
// the interval) and a consumer that stops reading while writes go on.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type * as grpc from '@grpc/grpc-js';
import { startServer, type ServerProcess } from './helpers/server-process';
import { b, call, kvClient, type Msg } from './helpers/grpc-client';
import { WatchClient } from './helpers/watch-client';
import { connect, createServer, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';

const realEtcd = process.env.TEST_AGAINST_ETCD === '1';
const revOf = (m: Msg): number => Number(m.header.revision);
const evKeys = (evs: Msg[]): string[] => evs.map((e) => `${e.type === 0 ? 'PUT' : 'DELETE'} ${e.kv.key.toString()}@${e.kv.mod_revision}`);

describe('watch semantics', () => {
  let server: ServerProcess;
  let kv: grpc.Client;
  const streams: WatchClient[] = [];
  const open = (): WatchClient => {
    const w = new WatchClient(server.endpoint);
    streams.push(w);
    return w;
  };
  const put = async (k: string, v = 'v'): Promise<number> => revOf(await call(kv, 'Put', { key: b(k), value: b(v) }));

  before(async () => {
    // A short progress interval (etcd-ts only; etcd 3.4 has no such flag and ignores it).
    server = await startServer({ args: realEtcd ? [] : ['--experimental-watch-progress-notify-interval', '300ms', '--log-level', 'info'] });
    kv = kvClient(server.endpoint);
  });

  after(async () => {
    for (const w of streams) w.close();
    kv?.close();
    await server?.cleanup();
  });

  test('refusals: empty range, duplicate ID; an unknown cancel is ignored; auto IDs skip chosen ones', async () => {
    const w = open();
    w.create({ key: b('z'), range_end: b('a') });
    const empty = await w.next();
    assert.deepEqual([empty.created, empty.canceled, empty.watch_id, empty.cancel_reason], [true, true, '-1', 'mvcc: watcher range is empty']);
    w.create({ key: b('k'), watch_id: 7 });
    assert.deepEqual([(await w.next()).watch_id], ['7']);
    w.create({ key: b('k'), watch_id: 7 });
    const dup = await w.next();
    assert.deepEqual([dup.created, dup.canceled, dup.watch_id, dup.cancel_reason], [true, true, '-1', 'mvcc: duplicate watch ID provided on the WatchStream']);
    w.create({ key: b('k'), watch_id: 1 });
    assert.equal((await w.next()).watch_id, '1');
    // Auto IDs start at 0 and skip 1, which the client took.
    w.create({ key: b('k') });
    w.create({ key: b('k') });
    assert.deepEqual([(await w.next()).watch_id, (await w.next()).watch_id], ['0', '2']);
    w.cancel(99);
    w.cancel(7);
    const canceled = await w.next();
    assert.deepEqual([canceled.watch_id, canceled.canceled, canceled.created], ['7', true, false]);
  });

  test('filters: NOPUT and NODELETE', async () => {
    const w = open();
    w.create({ key: b('f/'), range_end: b('f0'), filters: [0], watch_id: 1 });
    w.create({ key: b('f/'), range_end: b('f0'), filters: [1], watch_id: 2 });
    await w.next();
    await w.next();
    const r1 = await put('f/a');
    const r2 = revOf(await call(kv, 'DeleteRange', { key: b('f/a') }));
    const r3 = await put('f/b');
    const got = new Map<string, string[]>();
    while ((got.get('1')?.length ?? 0) < 1 || (got.get('2')?.length ?? 0) < 2) {
      const m = await w.next();
      got.set(m.watch_id, [...(got.get(m.watch_id) ?? []), ...evKeys(m.events)]);
    }
    assert.deepEqual(got.get('1'), [`DELETE f/a@${r2}`]);
    assert.deepEqual(got.get('2'), [`PUT f/a@${r1}`, `PUT f/b@${r3}`]);
  });

  test('a watch from a future revision waits for it', async () => {
    const now = await put('fut/x');
    const w = open();
    w.create({ key: b('fut/'), range_end: b('fut0'), start_revision: now + 3 });
    await w.next();
    await put('fut/a'); // now + 1: not wanted
    await put('fut/b'); // now + 2: not wanted
    const r3 = await put('fut/c');
    const m = await w.next();
    assert.deepEqual(evKeys(m.events), [`PUT fut/c@${r3}`]);
  });

  test('fragments: a txn whose events exceed the limit arrives in pieces when asked, whole otherwise', async () => {
    // etcd fragments above --max-request-bytes plus its 512 KiB gRPC allowance (2 MiB by
    // default). The txn itself must fit the request limit; its events with their previous
    // versions do not.
    const value = Buffer.alloc(180_000, 'x');
    const success = Array.from({ length: 8 }, (_, i) => ({ request_put: { key: b(`fr/${i}`), value } }));
    await call(kv, 'Txn', { compare: [], success, failure: [] });
    const w = open();
    w.create({ key: b('fr/'), range_end: b('fr0'), fragment: true, prev_kv: true, watch_id: 1 });
    w.create({ key: b('fr/'), range_end: b('fr0'), prev_kv: true, watch_id: 2 });
    await w.next();
    await w.next();
    const rev = revOf(await call(kv, 'Txn', { compare: [], success, failure: [] }));
    const pieces: Msg[] = [];
    let whole: Msg | undefined;
    while (whole === undefined || pieces.length === 0 || pieces[pieces.length - 1].fragment) {
      const m = await w.next();
      if (m.watch_id === '1') pieces.push(m);
      else whole = m;
    }
    assert.equal(whole.events.length, 8);
    assert.equal(whole.fragment, false);
    assert.ok(pieces.length >= 2, `split into ${pieces.length}`);
    assert.deepEqual(pieces.map((p) => p.fragment), [...Array(pieces.length - 1).fill(true), false]);
    const all = pieces.flatMap((p) => p.events as Msg[]);
    assert.deepEqual(all.map((e) => [e.kv.key.toString(), Number(e.kv.mod_revision), e.prev_kv?.value.length]), success.map((_, i) => [`fr/${i}`, rev, 180_000]));
  });

  test('progress: on request (watch ID -1) and on the interval for watchers that asked', async () => {
    const w = open();
    w.create({ key: b('p/'), range_end: b('p0'), progress_notify: true });
    await w.next();
    const rev = await put('other');
    w.progress();
    const p = await w.until((m) => m.watch_id === '-1');
    assert.ok(revOf(p) >= rev && p.events.length === 0);
    if (!realEtcd) {
      // etcd's interval is 10 minutes (not configurable in 3.4); etcd-ts was started with 300ms.
      const tick = await w.until((m) => m.watch_id === '0' && m.events.length === 0, 3000);
      assert.ok(revOf(tick) >= rev);
    }
  });

  test('a progress request waits until catch-up: it never claims a revision whose events are still to come', async (t) => {
    // etcd 3.4 answered at once with its current revision, ahead of the replay (fixed in 3.5).
    if (realEtcd) return t.diagnostic('etcd 3.4 answers progress requests before catch-up');
    const start = await put('c/0');
    for (let i = 1; i < 300; i++) await call(kv, 'Put', { key: b(`c/${i}`), value: b('y') });
    const head = await put('c/end');
    const w = open();
    w.create({ key: b('c/'), range_end: b('c0'), start_revision: start });
    w.progress();
    let seen = 0;
    for (;;) {
      const m = await w.next();
      if (m.watch_id === '-1') {
        assert.ok(revOf(m) >= head);
        assert.equal(seen, 301, 'every event up to the progress revision came before it');
        break;
      }
      seen += m.events.length;
    }
  });

  test('a reply holds whole revisions in order; writes applied together reach a watcher in one reply', async () => {
    const w = open();
    w.create({ key: b('batch/'), range_end: b('batch0') });
    await w.next();
    // Every revision's keys, as the writes report them: a txn of two puts is one revision.
    const keysAt = new Map<number, string[]>();
    const replies: Msg[] = [];
    // 50 concurrent writes land in a few applied batches; a round seldom fails to batch any two,
    // so a few rounds are allowed before concluding that nothing is batched.
    for (let round = 0; round < 5; round++) {
      const writes = Array.from({ length: 50 }, async (_, j) => {
        const key = `batch/${round}/${j}`;
        if (j % 5 !== 0) return keysAt.set(await put(key), [key]);
        const ops = [`${key}/a`, `${key}/b`];
        const r = await call(kv, 'Txn', { compare: [], success: ops.map((k) => ({ request_put: { key: b(k), value: b('v') } })), failure: [] });
        return keysAt.set(revOf(r), ops);
      });
      await Promise.all(writes);
      const want = [...keysAt.values()].reduce((n, ks) => n + ks.length, 0);
      let got = replies.reduce((n, m) => n + m.events.length, 0);
      while (got < want) {
        const m = await w.next();
        replies.push(m);
        got += m.events.length;
      }
      if (replies.some((m) => new Set(m.events.map((e: Msg) => e.kv.mod_revision)).size > 1)) break;
    }
    const seen: string[] = [];
    for (const m of replies) {
      const revs = m.events.map((e: Msg) => Number(e.kv.mod_revision));
      // In revision order, and the header is at least as new as the reply's last event.
      assert.deepEqual(revs, [...revs].sort((x, y) => x - y));
      assert.ok(revOf(m) >= revs[revs.length - 1], `header ${revOf(m)} behind event ${revs[revs.length - 1]}`);
      // Every revision in the reply comes whole: the txn's two puts never travel apart.
      for (const rev of new Set(revs)) {
        assert.deepEqual(m.events.filter((e: Msg) => Number(e.kv.mod_revision) === rev).map((e: Msg) => e.kv.key.toString()), keysAt.get(rev));
      }
      seen.push(...m.events.map((e: Msg) => `${e.kv.key.toString()}@${e.kv.mod_revision}`));
    }
    const expected = [...keysAt].sort(([x], [y]) => x - y).flatMap(([rev, ks]) => ks.map((k) => `${k}@${rev}`));
    assert.deepEqual(seen, expected, 'every event once, in revision order');
    // etcd sends each txn's events in a reply of their own; etcd-ts one reply per applied batch.
    const batched = replies.filter((m) => new Set(m.events.map((e: Msg) => e.kv.mod_revision)).size > 1).length;
    if (!realEtcd) assert.ok(batched > 0, `no reply held more than one revision (${replies.length} replies)`);
    process.stdout.write(`# ${expected.length} events in ${replies.length} replies, ${batched} of them with several revisions\n`);
  });

  test('a consumer that stops reading loses nothing: its events wait in history, in order', async () => {
    const w = open();
    w.create({ key: b('slow/'), range_end: b('slow0') });
    await w.next();
    w.pause();
    const valueOf = (i: number): Buffer => distinctValue(i, 8_000);
    const revs: number[] = [];
    for (let i = 0; i < 1500; i += 50) {
      const batch = await Promise.all(Array.from({ length: 50 }, (_, j) => call(kv, 'Put', { key: b(`slow/${i + j}`), value: valueOf(i + j) })));
      revs.push(...batch.map(revOf));
    }
    const rss = readRss(server);
    w.resume();
    const evs = await w.events(1500, 30_000);
    assert.deepEqual(evs.map((e) => Number(e.kv.mod_revision)), [...revs].sort((x, y) => x - y));
    for (const e of evs) {
      const i = Number(e.kv.key.toString().slice('slow/'.length));
      assert.ok(Buffer.from(e.kv.value).equals(valueOf(i)), `the value of slow/${i} arrived intact`);
    }
    if (!realEtcd) assert.match(server.stderr(), /watch stream backed up/, 'the server held the events back instead of queueing them');
    process.stdout.write(`# server RSS while the consumer was paused: ${rss} MiB (12 MB of events written)\n`);
  });
  test('a connection whose socket backs up (the client stops reading TCP) gets every event intact once it reads again', async () => {
    // The windows are wide open, so HTTP/2 flow control holds nothing back: the bytes pile up in
    // the server's socket, where writes stay pending while later ones are made.
    const WATCHERS = 6;
    const PUTS = 800;
    const proxy = await stallingProxy(server.endpoint);
    const w = new WatchClient(`127.0.0.1:${proxy.port}`, undefined, { 'grpc-node.flow_control_window': 64 * 1024 * 1024 });
    streams.push(w);
    try {
      for (let i = 0; i < WATCHERS; i++) w.create({ key: b('stall/'), range_end: b('stall0') });
      for (let i = 0; i < WATCHERS; i++) assert.equal((await w.next()).created, true);
      proxy.stall();
      const valueOf = (i: number): Buffer => distinctValue(i, 2_000 + (i % 7) * 300);
      // One put at a time: each write's events leave in a flush of their own (tens of KB), so
      // that flushes keep coming while earlier ones are still the socket's.
      for (let i = 0; i < PUTS; i++) await call(kv, 'Put', { key: b(`stall/${i}`), value: valueOf(i) });
      const pending = await proxy.serverPending();
      proxy.resume();
      const evs = await w.events(PUTS * WATCHERS, 30_000);
      const seen = new Map<number, number>();
      for (const e of evs) {
        const i = Number(e.kv.key.toString().slice('stall/'.length));
        assert.ok(Buffer.from(e.kv.value).equals(valueOf(i)), `the value of stall/${i} arrived intact`);
        seen.set(i, (seen.get(i) ?? 0) + 1);
      }
      assert.equal(seen.size, PUTS);
      assert.ok([...seen.values()].every((n) => n === WATCHERS), `each event reached each of the ${WATCHERS} watchers once`);
      process.stdout.write(`# ${pending} bytes were waiting in the kernel between server and client while the client did not read\n`);
      if (!realEtcd) assert.ok(pending > 1024 * 1024, `the connection backed up (${pending} bytes sent and not read)`);
    } finally {
      await proxy.close();
    }
  });
});

/**
 * Key i's value, its own bytes: while a socket is backed up the server's output buffers are
 * still the socket's, and one reused too early shows as another key's bytes.
 */
function distinctValue(i: number, bytes: number): Buffer {
  return Buffer.concat([b(`${i}:`), Buffer.alloc(bytes, String.fromCharCode(97 + (i % 26)))]);
}

/** A TCP proxy to `endpoint` that can stop reading what the server sends (stall) and go on. */
async function stallingProxy(endpoint: string): Promise<{ port: number; stall(): void; resume(): void; serverPending(): Promise<number>; close(): Promise<void> }> {
  const [host, port] = endpoint.split(':');
  const upstreams: Socket[] = [];
  const sockets: Socket[] = [];
  let stalled = false;
  const srv = createServer((client) => {
    const up = connect(Number(port), host);
    upstreams.push(up);
    sockets.push(client, up);
    if (stalled) up.pause();
    client.pipe(up);
    up.pipe(client);
    for (const s of [client, up]) s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const addr = srv.address();
  return {
    port: typeof addr === 'object' && addr !== null ? addr.port : 0,
    stall: () => {
      stalled = true;
      for (const u of upstreams) u.pause();
    },
    resume: () => {
      stalled = false;
      for (const u of upstreams) u.resume();
    },
    // The server's sends not taken yet, in the kernel: the proxy's receive queues and the server's
    // send queues, after a pause for them to settle.
    serverPending: async () => {
      await new Promise((r) => setTimeout(r, 300));
      let n = 0;
      for (const u of upstreams) n += queuedBytes(u.localPort, u.remotePort, 'rx') + queuedBytes(u.remotePort, u.localPort, 'tx');
      return n;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  };
}

/** Bytes in the kernel queue (rx: received, not read; tx: sent, not taken) of the local TCP socket local -> remote. */
function queuedBytes(local: number | undefined, remote: number | undefined, which: 'rx' | 'tx'): number {
  const hex = (p: number | undefined): string => (p ?? 0).toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || !f[1].endsWith(`:${hex(local)}`) || !f[2].endsWith(`:${hex(remote)}`)) continue;
    const [tx, rx] = f[4].split(':');
    return parseInt(which === 'rx' ? rx : tx, 16);
  }
  return 0;
}

function readRss(s: ServerProcess): number {
  try {
    const status = require('node:fs').readFileSync(`/proc/${s.proc.pid}/status`, 'utf8') as string;
    return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
  } catch {
    return 0;
  }
}
