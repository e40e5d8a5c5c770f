// A seeded fuzzer for an etcd v3 gRPC endpoint: for a while it throws bad input at the client
// port over HTTP/2 (plaintext, or TLS with options.tls) and counts what the server answers.
// It sends no auth token: with auth on, what it sends is refused for want of one as well.
// Input classes:
//   valid / mutated / cross-type / random   protobuf bodies for KV Range/Put/DeleteRange/Txn,
//                       Watch, LeaseGrant/LeaseKeepAlive, Cluster MemberList, Maintenance Status:
//                       bit flips, truncation, extension, wrong length prefixes and wire types,
//                       huge and over-long varints, unknown fields and groups, deeper nesting
//   deep-txn            Txn nested 48-51 levels (protobufjs's depth limit; Go has none) up
//                       to ~150,000 levels
//   frame/*             bad gRPC framing: compressed flag without encoding, length prefix above
//                       or below the body, zero-length, many messages on a unary call, 1-byte DATA
//                       frames, huge declared lengths, a bare frame header, no message at all
//   headers/*           bad content-type, method, te, grpc-timeout, grpc-encoding, big metadata
//   unknown-method      paths no service declares
//   abort/*             half a frame then RST_STREAM or a dropped TCP connection; in-flight calls
//                       under a dropped session
//   oversize/*          beyond --max-request-bytes (1.5 MiB), beyond gRPC's limit, beyond 4 MiB
//   gzip/*              compressed messages: valid, corrupt, a 16 MiB decompression bomb
//   raw-h2/*            hand-made HTTP/2 over TCP: garbage, HTTP/1, protocol errors, rapid
//                       reset, CONTINUATION / SETTINGS / PING floods
//   storm/*             waves of up to 2,000 Watch or LeaseKeepAlive streams, then all dropped
// Action N draws from its own PRNG stream (seed, N): the same seed sends the same inputs,
// whatever the timing; runFuzzAction replays one.
//
// It must never change state the harness checks. No request it sends can succeed as a write:
// writes are built to be refused (empty key, unknown negative lease, ignore_value on a key that
// does not exist, a lease TTL above etcd's maximum) and every body the server could decode for a
// write method is decoded here first; one that might succeed gets a field appended that makes it
// fail again, or is not sent (fuzz-proto.ts safeBody / makeSafe). Keys any write names are under
// FUZZ_PREFIX ('__fuzz/'), deletes stay inside it, and nothing is ever stored there, so even a
// refused check would touch only that prefix (a delete there may go through Raft, and changes
// nothing). Never sent at all: Compact, LeaseRevoke, member changes, Alarm, Defragment, Snapshot,
// MoveLeader, Auth. With options.etcd34 the input that panics etcd 3.4 itself is left out.
//
// CLI: node dist/test/robustness/fuzz.js HOST:PORT[,HOST:PORT...] SEED DURATION_MS [ACTION]
import { readFileSync } from 'node:fs';
import { constants, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import { gzipSync, deflateSync } from 'node:zlib';
import {
  FUZZ_PREFIX, METHODS, METHOD_NAMES, READ_ONLY, Rng, deepTxn, encode, grpcFrame, knownPaths, makeSafe, mutate, safeData, seedRequest,
  tag, varint, type MethodName,
} from './fuzz-proto';
import type { TlsPems } from './access';
import {
  FLAG, FRAME, PREFACE, STATUS_NAMES, Tally, grpcHeaderBlock, grpcHeaders, h2Frame, hpackInt, hpackLiteral, openSession, rawExchange, runStream, type SessionHandle,
  type StreamSpec,
} from './fuzz-h2';

export { FUZZ_PREFIX };

export interface FuzzResult {
  /** gRPC messages (whole or partial) and raw HTTP/2 frames written. */
  frames: number;
  /** HTTP/2 streams opened. */
  streams: number;
  /**
   * Outcome → count: gRPC status names (OK, INVALID_ARGUMENT, ...), http:<status>, rst:<code>
   * (server reset the stream), conn:<code> / goaway:<code> (connection errors), raw:* (raw
   * HTTP/2 connections), timeout (a complete unary call got no answer in time), no-status,
   * stream-open / stream-silent (a bidi stream still open when dropped), aborted (we dropped it);
   * storms: dropped-answered / dropped-unanswered (dropped by us after / before the server's first
   * answer), storm-slow (under 95 % answered in time); fuzzer-error (a bug in the fuzzer).
   */
  errors: Record<string, number>;
  actions: number;
  byClass: Record<string, Record<string, number>>;
  samples: Record<string, { actions: number[]; detail?: string }>;
  /** "outcome: grpc-message" → count (digits folded to N), and the first "class#action" of each. */
  details: Record<string, number>;
  detailSamples: Record<string, string[]>;
  /** Wall time spent per action kind, and actions that took over 3.5 s. */
  ms: Record<string, number>;
  slow: { action: number; kind: string; ms: number }[];
  rebroken: number;
  skippedUnsafe: number;
}

export interface FuzzOptions {
  /** Concurrent action loops (default 3: the machine has 2 cores shared with the server). */
  workers?: number;
  /** Assumed --max-request-bytes of the server (default etcd's 1.5 MiB). */
  maxRequestBytes?: number;
  /**
   * The target is real etcd 3.4: leave out the input that makes it panic (a Range sort_target
   * outside the enum; see fuzz-proto.ts badSortTarget). etcd-ts gets all of it.
   */
  etcd34?: boolean;
  /** The endpoints serve TLS: connect with this CA and client certificate (ALPN h2). */
  tls?: TlsPems;
}

const MIB = 1024 * 1024;
/** A complete unary call gets this long for its answer before it counts as a timeout. */
const UNARY_WAIT_MS = 5000;
/** Storm streams must have their first answer within this long. */
const STORM_ANSWER_MS = 6000;
/** Bytes of oversize requests one run may send (keeps memory and CPU bounded). */
const OVERSIZE_BUDGET = 150 * MIB;
const STORM_MAX_STREAMS = 2000;
const STORM_STREAMS_PER_SESSION = 500;

interface Ctx {
  seed: number;
  endpoints: string[];
  tally: Tally;
  endAt: number;
  maxRequestBytes: number;
  etcd34: boolean;
  tls: TlsPems | undefined;
  /** One long-lived session per endpoint per worker. */
  sessions: Map<string, SessionHandle>;
}

export async function runFuzz(endpoints: string[], seed: number, durationMs: number, options: FuzzOptions = {}): Promise<FuzzResult> {
  if (endpoints.length === 0) throw new Error('runFuzz: no endpoints');
  const tally = new Tally();
  const shared = { next: 0, oversizeLeft: OVERSIZE_BUDGET, stormBusy: false };
  const endAt = Date.now() + durationMs;
  const worker = async (): Promise<void> => {
    const sessions = new Map<string, SessionHandle>();
    try {
      while (Date.now() < endAt) {
        const i = shared.next++;
        const ctx: Ctx = { seed, endpoints, tally, endAt, maxRequestBytes: options.maxRequestBytes ?? 1.5 * MIB, etcd34: options.etcd34 === true, tls: options.tls, sessions };
        await runAction(ctx, i, shared);
      }
    } finally {
      for (const h of sessions.values()) h.session.destroy();
    }
  };
  await Promise.all(Array.from({ length: options.workers ?? 3 }, () => worker()));
  return result(tally);
}

/** Replays action `index` of a seed alone (to reproduce what one action did to a server). */
export async function runFuzzAction(endpoint: string, seed: number, index: number, options: FuzzOptions = {}): Promise<FuzzResult> {
  const tally = new Tally();
  const sessions = new Map<string, SessionHandle>();
  const shared = { next: 0, oversizeLeft: OVERSIZE_BUDGET, stormBusy: false };
  try {
    await runAction({ seed, endpoints: [endpoint], tally, endAt: Date.now() + 60_000, maxRequestBytes: options.maxRequestBytes ?? 1.5 * MIB, etcd34: options.etcd34 === true, tls: options.tls, sessions }, index, shared);
  } finally {
    for (const h of sessions.values()) h.session.destroy();
  }
  return result(tally);
}

function result(t: Tally): FuzzResult {
  return { frames: t.frames, streams: t.streams, errors: t.errors, actions: t.actions, byClass: t.byClass, samples: t.samples, details: t.details, detailSamples: t.detailSamples, ms: t.ms, slow: t.slow, rebroken: t.rebroken, skippedUnsafe: t.skippedUnsafe };
}

type Kind = 'valid' | 'mutated' | 'cross-type' | 'random' | 'frame' | 'headers' | 'unknown-method' | 'abort' | 'deep-txn' | 'oversize' | 'gzip' | 'raw-h2' | 'storm';
const KINDS: readonly (readonly [Kind, number])[] = [
  ['valid', 8], ['mutated', 30], ['cross-type', 5], ['random', 6], ['frame', 14], ['headers', 6], ['unknown-method', 4],
  ['abort', 8], ['deep-txn', 2], ['oversize', 2], ['gzip', 3], ['raw-h2', 6], ['storm', 1.2],
];

async function runAction(ctx: Ctx, index: number, shared: { oversizeLeft: number; stormBusy: boolean }): Promise<void> {
  const rng = new Rng(ctx.seed, index);
  const endpoint = rng.pick(ctx.endpoints);
  const kind = rng.weighted(KINDS);
  ctx.tally.actions++;
  const a: Act = { ctx, rng, endpoint, index, shared };
  const started = Date.now();
  const refusedBefore = (ctx.tally.errors['conn:ECONNREFUSED'] ?? 0) + (ctx.tally.errors['raw:conn:ECONNREFUSED'] ?? 0);
  try {
    switch (kind) {
      case 'valid':
        return await valid(a);
      case 'mutated':
        return await mutated(a);
      case 'cross-type':
        return await crossType(a);
      case 'random':
        return await randomBody(a);
      case 'frame':
        return await badFrame(a);
      case 'headers':
        return await badHeaders(a);
      case 'unknown-method':
        return await unknownMethod(a);
      case 'abort':
        return await abort(a);
      case 'deep-txn':
        return await deepNesting(a);
      case 'oversize':
        return await oversize(a);
      case 'gzip':
        return await compressed(a);
      case 'raw-h2':
        return await rawH2(a);
      case 'storm':
        return await storm(a);
    }
  } catch (e) {
    // A bug in the fuzzer itself: counted, never fatal (the run must finish).
    ctx.tally.add(kind, 'fuzzer-error', index, e instanceof Error ? e.stack : String(e));
  } finally {
    // A server that is gone refuses at once: do not spin on it (the machine is shared).
    if ((ctx.tally.errors['conn:ECONNREFUSED'] ?? 0) + (ctx.tally.errors['raw:conn:ECONNREFUSED'] ?? 0) > refusedBefore) await new Promise((r) => setTimeout(r, 100));
    const ms = Date.now() - started;
    ctx.tally.ms[kind] = (ctx.tally.ms[kind] ?? 0) + ms;
    if (ms > 3500 && ctx.tally.slow.length < 20) ctx.tally.slow.push({ action: index, kind, ms });
  }
}

interface Act {
  ctx: Ctx;
  rng: Rng;
  endpoint: string;
  index: number;
  shared: { oversizeLeft: number; stormBusy: boolean };
}

function session(a: Act, cls: string): SessionHandle {
  let h = a.ctx.sessions.get(a.endpoint);
  if (h === undefined || h.dead || h.session.closed || h.session.destroyed) {
    h?.session.destroy();
    h = openSession(a.endpoint, a.ctx.tally, cls, a.index, a.ctx.tls);
    a.ctx.sessions.set(a.endpoint, h);
  }
  h.cls = cls;
  h.action = a.index;
  return h;
}

/** Runs one stream on the worker's session and counts its outcome under `cls`. */
async function send(a: Act, cls: string, spec: StreamSpec, h: SessionHandle = session(a, cls)): Promise<string> {
  const left = a.ctx.endAt + 2000 - Date.now();
  const r = await runStream(h, { ...spec, waitMs: Math.max(200, Math.min(spec.waitMs, left)) }, a.ctx.tally);
  a.ctx.tally.add(cls, r.outcome, a.index, r.detail);
  return r.outcome;
}

/** A call of `method` carrying these messages: unary calls half-close, streams mostly stay open. */
function callSpec(a: Act, method: MethodName, bodies: Buffer[], extra: OutgoingHttpHeaders = {}): StreamSpec {
  const stream = METHODS[method].stream;
  return {
    headers: grpcHeaders(METHODS[method].path, extra),
    writes: bodies.map((b) => grpcFrame(b)),
    end: stream ? a.rng.chance(0.4) : true,
    waitMs: stream ? a.rng.range(150, 600) : UNARY_WAIT_MS,
    bidi: stream,
  };
}

/** Makes a body harmless for the method (see fuzz-proto.ts), counting fixes and skips. */
function harmless(a: Act, method: MethodName, body: Buffer): Buffer | undefined {
  const safe = makeSafe(a.rng, method, body, a.ctx.etcd34);
  if (safe === undefined) a.ctx.tally.skippedUnsafe++;
  else if (safe !== body) a.ctx.tally.rebroken++;
  return safe;
}

// ------------------------------------------------------------------------------------- bodies

async function valid(a: Act): Promise<void> {
  const method = a.rng.pick(METHOD_NAMES);
  const n = METHODS[method].stream ? a.rng.range(1, 5) : 1;
  const bodies: Buffer[] = [];
  for (let k = 0; k < n; k++) {
    const b = harmless(a, method, seedRequest(a.rng, method));
    if (b !== undefined) bodies.push(b);
  }
  if (bodies.length > 0) await send(a, `valid/${method}`, callSpec(a, method, bodies));
}

async function mutated(a: Act): Promise<void> {
  const method = a.rng.pick(METHOD_NAMES);
  const n = METHODS[method].stream ? a.rng.range(1, 4) : 1;
  const bodies: Buffer[] = [];
  for (let k = 0; k < n; k++) {
    // Streams: mutated messages between valid ones, so the stream is live when they arrive.
    const raw = seedRequest(a.rng, method);
    const b = harmless(a, method, k === n - 1 || a.rng.chance(0.5) ? mutate(a.rng, raw).bytes : raw);
    if (b !== undefined) bodies.push(b);
  }
  if (bodies.length > 0) await send(a, `mutated/${method}`, callSpec(a, method, bodies));
}

async function crossType(a: Act): Promise<void> {
  const to = a.rng.pick(METHOD_NAMES);
  const from = a.rng.pick(METHOD_NAMES.filter((m) => m !== to));
  let body = seedRequest(a.rng, from);
  if (a.rng.chance(0.5)) body = mutate(a.rng, body).bytes;
  const b = harmless(a, to, body);
  if (b !== undefined) await send(a, 'cross-type', callSpec(a, to, [b]));
}

async function randomBody(a: Act): Promise<void> {
  const method = a.rng.pick(METHOD_NAMES);
  const len = a.rng.weighted([[a.rng.range(0, 8), 3], [a.rng.range(9, 64), 3], [a.rng.range(65, 2048), 1]] as const);
  const b = harmless(a, method, a.rng.bytes(len));
  if (b !== undefined) await send(a, 'random', callSpec(a, method, [b]));
}

async function deepNesting(a: Act): Promise<void> {
  // protobufjs refuses more than 100 nested messages (a Txn level is 2: TxnRequest, RequestOp),
  // Go's decoder has no limit: around 50 levels the two disagree, and a Raft entry adds a level.
  // ~8 bytes per level: 150,000 levels stay under the 1.5 MiB request limit.
  const depth = a.rng.pick([48, 49, 50, 51, 64, 1000, 5000, 20_000, 150_000]);
  const body = deepTxn(a.rng, depth);
  await send(a, `deep-txn/${depth <= 51 ? depth : depth >= 20_000 ? 'huge' : 'deep'}`, {
    headers: grpcHeaders(METHODS.Txn.path),
    writes: [grpcFrame(body)],
    end: true,
    waitMs: 10_000,
  });
}

// ------------------------------------------------------------------------------------ framing

async function badFrame(a: Act): Promise<void> {
  const { rng } = a;
  const method = rng.pick(METHOD_NAMES);
  const body = harmless(a, method, rng.chance(0.7) ? seedRequest(rng, method) : mutate(rng, seedRequest(rng, method)).bytes);
  if (body === undefined) return;
  const sub = rng.pick(['compressed-flag', 'len-gt-body', 'len-lt-body', 'zero-len', 'many-unary', 'split', 'huge-declared', 'header-only', 'no-message', 'trailing-garbage'] as const);
  let writes: Buffer[];
  let end = true;
  const extra: OutgoingHttpHeaders = {};
  switch (sub) {
    case 'compressed-flag':
      writes = [grpcFrame(body, rng.pick([1, 2, 0x80, 0xff]))];
      if (rng.chance(0.3)) extra['grpc-encoding'] = 'identity';
      break;
    case 'len-gt-body':
      writes = [grpcFrame(body, 0, body.length + rng.pick([1, 2, 10, 1000, 100_000]))];
      // Half the time the stream stays open: the server waits for bytes that never come.
      end = rng.chance(0.5);
      break;
    case 'len-lt-body':
      writes = [grpcFrame(body, 0, Math.max(0, body.length - rng.range(1, Math.max(1, body.length))))];
      break;
    case 'zero-len':
      writes = Array.from({ length: rng.range(1, 3) }, () => grpcFrame(Buffer.alloc(0)));
      break;
    case 'many-unary':
      writes = Array.from({ length: rng.pick([2, 3, 10, 50]) }, () => grpcFrame(body));
      break;
    case 'split': {
      const f = grpcFrame(body);
      writes = [];
      for (let p = 0; p < f.length; ) {
        const n = rng.chance(0.5) ? 1 : rng.range(1, 7);
        writes.push(f.subarray(p, p + n));
        p += n;
      }
      writes = writes.slice(0, 400);
      break;
    }
    case 'huge-declared':
      writes = [grpcFrame(body.subarray(0, 16), 0, rng.pick([0xffffffff, 0x7fffffff, 64 * MIB, 2 * MIB + 1, 4 * MIB + 1]))];
      end = rng.chance(0.5);
      break;
    case 'header-only':
      writes = [grpcFrame(body).subarray(0, rng.range(1, 4))];
      break;
    case 'no-message':
      writes = [];
      break;
    case 'trailing-garbage':
      writes = [grpcFrame(body), a.rng.bytes(rng.range(1, 4))];
      break;
  }
  if (!safeData(method, Buffer.concat(writes), a.ctx.etcd34)) {
    a.ctx.tally.skippedUnsafe++;
    return;
  }
  const stream = METHODS[method].stream;
  await send(a, `frame/${sub}`, {
    headers: grpcHeaders(METHODS[method].path, extra),
    writes,
    end: stream ? end && rng.chance(0.5) : end,
    waitMs: stream ? 600 : end ? UNARY_WAIT_MS : 400,
    // Without a half-close the server rightly waits: no answer is then not a failure.
    bidi: stream || !end,
  });
}

async function badHeaders(a: Act): Promise<void> {
  const { rng } = a;
  const method = rng.pick(METHOD_NAMES);
  const body = harmless(a, method, seedRequest(rng, method));
  if (body === undefined) return;
  const sub = rng.pick(['content-type', 'method', 'te', 'grpc-timeout', 'grpc-encoding', 'big-metadata', 'many-metadata', 'bad-bin', 'path-query', 'authority'] as const);
  const h = grpcHeaders(METHODS[method].path);
  switch (sub) {
    case 'content-type': {
      const v = rng.pick(['application/json', 'application/grpc+json', 'text/plain', '', 'application/grpcx', 'application/grpc; charset=utf-8', 'application/grpc+proto', undefined]);
      if (v === undefined) delete h['content-type'];
      else h['content-type'] = v;
      break;
    }
    case 'method':
      h[constants.HTTP2_HEADER_METHOD] = rng.pick(['GET', 'PUT', 'DELETE', 'OPTIONS', 'FUZZ']);
      break;
    case 'te':
      // node:http2 itself refuses any other te value.
      delete h.te;
      break;
    case 'grpc-timeout':
      h['grpc-timeout'] = rng.pick(['0n', '1n', '1m', '99999999H', 'abc', '-1S', '1x', '100000000S', '', 'S', '123456789012345678901234567890S']);
      break;
    case 'grpc-encoding':
      h['grpc-encoding'] = rng.pick(['snappy', 'gzip', 'identity,gzip', '', 'GZIP', 'deflate']);
      if (rng.chance(0.5)) h['grpc-accept-encoding'] = rng.pick(['x,y,z', '', 'gzip;q=0.5']);
      break;
    case 'big-metadata':
      h['x-fuzz'] = 'a'.repeat(rng.pick([1024, 8 * 1024, 16 * 1024, 64 * 1024]));
      break;
    case 'many-metadata':
      for (let k = rng.pick([50, 200, 500]); k > 0; k--) h[`x-fuzz-${k}`] = String(k);
      break;
    case 'bad-bin':
      h['x-fuzz-bin'] = rng.pick(['!!!!', 'a', '====', '\u00ff\u00fe']);
      h.token = rng.pick(['', 'garbage', 'a.b.c']);
      h.hasleader = rng.pick(['true', 'yes', '']);
      break;
    case 'path-query':
      h[constants.HTTP2_HEADER_PATH] = `${METHODS[method].path}${rng.pick(['?x=1', '#f', '%00', '/'])}`;
      break;
    case 'authority':
      h[constants.HTTP2_HEADER_AUTHORITY] = rng.pick(['', 'x'.repeat(3000), '[::1', 'a b']);
      break;
  }
  const spec = callSpec(a, method, [body]);
  await send(a, `headers/${sub}`, { ...spec, headers: h });
}

let known: Set<string> | undefined;

async function unknownMethod(a: Act): Promise<void> {
  const { rng } = a;
  known ??= knownPaths();
  // Only names that are no method at all: never a variant of a write's name.
  const path = rng.pick([
    `/etcdserverpb.KV/${rng.pick(['Frobnicate', 'Get', 'range', 'Watch', ''])}`,
    `/etcdserverpb.${rng.pick(['Nope', 'kv', 'KVV', ''])}/Range`,
    '/nope.Svc/Method',
    '/',
    '//',
    '/etcdserverpb.KV/Range/extra',
    '/etcdserverpb.Maintenance/Status/',
    'etcdserverpb.KV/Range',
    `/${'x'.repeat(rng.pick([100, 4000]))}/y`,
    '/grpc.health.v1.Health/Nope',
    '/grpc.reflection.v1alpha.ServerReflection/Nope',
    '/etcdserverpb.KV/Range%00',
  ]);
  if (known.has(path)) return;
  const body = rng.chance(0.5) ? seedRequest(rng, rng.pick(READ_ONLY)) : rng.bytes(rng.range(0, 32));
  const stream = rng.chance(0.3);
  await send(a, 'unknown-method', {
    headers: grpcHeaders(path),
    writes: [grpcFrame(body)],
    end: !stream,
    waitMs: stream ? 600 : UNARY_WAIT_MS,
    bidi: stream,
  });
}

// ----------------------------------------------------------------------------------- aborting

async function abort(a: Act): Promise<void> {
  const { rng } = a;
  const method = rng.pick(METHOD_NAMES);
  const body = harmless(a, method, seedRequest(rng, method));
  if (body === undefined) return;
  const frame = grpcFrame(body);
  const half = frame.subarray(0, Math.max(1, Math.floor(frame.length / 2)));
  const sub = rng.pick(['half-frame-destroy', 'half-frame-rst', 'rst-after-headers', 'rst-after-full', 'destroy-with-inflight', 'bidi-mid-frame'] as const);
  const cls = `abort/${sub}`;
  const base = { headers: grpcHeaders(METHODS[method].path), end: false, waitMs: 1000 };
  switch (sub) {
    case 'half-frame-destroy': {
      const h = openSession(a.endpoint, a.ctx.tally, cls, a.index, a.ctx.tls);
      await send(a, cls, { ...base, writes: [half], abort: 'destroy' }, h);
      return;
    }
    case 'half-frame-rst':
      await send(a, cls, { ...base, writes: [half], abort: 'rst' });
      return;
    case 'rst-after-headers':
      await send(a, cls, { ...base, writes: [], abort: 'rst' });
      return;
    case 'rst-after-full':
      await send(a, cls, { ...base, writes: [frame], abort: 'rst' });
      return;
    case 'destroy-with-inflight': {
      // Many complete calls in flight, then the TCP connection goes: the server must drop them all.
      const h = openSession(a.endpoint, a.ctx.tally, cls, a.index, a.ctx.tls);
      const n = rng.pick([10, 50, 200]);
      const calls: Promise<string>[] = [];
      let dropped = false;
      for (let k = 0; k < n; k++) {
        const m = rng.pick(METHOD_NAMES);
        const b = harmless(a, m, seedRequest(rng, m));
        if (b !== undefined) calls.push(send(a, cls, { ...callSpec(a, m, [b]), waitMs: 1500, droppedByUs: () => dropped }, h));
      }
      await new Promise((r) => setTimeout(r, rng.range(0, 20)));
      dropped = true;
      h.session.destroy();
      await Promise.all(calls);
      return;
    }
    case 'bidi-mid-frame': {
      const m = rng.pick(['Watch', 'LeaseKeepAlive'] as const);
      const b = harmless(a, m, seedRequest(rng, m));
      if (b === undefined) return;
      const f = grpcFrame(b);
      const useOwn = rng.chance(0.5);
      const h = useOwn ? openSession(a.endpoint, a.ctx.tally, cls, a.index, a.ctx.tls) : session(a, cls);
      await send(a, cls, { headers: grpcHeaders(METHODS[m].path), writes: [f, f.subarray(0, rng.range(1, f.length - 1))], end: false, waitMs: 500, abort: useOwn ? 'destroy' : 'rst', bidi: true }, h);
      return;
    }
  }
}

// ----------------------------------------------------------------------------------- oversize

/** A harmless body of about `size` bytes for the method. */
function bigBody(a: Act, method: MethodName, size: number): Buffer {
  const fill = Buffer.alloc(size, a.rng.int(256));
  switch (method) {
    case 'Put':
      // Over the request limit, and with an unknown lease should the limit be higher.
      return encode('PutRequest', { key: Buffer.from(`${FUZZ_PREFIX}big`), value: fill, lease: '-1' });
    case 'Txn':
      return encode('TxnRequest', { compare: [{ key: Buffer.alloc(0) }], success: [{ request_range: { key: fill } }] });
    case 'Watch':
      return encode('WatchRequest', { create_request: { key: fill } });
    default:
      return encode('RangeRequest', { key: fill, serializable: true });
  }
}

async function oversize(a: Act): Promise<void> {
  const { rng } = a;
  const limit = a.ctx.maxRequestBytes;
  const sub = rng.pick(['over-request-limit', 'over-grpc-limit', 'over-4mib', 'declared-only'] as const);
  const size = sub === 'over-request-limit' ? limit + rng.range(1, 100_000) : sub === 'over-grpc-limit' ? limit + 512 * 1024 + rng.range(1, 200_000) : 4 * MIB + rng.range(1, MIB / 2);
  if (a.shared.oversizeLeft < size) {
    // Out of budget: the same class, cheaply.
    return badFrame(a);
  }
  const method = rng.pick(['Put', 'Range', 'Txn', 'Watch'] as const);
  const cls = `oversize/${sub}/${method}`;
  if (sub === 'declared-only') {
    // Claims 4+ MiB and sends 64 KiB: the limit must hold on the declared size.
    await send(a, cls, { headers: grpcHeaders(METHODS[method].path), writes: [grpcFrame(Buffer.alloc(64 * 1024), 0, size)], end: true, waitMs: UNARY_WAIT_MS, bidi: method === 'Watch' });
    return;
  }
  a.shared.oversizeLeft -= size;
  const body = bigBody(a, method, size);
  if (!safeData(method, grpcFrame(body), a.ctx.etcd34)) {
    a.ctx.tally.skippedUnsafe++;
    return;
  }
  await send(a, cls, { headers: grpcHeaders(METHODS[method].path), writes: [grpcFrame(body)], end: method !== 'Watch', waitMs: method === 'Watch' ? 3000 : 8000, bidi: method === 'Watch' });
}

// -------------------------------------------------------------------------------- compression

let bomb: Buffer | undefined;

async function compressed(a: Act): Promise<void> {
  const { rng } = a;
  // Read-only methods only: a corrupt stream may inflate to anything.
  const method = rng.pick(READ_ONLY);
  const encoding = rng.pick(['gzip', 'deflate'] as const);
  const zip = (b: Buffer): Buffer => (encoding === 'gzip' ? gzipSync(b) : deflateSync(b));
  const sub = rng.pick(['valid', 'corrupt', 'bomb', 'flag-without-zip'] as const);
  let body: Buffer;
  const seed = (): Buffer => harmless(a, method, seedRequest(rng, method)) ?? Buffer.alloc(0);
  if (sub === 'valid') body = zip(seed());
  else if (sub === 'corrupt') body = mutate(rng, zip(seedRequest(rng, method))).bytes;
  else if (sub === 'bomb') {
    // A Range whose unknown field 99 holds 16 MiB of zeros: ~16 KiB on the wire.
    bomb ??= gzipSync(Buffer.concat([encode('RangeRequest', { key: Buffer.from(`${FUZZ_PREFIX}bomb`) }), tag(99, 2), varint(16 * MIB), Buffer.alloc(16 * MIB)]));
    body = bomb;
  } else body = seed();
  const spec = callSpec(a, method, []);
  await send(a, `gzip/${sub}`, {
    ...spec,
    headers: grpcHeaders(METHODS[method].path, { 'grpc-encoding': sub === 'bomb' ? 'gzip' : encoding }),
    writes: [grpcFrame(body, 1)],
  });
}

// ------------------------------------------------------------------------------- raw HTTP/2

const SETTINGS_EMPTY = h2Frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(0));

