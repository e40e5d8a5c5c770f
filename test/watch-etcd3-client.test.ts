// Acceptance (Watch issue, item 2): the npm etcd3 client's (v1.1.2) watch builder against a real
// etcd-ts server process: put/delete/data events with prevKv, key and prefix watchers, resuming
// after the server is SIGKILLed and restarted (no gap, no duplicate), and the error a watch from a
// compacted revision ends with.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import { Etcd3, EtcdError, type IKeyValue, type IOptions, type IWatchResponse, type Watcher } from 'etcd3';
import { startServer, type ServerProcess } from './helpers/server-process';

let server: ServerProcess | undefined;
let client: Etcd3 | undefined;

function etcd(): Etcd3 {
  if (client === undefined) throw new Error('client not started');
  return client;
}

// The watch manager's reconnect backoff: a constant short delay (the default grows up to 30 s),
// written as a plain IBackoff so the test needs no import of cockatiel.
const fastBackoff = { duration: 100, next: () => fastBackoff };

// While `heldCreates` is set, the client's watch create requests wait for it: the test holds
// a reconnecting watcher back until it has written after the restart, so that the watcher must
// catch up from history (start_revision = last seen + 1) rather than only see live events.
let heldCreates: Promise<void> | undefined;
const holdWatchCreates: Interceptor = (options, nextCall) =>
  new InterceptingCall(nextCall(options), {
    sendMessage(message: { create_request?: unknown }, next) {
      const held = heldCreates;
      if (held !== undefined && message?.create_request !== undefined) void held.then(() => next(message));
      else next(message);
    },
  });

interface Seen {
  type: 'put' | 'delete';
  key: string;
  value: string;
  mod: number;
  create: number;
  version: number;
  prev: { value: string; mod: number; version: number } | undefined;
}

// Every watcher a test opens; after() cancels them, or the client's reconnect loop would keep
// the test process alive when a test fails before its own cancel.
const opened: Watcher[] = [];

