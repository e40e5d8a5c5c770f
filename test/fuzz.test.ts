// Fuzzing the client port (test/robustness/fuzz.ts) for ~15 s with a fixed seed: the server must
// survive, answer bad input with errors rather than crash, hang or drop streams, and keep every
// byte it stored. TEST_AGAINST_ETCD=1 runs the same against real etcd 3.4 to check that these
// expectations are fair; FUZZ_SEED / FUZZ_MS override the seed and the duration.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { startServer, type ServerProcess } from './helpers/server-process';
import { b, call, kvClient, serviceClient, clusterClient, maintenanceClient, type Msg } from './helpers/grpc-client';
import { WatchClient } from './helpers/watch-client';
import { FUZZ_PREFIX, runFuzz, type FuzzResult } from './robustness/fuzz';
import { encode, grpcFrame, tag, varint } from './robustness/fuzz-proto';
import { Tally, grpcHeaders, openSession, runStream } from './robustness/fuzz-h2';

const SEED = Number(process.env.FUZZ_SEED ?? 1);
const DURATION_MS = Number(process.env.FUZZ_MS ?? 15_000);
const REAL_ETCD = process.env.TEST_AGAINST_ETCD === '1';

/** What a crash, a fatal log line or an exception no handler caught looks like in stderr. */
const CRASH_LINES = [
  /uncaught/i, /unhandled/i, /FATAL ERROR/, /heap out of memory/i, /Maximum call stack size exceeded/, // node
  /^panic:/m, /"level":"fatal"/, / C \| /, // Go / etcd
];
/** etcd-ts logs an error it has no etcd code for as this (and answers INTERNAL): a server bug. */
const UNEXPECTED_ERROR = /unexpected error serving request/;

interface Known {
  key: string;
  value: Buffer;
  modRevision: string;
}

