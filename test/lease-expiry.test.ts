// Leases over our own gRPC client against a real server process, single member:
// - expiry: a key on a 2-second lease without keep-alive is gone within TTL + 1 s and a watcher
//   sees its DELETE; with keep-alives it stays for 20 s;
// - revoke deletes every attached key in one revision; a put without a lease detaches a key,
//   one with ignore_lease keeps it; txn puts attach; TimeToLive, Leases, Grant with a chosen ID;
//   a keep-alive of an unknown lease answers TTL 0;
// - restart (SIGKILL): leases and their keys survive, and every lease runs afresh from its full
//   TTL plus an election timeout (etcd's Promote on becoming leader); a lease nobody keeps alive
//   after the restart still expires.
// TEST_AGAINST_ETCD=1 runs the same expectations against real etcd 3.4.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { startServer, type ServerProcess } from './helpers/server-process';
import { b, call, callError, kvClient, serviceClient, type Msg } from './helpers/grpc-client';
import { WatchClient } from './helpers/watch-client';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const evs = (events: Msg[]): string[] => events.map((e) => `${e.type === 0 ? 'PUT' : 'DELETE'} ${e.kv.key.toString()}@${e.kv.mod_revision}`);
const sorted = (keys: Buffer[]): string[] => keys.map((k) => k.toString()).sort();

/** A LeaseKeepAlive stream: send renewals, read the answers in order. */
class KeepAliveStream {
  readonly responses: Msg[] = [];
  error: grpc.ServiceError | undefined;
  private read = 0;
  private readonly client: grpc.Client;
  private readonly stream: grpc.ClientDuplexStream<Msg, Msg>;

  constructor(endpoint: string) {
    this.client = serviceClient('Lease', endpoint);
    const fn = (this.client as unknown as Record<string, () => grpc.ClientDuplexStream<Msg, Msg>>).LeaseKeepAlive;
    this.stream = fn.call(this.client);
    this.stream.on('data', (m: Msg) => this.responses.push(m));
    this.stream.on('error', (e: grpc.ServiceError) => (this.error = e));
  }

  send(id: string): void {
    this.stream.write({ ID: id });
  }

  async next(timeoutMs = 5000): Promise<Msg> {
    const deadline = Date.now() + timeoutMs;
    while (this.read >= this.responses.length) {
      if (this.error !== undefined) throw new Error(`keep-alive stream failed: ${this.error.message}`);
      if (Date.now() > deadline) throw new Error(`no keep-alive response within ${timeoutMs} ms`);
      await sleep(10);
    }
    return this.responses[this.read++];
  }

  close(): void {
    this.stream.end();
    this.stream.cancel();
    this.client.close();
  }
}

/** Per-suite resources, closed after the suite also when a test fails. */
function resources(): {
  server: () => ServerProcess;
  kv: () => grpc.Client;
  lease: () => grpc.Client;
  watch: () => WatchClient;
  keepAlive: () => KeepAliveStream;
  restart: () => Promise<void>;
} {
  let server: ServerProcess | undefined;
  let kv: grpc.Client | undefined;
  let lease: grpc.Client | undefined;
  const closers: (() => void)[] = [];
  const connect = (s: ServerProcess): void => {
    kv?.close();
    lease?.close();
    kv = kvClient(s.endpoint);
    lease = serviceClient('Lease', s.endpoint);
  };
  before(async () => {
    server = await startServer();
    connect(server);
  });
  after(async () => {
    for (const c of closers) c();
    kv?.close();
    lease?.close();
    await server?.cleanup();
  });
  return {
    server: () => server as ServerProcess,
    kv: () => kv as grpc.Client,
    lease: () => lease as grpc.Client,
    watch: () => {
      const w = new WatchClient((server as ServerProcess).endpoint);
      closers.push(() => w.close());
      return w;
    },
    keepAlive: () => {
      const k = new KeepAliveStream((server as ServerProcess).endpoint);
      closers.push(() => k.close());
      return k;
    },
    async restart() {
      server = await (server as ServerProcess).restart();
      connect(server);
    },
  };
}