/** Records the put/delete events (in order) and the data responses of a watcher. */
function record(w: Watcher): { events: Seen[]; data: IWatchResponse[]; errors: Error[] } {
  opened.push(w);
  const rec = { events: [] as Seen[], data: [] as IWatchResponse[], errors: [] as Error[] };
  const add = (type: 'put' | 'delete') => (kv: IKeyValue, prev?: IKeyValue) =>
    rec.events.push({
      type,
      key: kv.key.toString(),
      value: kv.value.toString(),
      mod: Number(kv.mod_revision),
      create: Number(kv.create_revision),
      version: Number(kv.version),
      prev: prev === undefined || prev === null ? undefined : { value: prev.value.toString(), mod: Number(prev.mod_revision), version: Number(prev.version) },
    });
  w.on('put', add('put'));
  w.on('delete', add('delete'));
  w.on('data', (res) => rec.data.push(res));
  w.on('error', (e) => rec.errors.push(e));
  return rec;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function putRev(key: string, value: string): Promise<number> {
  return Number((await etcd().put(key).value(value).exec()).header.revision);
}

async function deleteRev(key: string): Promise<number> {
  const res = await etcd().delete().key(key).exec();
  assert.equal(res.deleted, '1', `delete of ${key}`);
  return Number(res.header.revision);
}

describe('etcd3 client watch against etcd-ts', () => {
  before(async () => {
    server = await startServer();
    const faultHandling: IOptions['faultHandling'] = { watchBackoff: fastBackoff };
    client = new Etcd3({
      hosts: 'http://' + server.endpoint,
      // Unary calls fail fast if the server stops answering; the watch stream has no deadline.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 10_000 }),
      faultHandling,
      // grpc-js takes client interceptors with the channel options etcd3 passes through.
      grpcOptions: { interceptors: [holdWatchCreates] },
    });
  });

  after(async () => {
    try {
      // A watcher whose stream is gone waits for a cancel answer that never comes; the next try
      // (the manager is then idle) just drops it.
      for (let tries = 0; tries < 3; tries++) {
        for (const w of opened) await Promise.race([w.cancel().catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);
      }
      client?.close();
    } finally {
      await server?.cleanup();
    }
  });

  test('key watcher with prevKv: put, put, delete, put events; data responses; other keys not seen', async () => {
    const c = etcd();
    const w = await c.watch().key('wk/key').withPreviousKV().create();
    assert.ok(w.id !== null, 'a connected watcher has its id');
    const rec = record(w);
    const r1 = await putRev('wk/key', 'v1');
    const r2 = await putRev('wk/key', 'v2');
    await putRev('wk/key2', 'not watched'); // a longer key is not the watched key
    await putRev('wk/ke', 'not watched');
    const r3 = await deleteRev('wk/key');
    const r4 = await putRev('wk/key', 'v3');
    await waitFor('4 events', () => rec.events.length >= 4);
    await new Promise((r) => setTimeout(r, 100)); // nothing more may arrive
    assert.deepEqual(rec.events, [
      { type: 'put', key: 'wk/key', value: 'v1', mod: r1, create: r1, version: 1, prev: undefined },
      { type: 'put', key: 'wk/key', value: 'v2', mod: r2, create: r1, version: 2, prev: { value: 'v1', mod: r1, version: 1 } },
      { type: 'delete', key: 'wk/key', value: '', mod: r3, create: 0, version: 0, prev: { value: 'v2', mod: r2, version: 2 } },
      { type: 'put', key: 'wk/key', value: 'v3', mod: r4, create: r4, version: 1, prev: undefined },
    ]);
    // 'data' carries the raw responses: the watcher's id, PUT/DELETE event types, a header
    // revision at least that of its events, and no cancel.
    const events = rec.data.flatMap((d) => d.events);
    assert.deepEqual(
      events.map((e) => [e.type, e.kv.key.toString(), Number(e.kv.mod_revision)]),
      [
        ['Put', 'wk/key', r1],
        ['Put', 'wk/key', r2],
        ['Delete', 'wk/key', r3],
        ['Put', 'wk/key', r4],
      ],
    );
    for (const d of rec.data) {
      assert.equal(d.watch_id, w.id);
      assert.equal(d.canceled, false);
      assert.equal(d.created, false);
      for (const e of d.events) assert.ok(Number(d.header.revision) >= Number(e.kv.mod_revision), 'header revision below an event revision');
    }
    assert.equal(Number(w.lastRevision()), r4 + 1, 'the client resumes after the last revision it saw');
    assert.deepEqual(rec.errors, []);
    const ended = new Promise<void>((res) => w.once('end', () => res()));
    await w.cancel();
    await ended;
    await putRev('wk/key', 'after cancel');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(rec.events.length, 4, 'no events after cancel');
  });

  test('prefix watcher: puts, a txn as one response, a prefix delete in key order; without prevKv no previous value', async () => {
    const c = etcd();
    const w = await c.watch().prefix('wp/').create();
    const rec = record(w);
    const onlyWatcher = await c.watch().prefix('wp/').only('delete').create();
    const only = record(onlyWatcher);
    const r1 = await putRev('wp/b', '1');
    await putRev('wp', 'outside'); // the prefix without its slash is outside
    await putRev('wq/a', 'outside');
    const r2 = await putRev('wp/a', '2');
    const r3 = await putRev('wp/b', '3');
    const txn = await c
      .if('wp/a', 'Value', '==', '2')
      .then(c.put('wp/c').value('t1'), c.put('wp/d/e').value('t2'), c.put('wpx').value('outside'))
      .commit();
    assert.equal(txn.succeeded, true);
    const r4 = Number(txn.header.revision);
    const del = await c.delete().prefix('wp/').exec();
    assert.equal(del.deleted, '4');
    const r5 = Number(del.header.revision);
    await waitFor('8 events', () => rec.events.length >= 8);
    await waitFor('4 delete events', () => only.events.length >= 4);
    await new Promise((r) => setTimeout(r, 100));
    const expectedDeletes: Seen[] = ['wp/a', 'wp/b', 'wp/c', 'wp/d/e'].map((key) => ({ type: 'delete', key, value: '', mod: r5, create: 0, version: 0, prev: undefined }));
    assert.deepEqual(rec.events, [
      { type: 'put', key: 'wp/b', value: '1', mod: r1, create: r1, version: 1, prev: undefined },
      { type: 'put', key: 'wp/a', value: '2', mod: r2, create: r2, version: 1, prev: undefined },
      { type: 'put', key: 'wp/b', value: '3', mod: r3, create: r1, version: 2, prev: undefined },
      { type: 'put', key: 'wp/c', value: 't1', mod: r4, create: r4, version: 1, prev: undefined },
      { type: 'put', key: 'wp/d/e', value: 't2', mod: r4, create: r4, version: 1, prev: undefined },
      ...expectedDeletes,
    ]);
    // All events of one revision come in one response.
    const byRev = new Map<number, Set<IWatchResponse>>();
    for (const d of rec.data) for (const e of d.events) byRev.set(Number(e.kv.mod_revision), (byRev.get(Number(e.kv.mod_revision)) ?? new Set()).add(d));
    assert.equal(byRev.get(r4)?.size, 1, 'the txn revision is split across responses');
    assert.equal(byRev.get(r5)?.size, 1, 'the prefix delete is split across responses');
    // only('delete') filters the puts out.
    assert.deepEqual(only.events, expectedDeletes);
    assert.deepEqual([...rec.errors, ...only.errors], []);
    await w.cancel();
    await onlyWatcher.cancel();
  });

  test('startRevision replays history from that revision, then continues live', async () => {
    const c = etcd();
    const r1 = await putRev('wh/x', 'a');
    const r2 = await putRev('wh/x', 'b');
    const r3 = await deleteRev('wh/x');
    const w = await c.watch().key('wh/x').withPreviousKV().startRevision(String(r2)).create();
    const rec = record(w);
    const r4 = await putRev('wh/x', 'c');
    await waitFor('3 events', () => rec.events.length >= 3);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(rec.events, [
      { type: 'put', key: 'wh/x', value: 'b', mod: r2, create: r1, version: 2, prev: { value: 'a', mod: r1, version: 1 } },
      { type: 'delete', key: 'wh/x', value: '', mod: r3, create: 0, version: 0, prev: { value: 'b', mod: r2, version: 2 } },
      { type: 'put', key: 'wh/x', value: 'c', mod: r4, create: r4, version: 1, prev: undefined },
    ]);
    await w.cancel();
  });

  test('SIGKILL and restart of the server: the watcher resumes and sees every revision exactly once, in order', async () => {
    const c = etcd();
    const w = await c.watch().prefix('wr/').withPreviousKV().create();
    const rec = record(w);
    let disconnects = 0;
    w.on('disconnected', () => disconnects++);
    const reconnectedAt: number[] = [];
    w.on('connected', (res) => reconnectedAt.push(Number(res.header.revision)));
    const written: { rev: number; type: 'put' | 'delete'; key: string; value: string }[] = [];
    const write = async (i: number): Promise<void> => {
      const key = `wr/k${i % 7}`;
      // Every 5th write deletes a key that exists.
      if (i % 5 === 4 && written.some((x) => x.key === key) && written.filter((x) => x.key === key).at(-1)?.type === 'put') {
        written.push({ rev: await deleteRev(key), type: 'delete', key, value: '' });
      } else {
        written.push({ rev: await putRev(key, `v${i}`), type: 'put', key, value: `v${i}` });
      }
    };
    // Written and seen before the kill.
    for (let i = 0; i < 30; i++) await write(i);
    await waitFor('the first writes', () => rec.events.length >= written.length);
    // Acknowledged, then the kill follows at once: the watcher may or may not have seen these.
    for (let i = 30; i < 50; i++) await write(i);
    const seenBeforeKill = rec.events.length;
    let release = (): void => undefined;
    heldCreates = new Promise<void>((res) => (release = res));
    try {
      assert.ok(server !== undefined);
      server = await server.restart();
      // Right after the server is back; the watcher's new create request is held meanwhile.
      for (let i = 50; i < 90; i++) await write(i);
      assert.equal(reconnectedAt.length, 0, 'no watch created while held');
    } finally {
      heldCreates = undefined;
      release();
    }
    await waitFor('every write after the restart', () => rec.events.length >= written.length && rec.events.at(-1)!.mod >= written.at(-1)!.rev, 20_000);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(disconnects >= 1, 'the watcher noticed the server going away');
    assert.equal(reconnectedAt.length, 1, 'the watcher reconnected once');
    // It was created again after every write: the writes after the restart (and any before the
    // kill it had not seen) came from history.
    assert.ok(reconnectedAt[0] >= written.at(-1)!.rev, `reconnected at ${reconnectedAt[0]}, last write ${written.at(-1)!.rev}`);
    assert.ok(rec.events.length - seenBeforeKill >= 40, `only ${rec.events.length - seenBeforeKill} events after the kill`);
    // No gap, no duplicate: exactly the writes, at their revisions, in order.
    assert.deepEqual(
      rec.events.map((e) => [e.mod, e.type, e.key, e.value]),
      written.map((x) => [x.rev, x.type, x.key, x.value]),
    );
    for (let i = 1; i < written.length; i++) assert.equal(written[i].rev, written[i - 1].rev + 1, 'revisions of the writes are consecutive');
    // prevKv survives the restart too: each event's previous value is the key's last write.
    const last = new Map<string, string>();
    for (const e of rec.events) {
      assert.equal(e.prev?.value, last.get(e.key), `prev of ${e.key}@${e.mod}`);
      if (e.type === 'put') last.set(e.key, e.value);
      else last.delete(e.key);
    }
    assert.deepEqual(rec.errors, []);
    assert.equal(Number(w.lastRevision()), written.at(-1)!.rev + 1, 'the client resumes after the last revision it saw');
    await w.cancel();
  });

  test('a watch from a compacted revision ends with the client error "Watcher canceled"; from the compaction revision it works', async () => {
    const c = etcd();
    const r1 = await putRev('wc/k', '1');
    await putRev('wc/k', '2');
    const r3 = await putRev('wc/k', '3');
    await c.kv.compact({ revision: String(r3), physical: true });

    // etcd sends the created response, then a cancel with compact_revision set and no reason;
    // the client turns the cancel into an 'error' event (an EtcdError) and drops the watcher.
    const w = c.watch().key('wc/k').startRevision(String(r1)).watcher();
    opened.push(w);
    const errors: Error[] = [];
    const data: IWatchResponse[] = [];
    w.on('data', (d) => data.push(d));
    const failed = new Promise<Error>((res) => w.on('error', (e) => (errors.push(e), res(e))));
    const err = await Promise.race([failed, new Promise<Error>((_, rej) => setTimeout(() => rej(new Error('no error event from a compacted watch')), 5000))]);
    assert.ok(err instanceof EtcdError, `expected an EtcdError, got ${err.constructor.name}: ${err.message}`);
    assert.match(err.message, /^Watcher canceled: /);
    assert.deepEqual(data, [], 'no events from a compacted watch');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(errors.length, 1);

    // The same range from the compaction revision itself is still there.
    const ok = await c.watch().key('wc/k').startRevision(String(r3)).create();
    const rec = record(ok);
    await waitFor('the event at the compaction revision', () => rec.events.length >= 1);
    assert.deepEqual(
      rec.events.map((e) => [e.mod, e.value]),
      [[r3, '3']],
    );
    assert.deepEqual(rec.errors, []);
    await ok.cancel();
  });
});