describe(`fuzzing the client port (seed ${SEED}, ${DURATION_MS} ms)`, () => {
  let server: ServerProcess;
  let kv: grpc.Client;
  const known: Known[] = [];
  let revisionBefore = 0;
  let lease = '';
  let fuzz: FuzzResult;

  before(async () => {
    server = await startServer();
    kv = kvClient(server.endpoint);
    // Known data the fuzzer must not touch: plain, binary, empty and large values, one on a lease.
    const leaseClient = serviceClient('Lease', server.endpoint);
    lease = String((await call(leaseClient, 'LeaseGrant', { TTL: 3600, ID: 0 })).ID);
    leaseClient.close();
    const values: Buffer[] = [b('v0'), Buffer.from([0, 255, 10, 13]), Buffer.alloc(0), Buffer.alloc(100 * 1024, 7), b('ünïcødé')];
    for (let i = 0; i < 20; i++) {
      const key = `known/${i}`;
      const value = Buffer.concat([values[i % values.length], b(String(i))]);
      const resp = await call(kv, 'Put', { key: b(key), value, ...(i === 3 ? { lease } : {}) });
      revisionBefore = Number(resp.header.revision);
      known.push({ key, value, modRevision: String(revisionBefore) });
    }
    fuzz = await runFuzz([server.endpoint], SEED, DURATION_MS, { etcd34: REAL_ETCD });
  });

  after(async () => {
    kv?.close();
    await server?.cleanup();
  });

  test('summary', (t) => {
    const { frames, streams, actions, rebroken, skippedUnsafe, errors, slow } = fuzz;
    t.diagnostic(JSON.stringify({ frames, streams, actions, rebroken, skippedUnsafe, errors, slow }));
  });

  test('the server never exited', () => {
    assert.equal(server.proc.exitCode, null, `exited with ${server.proc.exitCode}:\n${tail(server.stderr())}`);
    assert.equal(server.proc.signalCode, null, `killed by ${server.proc.signalCode}:\n${tail(server.stderr())}`);
  });

  test('stderr has no crash, fatal or unexpected-error lines', () => {
    const err = server.stderr();
    for (const re of CRASH_LINES) assert.doesNotMatch(err, re, `server stderr matches ${re}:\n${around(err, re)}`);
    if (!REAL_ETCD) assert.doesNotMatch(err, UNEXPECTED_ERROR, `a handler threw something etcd has no code for:\n${around(err, UNEXPECTED_ERROR)}`);
  });

  test('the fuzzer sent a meaningful amount of each kind of input', () => {
    assert.equal(fuzz.errors['fuzzer-error'], undefined, `the fuzzer itself failed: ${JSON.stringify(sampleOf('fuzzer-error'))}`);
    assert.ok(fuzz.frames >= 1000, `only ${fuzz.frames} frames sent`);
    assert.ok(fuzz.streams >= 2000, `only ${fuzz.streams} streams opened`);
    const kinds = new Set(Object.keys(fuzz.byClass).map((c) => c.split('/')[0]));
    for (const k of ['valid', 'mutated', 'random', 'frame', 'headers', 'unknown-method', 'abort', 'raw-h2', 'storm']) assert.ok(kinds.has(k), `no ${k} input was sent (kinds: ${[...kinds].join(', ')})`);
    // The filter that keeps writes harmless must not have eaten the input.
    assert.ok(fuzz.skippedUnsafe < fuzz.actions / 10, `${fuzz.skippedUnsafe} of ${fuzz.actions} actions skipped as unsafe`);
  });

  test('bad input is answered with errors, as etcd answers it', () => {
    const e = fuzz.errors;
    // Every class below is what etcd 3.4 answers too (TEST_AGAINST_ETCD=1 checks it):
    // undecodable protobuf: INTERNAL; refused requests: INVALID_ARGUMENT; the unknown lease of a
    // put: NOT_FOUND; a lease TTL above the maximum: OUT_OF_RANGE; messages above the limits:
    // RESOURCE_EXHAUSTED; unknown methods: UNIMPLEMENTED; reads: OK.
    for (const code of ['OK', 'INVALID_ARGUMENT', 'INTERNAL', 'NOT_FOUND', 'OUT_OF_RANGE', 'RESOURCE_EXHAUSTED', 'UNIMPLEMENTED']) {
      assert.ok((e[code] ?? 0) > 0, `no ${code} answer at all: ${JSON.stringify(e)}`);
    }
    // A complete unary call is always answered, a stream the server ends always gets a status,
    // storms of up to 2,000 streams are answered in time.
    for (const bad of ['timeout', 'no-status', 'storm-slow']) {
      assert.equal(e[bad], undefined, `${bad}: ${JSON.stringify(sampleOf(bad))}`);
    }
    // Size limits hold on the declared length and on the bytes.
    for (const [cls, outcomes] of Object.entries(fuzz.byClass)) {
      if (cls === 'frame/huge-declared' || cls.startsWith('oversize/over-grpc-limit') || cls.startsWith('oversize/over-4mib') || cls.startsWith('oversize/declared-only')) {
        assert.deepEqual(Object.keys(outcomes), ['RESOURCE_EXHAUSTED'], `${cls}: ${JSON.stringify(outcomes)}`);
      }
      if (cls === 'oversize/over-request-limit/Put') assert.deepEqual(Object.keys(outcomes), ['INVALID_ARGUMENT'], `${cls}: ${JSON.stringify(outcomes)}`);
      // Writes are built to be refused: a success would be a write that should have failed.
      if (/^(valid|mutated)\/(Put|LeaseGrant)$/.test(cls)) assert.equal(outcomes.OK, undefined, `${cls} succeeded: ${JSON.stringify(samples(cls, 'OK'))}`);
      if (cls === 'unknown-method') assert.equal(outcomes.OK, undefined, `an unknown method answered OK: ${JSON.stringify(samples(cls, 'OK'))}`);
    }
    // A response the server could not encode: the client hears INTERNAL for a request etcd serves.
    const unencodable = Object.keys(fuzz.details).filter((d) => /Error serializing response/.test(d));
    assert.deepEqual(unencodable, [], `the server failed to encode its answer (seed ${SEED}, class#action: ${JSON.stringify(unencodable.map((d) => fuzz.detailSamples[d]))})`);
  });

  test('a txn nested 50 deep (protobufjs\'s depth limit, none in Go) is answered as etcd does', async () => {
    // 50 levels of Txn{success: [RequestOp{request_txn}]} around a delete of a key that does
    // not exist: a write (it goes through Raft) that changes nothing. etcd answers OK. The
    // answer nests one level deeper than protobufjs encodes, and a Raft entry wrapping the
    // request nests one deeper than it decodes (followers then fail to apply it).
    let body = encode('RequestOp', { request_delete_range: { key: b(`${FUZZ_PREFIX}deep`) } });
    for (let i = 0; i < 50; i++) {
      const txn = Buffer.concat([tag(2, 2), varint(body.length), body]);
      body = i === 49 ? txn : Buffer.concat([tag(4, 2), varint(txn.length), txn]);
    }
    const tally = new Tally();
    const h = openSession(server.endpoint, tally, 'deep', 0);
    try {
      const r = await runStream(h, { headers: grpcHeaders('/etcdserverpb.KV/Txn'), writes: [grpcFrame(body)], end: true, waitMs: 10_000 }, tally);
      assert.equal(r.outcome, 'OK', `50-deep txn answered ${r.outcome}: ${r.detail}`);
    } finally {
      h.session.destroy();
    }
  });

  test('it still serves, and the known data is intact: no write slipped through', async () => {
    assert.equal(server.proc.exitCode, null, 'server process is alive');
    const all = await call(kv, 'Range', { key: b('\0'), range_end: b('\0') });
    // Nothing was written: not one revision more than the test's own puts.
    assert.equal(Number(all.header.revision), revisionBefore, 'the revision moved: some fuzz input was applied as a write');
    assert.deepEqual(
      all.kvs.map((k: Msg) => ({ key: k.key.toString(), value: Buffer.from(k.value), modRevision: String(k.mod_revision) })),
      [...known].sort((x, y) => Buffer.compare(b(x.key), b(y.key))),
    );
    assert.equal(all.kvs.find((k: Msg) => k.key.toString() === 'known/3')?.lease, lease, 'the leased key keeps its lease');
    const fuzzKeys = await call(kv, 'Range', { key: b(FUZZ_PREFIX), range_end: b('__fuzz0'), count_only: true });
    assert.equal(Number(fuzzKeys.count), 0, `keys under ${FUZZ_PREFIX}`);
    // The lease the fuzzer never names is still there, with its TTL running.
    const leaseClient = serviceClient('Lease', server.endpoint);
    try {
      const ttl = await call(leaseClient, 'LeaseTimeToLive', { ID: lease, keys: true });
      assert.ok(Number(ttl.TTL) > 3000, `lease TTL ${ttl.TTL}`);
      assert.deepEqual(ttl.keys.map((k: Buffer) => k.toString()), ['known/3']);
    } finally {
      leaseClient.close();
    }
    // Writes, reads and watches work as before.
    const w = new WatchClient(server.endpoint);
    try {
      w.create({ key: b('after-fuzz') });
      assert.equal((await w.next()).created, true);
      const put = await call(kv, 'Put', { key: b('after-fuzz'), value: b('ok') });
      assert.equal(Number(put.header.revision), revisionBefore + 1);
      assert.equal((await call(kv, 'Range', { key: b('after-fuzz') })).kvs[0].value.toString(), 'ok');
      const [ev] = await w.events(1);
      assert.equal(ev.kv.value.toString(), 'ok');
    } finally {
      w.close();
    }
    const members = clusterClient(server.endpoint);
    const maintenance = maintenanceClient(server.endpoint);
    try {
      assert.equal((await call(members, 'MemberList', {})).members.length, 1);
      assert.ok(Number((await call(maintenance, 'Status', {})).raftIndex) > 0);
    } finally {
      members.close();
      maintenance.close();
    }
  });

  function sampleOf(outcome: string): Record<string, unknown> {
    return Object.fromEntries(Object.entries(fuzz.samples).filter(([k]) => k.endsWith(` ${outcome}`)));
  }

  function samples(cls: string, outcome: string): unknown {
    return fuzz.samples[`${cls} ${outcome}`];
  }
});

function tail(s: string): string {
  return s.slice(-3000);
}

function around(s: string, re: RegExp): string {
  const m = re.exec(s);
  return m === null ? '' : s.slice(Math.max(0, m.index - 500), m.index + 2500);
}