/** A watcher on a prefix, created (the created response read). */
async function watchPrefix(open: () => WatchClient, prefix: string): Promise<WatchClient> {
  const w = open();
  const end = Buffer.from(prefix);
  end[end.length - 1]++;
  w.create({ key: b(prefix), range_end: end });
  const created = await w.next();
  assert.equal(created.created, true);
  return w;
}

describe('lease expiry', () => {
  const r = resources();
  const grant = async (TTL: number, ID = '0'): Promise<Msg> => call(r.lease(), 'LeaseGrant', { TTL, ID });
  const put = async (key: string, lease: string, value = 'v'): Promise<number> => Number((await call(r.kv(), 'Put', { key: b(key), value: b(value), lease })).header.revision);
  const range = async (key: string): Promise<Msg[]> => (await call(r.kv(), 'Range', { key: b(key) })).kvs as Msg[];

  test('a key on a 2-second lease without keep-alive is gone within TTL + 1 s; a watcher sees its DELETE', async (t) => {
    const w = await watchPrefix(r.watch, 'exp/');
    const start = performance.now();
    const g = await grant(2);
    const granted = performance.now();
    assert.equal(g.TTL, '2');
    assert.notEqual(g.ID, '0');
    const rev = await put('exp/a', g.ID);
    assert.deepEqual(evs((await w.next()).events), [`PUT exp/a@${rev}`]);
    const del = await w.next(6000);
    const seen = performance.now();
    assert.deepEqual(evs(del.events), [`DELETE exp/a@${rev + 1}`]);
    // Not before the TTL ran out (counted from before the grant), and within TTL + 1 s (from its
    // answer) plus 0.5 s for a loaded 2-core test machine (both servers take 2.0-2.5 s when idle).
    t.diagnostic(`DELETE seen ${Math.round(seen - granted)} ms after the grant`);
    assert.ok(seen - start >= 1950, `deleted ${Math.round(seen - start)} ms after the grant was sent`);
    assert.ok(seen - granted <= 3500, `deleted ${Math.round(seen - granted)} ms after the grant; TTL + 1 s is 3000 ms`);
    assert.deepEqual(await range('exp/a'), []);
    const ttl = await call(r.lease(), 'LeaseTimeToLive', { ID: g.ID, keys: true });
    assert.deepEqual([ttl.ID, ttl.TTL, ttl.grantedTTL, ttl.keys], [g.ID, '-1', '0', []]);
    const leases = (await call(r.lease(), 'LeaseLeases', {})).leases as Msg[];
    assert.ok(!leases.some((l) => l.ID === g.ID), 'the expired lease is still listed');
  });

  test('with keep-alives every 500 ms a key on a 2-second lease stays for 20 s, and expires once they stop', async (t) => {
    const w = await watchPrefix(r.watch, 'ka/');
    const g = await grant(2);
    const rev = await put('ka/a', g.ID);
    const ka = r.keepAlive();
    const start = Date.now();
    let sent = 0;
    let checks = 0;
    while (Date.now() - start < 20_000) {
      ka.send(g.ID);
      sent++;
      const resp = await ka.next();
      assert.deepEqual([resp.ID, resp.TTL], [g.ID, '2'], `keep-alive ${sent} after ${Date.now() - start} ms`);
      if (sent % 4 === 0) {
        assert.equal((await range('ka/a')).length, 1, `ka/a gone after ${Date.now() - start} ms of keep-alives`);
        checks++;
      }
      await sleep(500);
    }
    const lastRenewal = Date.now();
    assert.ok(sent >= 25 && checks >= 6, `${sent} keep-alives, ${checks} checks`);
    const kvs = await range('ka/a');
    assert.deepEqual([kvs.length, kvs[0]?.lease, kvs[0]?.mod_revision], [1, g.ID, String(rev)]);
    // Only the PUT so far; after the keep-alives stop, the DELETE within TTL + 1 s.
    assert.deepEqual(evs((await w.next()).events), [`PUT ka/a@${rev}`]);
    assert.equal(w.responses.length, 2, `unexpected watch responses: ${JSON.stringify(w.responses.slice(2).map((m) => evs(m.events)))}`);
    assert.deepEqual(evs((await w.next(6000)).events), [`DELETE ka/a@${rev + 1}`]);
    t.diagnostic(`DELETE seen ${Date.now() - lastRenewal} ms after the last renewal`);
    // lastRenewal is 0.5 s after the last renewal was sent: this allows TTL + 1.5 s from it.
    assert.ok(Date.now() - lastRenewal <= 3000, `deleted ${Date.now() - lastRenewal} ms after the last renewal`);
  });

  test('revoke deletes all attached keys in one revision (one watch response)', async () => {
    const g = await grant(60);
    await put('rv/x', '0');
    const w = await watchPrefix(r.watch, 'rv/');
    let last = 0;
    for (const k of ['rv/c', 'rv/a', 'rv/b']) last = await put(k, g.ID);
    assert.equal((await w.events(3)).length, 3);
    const seen = w.responses.length;
    const revoked = await call(r.lease(), 'LeaseRevoke', { ID: g.ID });
    assert.equal(Number(revoked.header.revision), last + 1);
    const resp = await w.next();
    assert.deepEqual(evs(resp.events), ['DELETE rv/a', 'DELETE rv/b', 'DELETE rv/c'].map((e) => `${e}@${last + 1}`));
    const rest = (await call(r.kv(), 'Range', { key: b('rv/'), range_end: b('rv0') })).kvs as Msg[];
    assert.deepEqual(rest.map((kv) => kv.key.toString()), ['rv/x']);
    await sleep(200);
    assert.equal(w.responses.length, seen + 1, 'more than one watch response for the revoke');
    const err = await callError(r.lease(), 'LeaseRevoke', { ID: g.ID });
    assert.deepEqual([err.code, err.details], [grpc.status.NOT_FOUND, 'etcdserver: requested lease not found']);
  });

  test('a put without a lease detaches the key; with ignore_lease it keeps it', async () => {
    const g = await grant(60);
    await put('d/a', g.ID);
    await put('d/b', g.ID);
    await put('d/a', '0', 'detached');
    assert.equal((await range('d/a'))[0].lease, '0');
    await call(r.kv(), 'Put', { key: b('d/b'), value: b('kept'), ignore_lease: true });
    assert.deepEqual([(await range('d/b'))[0].lease, (await range('d/b'))[0].value.toString()], [g.ID, 'kept']);
    const ttl = await call(r.lease(), 'LeaseTimeToLive', { ID: g.ID, keys: true });
    assert.deepEqual(sorted(ttl.keys), ['d/b']);
    await call(r.lease(), 'LeaseRevoke', { ID: g.ID });
    assert.deepEqual((await range('d/a')).map((kv) => kv.value.toString()), ['detached']);
    assert.deepEqual(await range('d/b'), []);
  });

  test('a key moved to another lease leaves the first one', async () => {
    const g1 = await grant(60);
    const g2 = await grant(60);
    await put('m/a', g1.ID);
    await put('m/a', g2.ID);
    assert.deepEqual(sorted((await call(r.lease(), 'LeaseTimeToLive', { ID: g1.ID, keys: true })).keys), []);
    assert.deepEqual(sorted((await call(r.lease(), 'LeaseTimeToLive', { ID: g2.ID, keys: true })).keys), ['m/a']);
    await call(r.lease(), 'LeaseRevoke', { ID: g1.ID });
    assert.equal((await range('m/a')).length, 1);
    await call(r.lease(), 'LeaseRevoke', { ID: g2.ID });
    assert.deepEqual(await range('m/a'), []);
  });

  test('txn puts with a lease attach their keys', async () => {
    const g = await grant(60);
    const t = await call(r.kv(), 'Txn', {
      compare: [{ key: b('t/a'), target: 0, result: 0, version: 0 }],
      success: [{ request_put: { key: b('t/a'), value: b('1'), lease: g.ID } }, { request_put: { key: b('t/b'), value: b('2'), lease: g.ID } }],
      failure: [],
    });
    assert.equal(t.succeeded, true);
    const ttl = await call(r.lease(), 'LeaseTimeToLive', { ID: g.ID, keys: true });
    assert.deepEqual(sorted(ttl.keys), ['t/a', 't/b']);
    assert.equal((await range('t/b'))[0].lease, g.ID);
    await call(r.lease(), 'LeaseRevoke', { ID: g.ID });
    assert.deepEqual([await range('t/a'), await range('t/b')], [[], []]);
  });

  test('LeaseGrant with a chosen ID, duplicates, TTL bounds; LeaseTimeToLive and LeaseLeases', async () => {
    const g = await grant(60, '1000');
    assert.deepEqual([g.ID, g.TTL, g.error], ['1000', '60', '']);
    const dup = await callError(r.lease(), 'LeaseGrant', { ID: '1000', TTL: 5 });
    assert.deepEqual([dup.code, dup.details], [grpc.status.FAILED_PRECONDITION, 'etcdserver: lease already exists']);
    const big = await callError(r.lease(), 'LeaseGrant', { ID: '1001', TTL: 9_000_000_001 });
    assert.deepEqual([big.code, big.details], [grpc.status.OUT_OF_RANGE, 'etcdserver: too large lease TTL']);
    const min = await grant(1, '1002');
    assert.deepEqual([min.ID, min.TTL], ['1002', '2']);
    await put('g/b', '1000');
    await put('g/a', '1000');
    const ttl = await call(r.lease(), 'LeaseTimeToLive', { ID: '1000', keys: true });
    assert.deepEqual([ttl.ID, ttl.grantedTTL, sorted(ttl.keys)], ['1000', '60', ['g/a', 'g/b']]);
    assert.ok(Number(ttl.TTL) >= 55 && Number(ttl.TTL) <= 59, `TTL ${ttl.TTL}`);
    const noKeys = await call(r.lease(), 'LeaseTimeToLive', { ID: '1000', keys: false });
    assert.deepEqual(noKeys.keys, []);
    const missing = await call(r.lease(), 'LeaseTimeToLive', { ID: '1001', keys: true });
    assert.deepEqual([missing.ID, missing.TTL, missing.grantedTTL, missing.keys], ['1001', '-1', '0', []]);
    const listed = ((await call(r.lease(), 'LeaseLeases', {})).leases as Msg[]).map((l) => l.ID);
    assert.ok(listed.includes('1000') && listed.includes('1002') && !listed.includes('1001'), `LeaseLeases: ${listed.join(',')}`);
    await call(r.lease(), 'LeaseRevoke', { ID: '1000' });
    await call(r.lease(), 'LeaseRevoke', { ID: '1002' }).catch(() => undefined); // it may have expired
    const after = ((await call(r.lease(), 'LeaseLeases', {})).leases as Msg[]).map((l) => l.ID);
    assert.ok(!after.includes('1000') && !after.includes('1002'), `LeaseLeases after revoke: ${after.join(',')}`);
  });

  test('keep-alive of an unknown lease answers TTL 0 and the stream goes on', async () => {
    const ka = r.keepAlive();
    ka.send('424242');
    const unknown = await ka.next();
    assert.deepEqual([unknown.ID, unknown.TTL], ['424242', '0']);
    const g = await grant(30);
    ka.send(g.ID);
    const known = await ka.next();
    assert.deepEqual([known.ID, known.TTL], [g.ID, '30']);
    await call(r.lease(), 'LeaseRevoke', { ID: g.ID });
    ka.send(g.ID);
    assert.deepEqual(((m) => [m.ID, m.TTL])(await ka.next()), [g.ID, '0']);
  });
});