function setting(id: number, value: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUInt16BE(id, 0);
  b.writeUInt32BE(value >>> 0, 2);
  return b;
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}

async function rawH2(a: Act): Promise<void> {
  const { rng } = a;
  const rangeBody = encode('RangeRequest', { key: Buffer.from(`${FUZZ_PREFIX}raw`), serializable: true });
  const scheme = a.ctx.tls === undefined ? 'http' : 'https';
  const headers = (sid: number, flags: number = FLAG.END_HEADERS): Buffer => h2Frame(FRAME.HEADERS, flags, sid, grpcHeaderBlock(METHODS.Range.path, a.endpoint, scheme));
  const data = (sid: number, flags: number = FLAG.END_STREAM): Buffer => h2Frame(FRAME.DATA, flags, sid, grpcFrame(rangeBody));
  const sub = rng.pick(['garbage', 'http1', 'bad-preface', 'random-frames', 'protocol-error', 'rapid-reset', 'continuation-flood', 'settings-flood', 'ping-flood', 'valid'] as const);
  let chunks: Buffer[];
  let streams = 0;
  switch (sub) {
    case 'garbage':
      chunks = [rng.bytes(rng.range(1, 4096))];
      break;
    case 'http1':
      chunks = [Buffer.from(rng.pick(['GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n', 'GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n', 'HELO\r\n']))];
      break;
    case 'bad-preface': {
      const p = Buffer.from(PREFACE);
      p[rng.int(p.length)] ^= 1 << rng.int(8);
      chunks = [rng.chance(0.5) ? p : PREFACE.subarray(0, rng.range(1, PREFACE.length - 1)), SETTINGS_EMPTY];
      break;
    }
    case 'random-frames': {
      chunks = [PREFACE, SETTINGS_EMPTY];
      for (let k = rng.range(1, 20); k > 0; k--) {
        const payload = rng.bytes(rng.range(0, 100));
        const type = rng.int(13);
        // Random HEADERS blocks are random bytes: they cannot name a write method's path.
        chunks.push(h2Frame(type, rng.int(256), rng.pick([0, 1, 2, 3, rng.u32() & 0x7fffffff, rng.u32()]), payload, rng.chance(0.8) ? payload.length : rng.int(1 << 24)));
        if (type === FRAME.HEADERS) streams++;
      }
      break;
    }
    case 'protocol-error': {
      const bad = rng.pick([
        () => [data(0)], // DATA on stream 0
        () => [headers(2)], // client stream IDs are odd
        () => [headers(5), headers(3)], // stream IDs must increase
        () => [headers(1), h2Frame(FRAME.WINDOW_UPDATE, 0, 1, u32(0))], // zero increment
        () => [h2Frame(FRAME.WINDOW_UPDATE, 0, 0, u32(0x7fffffff)), h2Frame(FRAME.WINDOW_UPDATE, 0, 0, u32(0x7fffffff))], // window overflow
        () => [h2Frame(FRAME.SETTINGS, 0, 0, setting(4, 0x80000000))], // INITIAL_WINDOW_SIZE too big
        () => [h2Frame(FRAME.SETTINGS, 0, 0, setting(5, 100))], // MAX_FRAME_SIZE too small
        () => [h2Frame(FRAME.SETTINGS, 0, 0, setting(2, 7))], // ENABLE_PUSH not 0/1
        () => [h2Frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(5))], // length not a multiple of 6
        () => [h2Frame(FRAME.PING, 0, 0, Buffer.alloc(7))], // PING must be 8 bytes
        () => [h2Frame(FRAME.PRIORITY, 0, 1, Buffer.concat([u32(1), Buffer.from([16])]))], // depends on itself
        () => [h2Frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, hpackLiteral('x', 'y'))], // no HEADERS before
        () => [headers(1), h2Frame(FRAME.DATA, 0, 1, Buffer.alloc(20000))], // frame above 16 KiB
        () => [headers(1), h2Frame(FRAME.DATA, FLAG.PADDED, 1, Buffer.from([200, 1, 2, 3]))], // pad longer than frame
        () => [h2Frame(FRAME.RST_STREAM, 0, 7, u32(8))], // RST on an idle stream
        () => [h2Frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, Buffer.from([0x80]))], // HPACK index 0
        () => [h2Frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, hpackInt(5000, 7, 0x80))], // index out of range
        () => [h2Frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, Buffer.concat([Buffer.from([0x00]), hpackInt(2 ** 30, 7)]))], // huge string length
        () => [h2Frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, Buffer.concat([hpackInt(2 ** 30, 5, 0x20)]))], // table size update too big
        () => [headers(1), h2Frame(FRAME.PUSH_PROMISE, FLAG.END_HEADERS, 1, Buffer.concat([u32(2), hpackLiteral('a', 'b')]))], // clients cannot push
        () => [h2Frame(FRAME.GOAWAY, 0, 0, Buffer.concat([u32(0), u32(0)])), headers(1), data(1)], // request after own GOAWAY
        () => [headers(1, FLAG.END_HEADERS | FLAG.END_STREAM), data(1)], // DATA after END_STREAM
        () => [headers(1), h2Frame(FRAME.DATA, FLAG.END_STREAM, 1, Buffer.alloc(10), 100)], // length lies (connection desyncs)
      ])();
      chunks = [PREFACE, SETTINGS_EMPTY, ...bad];
      streams = bad.filter((f) => f[3] === FRAME.HEADERS).length;
      break;
    }
    case 'rapid-reset': {
      // HEADERS then RST_STREAM at once, many times (CVE-2023-44487's pattern), bounded.
      const n = rng.pick([100, 500, 1000]);
      chunks = [PREFACE, SETTINGS_EMPTY];
      const batch: Buffer[] = [];
      for (let k = 0; k < n; k++) {
        const sid = 2 * k + 1;
        batch.push(headers(sid), h2Frame(FRAME.RST_STREAM, 0, sid, u32(8)));
      }
      chunks.push(Buffer.concat(batch));
      streams = n;
      break;
    }
    case 'continuation-flood': {
      // A header block that never ends (CVE-2024-27316's pattern), bounded to ~1 MiB.
      const n = rng.pick([100, 1000, 10_000]);
      const cont = h2Frame(FRAME.CONTINUATION, 0, 1, hpackLiteral(`x-f${rng.int(10)}`, 'v'.repeat(90)));
      chunks = [PREFACE, SETTINGS_EMPTY, h2Frame(FRAME.HEADERS, 0, 1, grpcHeaderBlock(METHODS.Range.path, a.endpoint, scheme)), Buffer.concat(Array.from({ length: n }, () => cont))];
      streams = 1;
      break;
    }
    case 'settings-flood':
      chunks = [PREFACE, Buffer.concat(Array.from({ length: rng.pick([100, 1000]) }, () => h2Frame(FRAME.SETTINGS, 0, 0, setting(3, rng.range(0, 1000)))))];
      break;
    case 'ping-flood':
      chunks = [PREFACE, SETTINGS_EMPTY, Buffer.concat(Array.from({ length: rng.pick([100, 1000]) }, () => h2Frame(FRAME.PING, 0, 0, rng.bytes(8))))];
      break;
    case 'valid':
      // The control: a well-formed raw request must be answered.
      chunks = [PREFACE, SETTINGS_EMPTY, headers(1), data(1)];
      streams = 1;
      break;
  }
  a.ctx.tally.streams += streams;
  const outcome = await rawExchange(a.endpoint, chunks, rng.range(200, 500), a.ctx.tally, a.ctx.tls);
  a.ctx.tally.add(`raw-h2/${sub}`, outcome, a.index);
}

// ------------------------------------------------------------------------------------- storms

/**
 * Waves of many streams opened at once, each with a live request (a watch on the fuzz prefix,
 * a keep-alive of a lease that cannot exist, or a unary read), then all dropped together. One
 * storm at a time: the other workers go on with small actions meanwhile.
 */
async function storm(a: Act): Promise<void> {
  const { rng } = a;
  // One storm at a time, and none that would run far past the end of the run.
  if (a.shared.stormBusy || a.ctx.endAt - Date.now() < STORM_ANSWER_MS) return mutated(a);
  a.shared.stormBusy = true;
  try {
    const waves = rng.range(1, 3);
    for (let w = 0; w < waves && Date.now() < a.ctx.endAt; w++) {
      const n = rng.pick([500, 1000, STORM_MAX_STREAMS]);
      const method = rng.weighted([['Watch', 3], ['LeaseKeepAlive', 1], ['Range', 1]] as const);
      const drop = rng.pick(['rst-all', 'destroy-sessions', 'half-close'] as const);
      const cls = `storm/${method}/${drop}`;
      const sessions = Array.from({ length: Math.ceil(n / STORM_STREAMS_PER_SESSION) }, () => openSession(a.endpoint, a.ctx.tally, cls, a.index, a.ctx.tls));
      const open: ClientHttp2Stream[] = [];
      const firstAnswer = new Set<number>();
      let answered = 0;
      const calls: Promise<void>[] = [];
      for (let k = 0; k < n; k++) {
        const body =
          method === 'Watch' ? encode('WatchRequest', { create_request: { key: Buffer.from(`${FUZZ_PREFIX}storm/${k}`), watch_id: String(rng.chance(0.1) ? 7 : 0) } })
            : method === 'LeaseKeepAlive' ? encode('LeaseKeepAliveRequest', { ID: String(-1 - k) })
              : encode('RangeRequest', { key: Buffer.from(`${FUZZ_PREFIX}storm/${k}`), serializable: rng.chance(0.5) });
        const spec: StreamSpec = {
          headers: grpcHeaders(METHODS[method].path),
          writes: [grpcFrame(body)],
          end: method === 'Range',
          waitMs: STORM_ANSWER_MS + 4000,
          bidi: true,
          onOpen: (s) => open.push(s),
          // Streams: the first answer (watch created, keep-alive TTL); calls: the status.
          onData: () => {
            if (method !== 'Range' && !firstAnswer.has(k)) (firstAnswer.add(k), answered++);
          },
        };
        calls.push(
          runStream(sessions[k % sessions.length], spec, a.ctx.tally).then((r) => {
            if (method === 'Range' && STATUS_NAMES.includes(r.outcome)) answered++;
            // A status is the server's answer; anything else is our drop, told apart by whether
            // the stream had been answered by then.
            const outcome = STATUS_NAMES.includes(r.outcome) ? r.outcome : r.responses > 0 ? 'dropped-answered' : 'dropped-unanswered';
            a.ctx.tally.add(cls, outcome, a.index, r.detail);
          }),
        );
      }
      // Until (nearly) every stream has its answer, bounded in time.
      const deadline = Date.now() + STORM_ANSWER_MS;
      while (answered < n * 0.95 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      if (answered < n * 0.95) a.ctx.tally.add(cls, 'storm-slow', a.index, `${answered}/${n} answered in ${STORM_ANSWER_MS} ms`);
      if (drop === 'rst-all') {
        for (const s of open) if (!s.closed) s.close(constants.NGHTTP2_CANCEL);
      } else if (drop === 'destroy-sessions') {
        for (const h of sessions) h.session.destroy();
      } else {
        for (const s of open) if (!s.closed && !s.writableEnded) s.end();
      }
      // Half-closed watches may stay open on the server (etcd keeps them): reset the rest.
      setTimeout(() => {
        for (const s of open) if (!s.closed) s.close(constants.NGHTTP2_CANCEL);
      }, 1000).unref();
      await Promise.all(calls);
      for (const h of sessions) h.session.destroy();
    }
  } finally {
    a.shared.stormBusy = false;
  }
}

// --------------------------------------------------------------------------------------- CLI

// node dist/test/robustness/fuzz.js HOST:PORT[,HOST:PORT...] SEED DURATION_MS [ACTION]
// (FUZZ_TLS=CA.pem,CERT.pem,KEY.pem: the endpoints serve TLS; e.g. a --tls run's <out>/tls files)
if (require.main === module) {
  const [eps, seedArg, durArg, actionArg] = process.argv.slice(2);
  const endpoints = (eps ?? '').split(',').filter((e) => e !== '');
  const [caFile, certFile, keyFile] = (process.env.FUZZ_TLS ?? '').split(',').filter((f) => f !== '');
  const files = keyFile !== undefined ? { ca: caFile, cert: certFile, key: keyFile } : undefined;
  const options: FuzzOptions = files !== undefined ? { tls: { ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key), files } } : {};
  const run = actionArg !== undefined ? runFuzzAction(endpoints[0], Number(seedArg), Number(actionArg), options) : runFuzz(endpoints, Number(seedArg ?? 1), Number(durArg ?? 10_000), options);
  run.then((r) => console.log(JSON.stringify(r, null, 2)), (e) => (console.error(e), process.exit(1)));
}