describe('leases across a restart (SIGKILL) of a single member', () => {
  const r = resources();
  const ttlOf = async (ID: string): Promise<Msg> => call(r.lease(), 'LeaseTimeToLive', { ID, keys: true });

  test('leases and keys survive, TTLs start afresh; a lease not kept alive after the restart expires', async (t) => {
    const long = (await call(r.lease(), 'LeaseGrant', { ID: '2001', TTL: 20 })).ID as string;
    const short = (await call(r.lease(), 'LeaseGrant', { ID: '2002', TTL: 2 })).ID as string;
    const bare = (await call(r.lease(), 'LeaseGrant', { ID: '2003', TTL: 60 })).ID as string;
    for (const [k, id] of [['rs/a', long], ['rs/b', long], ['rs/s', short], ['rs/x', '0']]) await call(r.kv(), 'Put', { key: b(k), value: b('v'), lease: id });
    // Keep the short lease alive while the long one's remaining TTL runs down.
    const ka = r.keepAlive();
    for (let i = 0; i < 6; i++) {
      ka.send(short);
      assert.equal((await ka.next()).TTL, '2');
      await sleep(500);
    }
    const before = Number((await ttlOf(long)).TTL);
    assert.ok(before <= 17, `remaining TTL ${before} before the kill`);
    const killed = performance.now();
    await r.server().kill();
    await r.restart();
    const restarted = performance.now();

    const ids = ((await call(r.lease(), 'LeaseLeases', {})).leases as Msg[]).map((l) => l.ID).sort();
    assert.deepEqual(ids, [long, short, bare].sort());
    const tl = await ttlOf(long);
    assert.deepEqual([tl.grantedTTL, sorted(tl.keys)], ['20', ['rs/a', 'rs/b']]);
    t.diagnostic(`remaining TTL ${before} s before the kill, ${tl.TTL} s after the restart`);
    // etcd: the new leader gives every lease its full TTL plus an election timeout (1 s).
    assert.ok(Number(tl.TTL) > before && Number(tl.TTL) >= 18 && Number(tl.TTL) <= 21, `remaining TTL ${tl.TTL} after the restart (${before} before)`);
    const tb = await ttlOf(bare);
    assert.ok(Number(tb.TTL) >= 58 && Number(tb.TTL) <= 61, `remaining TTL ${tb.TTL} of a 60 s lease after the restart`);
    const kvs = (await call(r.kv(), 'Range', { key: b('rs/'), range_end: b('rs0') })).kvs as Msg[];
    assert.deepEqual(kvs.map((kv) => `${kv.key.toString()}:${kv.lease}`), [`rs/a:${long}`, `rs/b:${long}`, `rs/s:${short}`, 'rs/x:0']);

    // Nobody keeps the short lease alive any more: it expires (TTL + election timeout + 1.5 s
    // slack from the restart), and its key with it.
    const w = await watchPrefix(r.watch, 'rs/');
    const del = await w.next(8000);
    const gone = performance.now() - restarted;
    assert.deepEqual(evs(del.events).map((e) => e.replace(/@\d+$/, '')), ['DELETE rs/s']);
    const sinceKill = performance.now() - killed;
    t.diagnostic(`the 2 s lease expired ${Math.round(gone)} ms after the restart, ${Math.round(sinceKill)} ms after the kill`);
    assert.ok(gone <= 4500, `the 2 s lease expired ${Math.round(gone)} ms after the restart`);
    // Its clock started afresh (TTL + election timeout) when the restarted member took the lead.
    assert.ok(sinceKill >= 2950, `the 2 s lease expired ${Math.round(sinceKill)} ms after the kill: not refreshed to TTL + election timeout`);
    assert.equal((await ttlOf(short)).TTL, '-1');

    // The long lease still holds its keys: a revoke deletes both in one revision.
    const rev = Number((await call(r.lease(), 'LeaseRevoke', { ID: long })).header.revision);
    assert.deepEqual(evs((await w.next()).events), [`DELETE rs/a@${rev}`, `DELETE rs/b@${rev}`]);
  });
});
