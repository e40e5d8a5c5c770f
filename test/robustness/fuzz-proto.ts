// The fuzzer's protobuf side: a seeded PRNG, valid etcd requests encoded with protobufjs from
// proto/ (the seeds), byte-level mutators, and the write-safety filter that keeps every request
// the server could decode from changing KV state (see fuzz.ts for why).
import * as protobuf from 'protobufjs';
import { resolve } from 'node:path';

// ------------------------------------------------------------------------------------------ rng

/**
 * sfc32 seeded through splitmix32 from (seed, stream). Every fuzz action draws from its own
 * stream (its index), so action N's input is the same whatever the timing of the others.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    let s = ((seed >>> 0) ^ Math.floor(seed / 2 ** 32)) >>> 0;
    const mix = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s ^ Math.imul(stream + 1, 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
      z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
      return (z ^ (z >>> 15)) >>> 0;
    };
    this.a = mix();
    this.b = mix();
    this.c = mix();
    this.d = mix();
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : Math.floor((this.u32() / 2 ** 32) * n);
  }

  /** Uniform in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }

  weighted<T>(xs: readonly (readonly [T, number])[]): T {
    const total = xs.reduce((n, [, w]) => n + w, 0);
    let r = (this.u32() / 2 ** 32) * total;
    for (const [x, w] of xs) {
      if ((r -= w) < 0) return x;
    }
    return xs[xs.length - 1][0];
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }

  /** A signed 64-bit value from the interesting ones or at random. */
  int64(): bigint {
    if (this.chance(0.6)) return this.pick(INTERESTING_INT64);
    return BigInt.asIntN(64, (BigInt(this.u32()) << 32n) | BigInt(this.u32()));
  }
}

const INTERESTING_INT64: readonly bigint[] = [
  0n, 1n, -1n, 2n, 127n, 128n, 255n, 256n, 0x7fffn, 0x8000n, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn,
  2n ** 53n, 2n ** 53n + 1n, 2n ** 62n, 2n ** 63n - 1n, -(2n ** 63n), -(2n ** 31n), -(2n ** 53n) - 1n,
];

// ----------------------------------------------------------------------------------------- wire

/** A varint of a signed or unsigned 64-bit value (negative: the 10-byte two's complement). */
export function varint(v: bigint | number): Buffer {
  let n = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  while (n >= 0x80n) {
    out.push(Number(n & 0x7fn) | 0x80);
    n >>= 7n;
  }
  out.push(Number(n));
  return Buffer.from(out);
}

export const tag = (field: number, wireType: number): Buffer => varint((BigInt(field) << 3n) | BigInt(wireType));
export const lenField = (field: number, payload: Buffer): Buffer => Buffer.concat([tag(field, 2), varint(payload.length), payload]);
export const varintField = (field: number, v: bigint | number): Buffer => Buffer.concat([tag(field, 0), varint(v)]);

/** One gRPC length-prefixed message: flag byte, 4-byte big-endian length, body. */
export function grpcFrame(body: Buffer, flag = 0, declaredLength = body.length): Buffer {
  const h = Buffer.alloc(5);
  h[0] = flag;
  h.writeUInt32BE(declaredLength >>> 0, 1);
  return Buffer.concat([h, body]);
}

/** The complete messages a server's gRPC deframer would cut out of these DATA bytes, in order. */
export function deframe(data: Buffer): { flag: number; body: Buffer }[] {
  const out: { flag: number; body: Buffer }[] = [];
  let pos = 0;
  while (pos + 5 <= data.length) {
    const len = data.readUInt32BE(pos + 1);
    if (pos + 5 + len > data.length) break;
    out.push({ flag: data[pos], body: data.subarray(pos + 5, pos + 5 + len) });
    pos += 5 + len;
  }
  return out;
}

interface Field {
  field: number;
  wireType: number;
  tagStart: number;
  /** Where the value starts (for LEN: the length varint). */
  valueStart: number;
  /** LEN only: where the payload starts. */
  payloadStart: number;
  end: number;
}

function readVarint(buf: Buffer, pos: number): { value: bigint; end: number } | undefined {
  let v = 0n;
  for (let i = 0; i < 10 && pos + i < buf.length; i++) {
    const byte = buf[pos + i];
    v |= BigInt(byte & 0x7f) << BigInt(7 * i);
    if (byte < 0x80) return { value: v, end: pos + i + 1 };
  }
  return undefined;
}

/**
 * The fields of a message and, recursively, of LEN payloads that parse as messages themselves
 * (bounded depth): the places mutators aim at. Stops quietly at the first malformed byte.
 */
function fields(buf: Buffer, base = 0, depth = 0, out: Field[] = []): Field[] {
  let pos = 0;
  while (pos < buf.length && out.length < 4000) {
    const t = readVarint(buf, pos);
    if (t === undefined || t.value === 0n) break;
    const wireType = Number(t.value & 7n);
    const field = Number(t.value >> 3n);
    const f: Field = { field, wireType, tagStart: base + pos, valueStart: base + t.end, payloadStart: base + t.end, end: 0 };
    let p = t.end;
    if (wireType === 0) {
      const v = readVarint(buf, p);
      if (v === undefined) break;
      p = v.end;
    } else if (wireType === 1) p += 8;
    else if (wireType === 5) p += 4;
    else if (wireType === 2) {
      const l = readVarint(buf, p);
      if (l === undefined || l.end + Number(l.value) > buf.length) break;
      f.payloadStart = base + l.end;
      p = l.end + Number(l.value);
      if (depth < 8 && l.value > 0n) fields(buf.subarray(l.end, p), base + l.end, depth + 1, out);
    } else break;
    if (p > buf.length) break;
    f.end = base + p;
    out.push(f);
    pos = p;
  }
  return out;
}

// -------------------------------------------------------------------------------------- schemas

/** proto/ at the repository root; this file runs from dist/test/robustness/. */
const PROTO_DIR = resolve(__dirname, '../../../proto');
let root: protobuf.Root | undefined;

export function pbType(name: string): protobuf.Type {
  if (root === undefined) {
    root = new protobuf.Root();
    root.resolvePath = (_origin, target) => resolve(PROTO_DIR, target);
    root.loadSync(['etcdserverpb/rpc.proto'], { keepCase: true });
    root.resolveAll();
  }
  return root.lookupType(`etcdserverpb.${name}`);
}

/** Every method path the proto declares: an "unknown method" must be none of them. */
export function knownPaths(): Set<string> {
  pbType('RangeRequest');
  const paths = new Set<string>();
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const obj of ns.nestedArray) {
      if (obj instanceof protobuf.Service) for (const m of obj.methodsArray) paths.add(`/${obj.fullName.slice(1)}/${m.name}`);
      else if (obj instanceof protobuf.Namespace) walk(obj);
    }
  };
  walk(root as protobuf.Root);
  return paths;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

export function encode(typeName: string, obj: Obj): Buffer {
  const t = pbType(typeName);
  return Buffer.from(t.encode(t.fromObject(obj)).finish());
}

/**
 * The methods the fuzzer calls. None of them changes cluster membership, auth, alarms or
 * compaction; the KV and lease writes among them pass the safety filter below.
 */
export const METHODS = {
  Range: { path: '/etcdserverpb.KV/Range', type: 'RangeRequest', stream: false },
  Put: { path: '/etcdserverpb.KV/Put', type: 'PutRequest', stream: false },
  DeleteRange: { path: '/etcdserverpb.KV/DeleteRange', type: 'DeleteRangeRequest', stream: false },
  Txn: { path: '/etcdserverpb.KV/Txn', type: 'TxnRequest', stream: false },
  Watch: { path: '/etcdserverpb.Watch/Watch', type: 'WatchRequest', stream: true },
  LeaseGrant: { path: '/etcdserverpb.Lease/LeaseGrant', type: 'LeaseGrantRequest', stream: false },
  LeaseKeepAlive: { path: '/etcdserverpb.Lease/LeaseKeepAlive', type: 'LeaseKeepAliveRequest', stream: true },
  MemberList: { path: '/etcdserverpb.Cluster/MemberList', type: 'MemberListRequest', stream: false },
  Status: { path: '/etcdserverpb.Maintenance/Status', type: 'StatusRequest', stream: false },
} as const;
export type MethodName = keyof typeof METHODS;
export const METHOD_NAMES = Object.keys(METHODS) as MethodName[];
/** Methods whose every decodable request is harmless: the safe targets of raw and compressed input. */
export const READ_ONLY: readonly MethodName[] = ['Range', 'Watch', 'MemberList', 'Status'];

// ---------------------------------------------------------------------------------------- seeds

/** Keys the fuzzer may write under; the harness keeps them out of its checked key space. */
export const FUZZ_PREFIX = '__fuzz/';
const FUZZ_PREFIX_END = Buffer.from('__fuzz0'); // '/' + 1
/** Leases never exist with a negative ID (etcd keeps generated IDs positive; nobody grants these). */
const BAD_LEASE = -0x66757a7an; // -"fuzz"
/** Above etcd's MaxLeaseTTL (9e9 s): a grant that always fails. */
const MAX_LEASE_TTL = 9_000_000_000n;

function fuzzKey(rng: Rng): Buffer {
  const suffix = rng.chance(0.7) ? Buffer.from(`k${rng.int(50)}`) : rng.bytes(rng.range(0, 24));
  return Buffer.concat([Buffer.from(FUZZ_PREFIX), suffix]);
}

/** Any key at all (for reads): fuzz keys, the test's keys, odd bytes. */
function anyKey(rng: Rng): Buffer {
  return rng.weighted<() => Buffer>([
    [() => fuzzKey(rng), 4],
    [() => Buffer.from(`known/${rng.int(30)}`), 2],
    [() => rng.bytes(rng.range(1, 40)), 2],
    [() => Buffer.from([0]), 1],
    [() => Buffer.alloc(rng.pick([1000, 3000]), rng.int(256)), 1],
    [() => Buffer.alloc(0), 1],
  ])();
}

function prefixEnd(key: Buffer): Buffer {
  const end = Buffer.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function rangeEnd(rng: Rng, key: Buffer): Buffer {
  return rng.weighted<() => Buffer>([
    [() => Buffer.alloc(0), 4],
    [() => Buffer.from([0]), 2],
    [() => prefixEnd(key), 2],
    [() => rng.bytes(rng.range(1, 8)), 1],
  ])();
}

const str = (v: bigint): string => v.toString();

function rangeRequest(rng: Rng): Obj {
  const key = anyKey(rng);
  return {
    key,
    range_end: rangeEnd(rng, key),
    limit: str(rng.chance(0.5) ? 0n : rng.int64()),
    revision: str(rng.chance(0.6) ? 0n : rng.int64()),
    sort_order: rng.pick([0, 1, 2, 3, 99, -1]),
    sort_target: rng.pick([0, 1, 2, 3, 4, 5, -1]),
    serializable: rng.chance(0.5),
    keys_only: rng.chance(0.3),
    count_only: rng.chance(0.3),
    min_mod_revision: str(rng.chance(0.7) ? 0n : rng.int64()),
    max_mod_revision: str(rng.chance(0.7) ? 0n : rng.int64()),
    min_create_revision: str(rng.chance(0.7) ? 0n : rng.int64()),
    max_create_revision: str(rng.chance(0.7) ? 0n : rng.int64()),
  };
}

/** A Put that etcd always refuses: in validation, or in apply (unknown lease, missing key). */
function failingPut(rng: Rng): Obj {
  const key = fuzzKey(rng);
  const value = rng.bytes(rng.range(0, 64));
  const prev_kv = rng.chance(0.3);
  return rng.weighted<() => Obj>([
    [() => ({ key: Buffer.alloc(0), value, prev_kv }), 2],
    [() => ({ key, value: value.length > 0 ? value : Buffer.from('v'), ignore_value: true, prev_kv }), 1],
    [() => ({ key, value, lease: '7', ignore_lease: true, prev_kv }), 1],
    [() => ({ key, value, lease: str(BAD_LEASE - BigInt(rng.int(1000))), prev_kv }), 3],
    [() => ({ key, ignore_value: true, prev_kv }), 1],
    [() => ({ key, value, ignore_lease: true, prev_kv }), 1],
  ])();
}

function deleteRange(rng: Rng): Obj {
  if (rng.chance(0.2)) return { key: Buffer.alloc(0), range_end: rng.bytes(rng.int(4)) };
  const key = fuzzKey(rng);
  return { key, range_end: rng.chance(0.5) ? Buffer.alloc(0) : FUZZ_PREFIX_END, prev_kv: rng.chance(0.5) };
}

function compare(rng: Rng): Obj {
  const c: Obj = {
    result: rng.pick([0, 1, 2, 3, 9, -1]),
    target: rng.pick([0, 1, 2, 3, 4, 7]),
    key: rng.chance(0.08) ? Buffer.alloc(0) : anyKey(rng),
  };
  const which = rng.pick(['version', 'create_revision', 'mod_revision', 'value', 'lease']);
  c[which] = which === 'value' ? rng.bytes(rng.int(8)) : str(rng.int64());
  if (rng.chance(0.2)) c.range_end = rangeEnd(rng, c.key as Buffer);
  return c;
}

function requestOp(rng: Rng, depth: number): Obj {
  return rng.weighted<() => Obj>([
    [() => ({ request_range: rangeRequest(rng) }), 3],
    [() => ({ request_put: failingPut(rng) }), 3],
    [() => ({ request_delete_range: deleteRange(rng) }), 2],
    [() => ({ request_txn: txnRequest(rng, depth + 1) }), depth < 3 ? 1 : 0],
  ])();
}

function txnRequest(rng: Rng, depth = 0): Obj {
  const n = (): number => rng.weighted([[0, 2], [1, 3], [2, 2], [4, 1]] as const);
  return {
    compare: Array.from({ length: n() }, () => compare(rng)),
    success: Array.from({ length: n() }, () => requestOp(rng, depth)),
    failure: Array.from({ length: n() }, () => requestOp(rng, depth)),
  };
}

function watchRequest(rng: Rng): Obj {
  return rng.weighted<() => Obj>([
    [
      () => {
        const key = anyKey(rng);
        return {
          create_request: {
            key,
            range_end: rangeEnd(rng, key),
            start_revision: str(rng.chance(0.6) ? 0n : rng.int64()),
            progress_notify: rng.chance(0.3),
            filters: Array.from({ length: rng.weighted([[0, 4], [1, 2], [2, 1], [5, 1]] as const) }, () => rng.pick([0, 1, 2, 77, -1])),
            prev_kv: rng.chance(0.3),
            watch_id: str(rng.chance(0.5) ? 0n : rng.int64()),
            fragment: rng.chance(0.3),
          },
        };
      },
      6,
    ],
    [() => ({ cancel_request: { watch_id: str(rng.int64()) } }), 2],
    [() => ({ progress_request: {} }), 1],
    [() => ({}), 1],
  ])();
}

/** Valid encoded request for a method; writes among them are ones etcd always refuses. */
export function seedRequest(rng: Rng, method: MethodName): Buffer {
  const type = METHODS[method].type;
  switch (method) {
    case 'Range':
      return encode(type, rangeRequest(rng));
    case 'Put':
      return encode(type, failingPut(rng));
    case 'DeleteRange':
      return encode(type, deleteRange(rng));
    case 'Txn':
      return encode(type, txnRequest(rng));
    case 'Watch':
      return encode(type, watchRequest(rng));
    case 'LeaseGrant':
      return encode(type, { TTL: str(MAX_LEASE_TTL + BigInt(rng.pick([1, 1000, 2 ** 40]))), ID: str(rng.chance(0.5) ? 0n : rng.int64()) });
    case 'LeaseKeepAlive':
      return encode(type, { ID: str(rng.pick([0n, -1n, BAD_LEASE, -(2n ** 63n), -BigInt(rng.u32()) - 1n])) });
    case 'MemberList':
      return encode(type, rng.chance(0.5) ? {} : { linearizable: true });
    case 'Status':
      return Buffer.alloc(0);
  }
}

/**
 * A Txn nested `depth` levels deep (each level: success = [RequestOp{request_txn}]), built from
 * the inside out without recursion so any depth encodes in linear time. The innermost op is a
 * put under the fuzz prefix with an unknown lease (refused), a delete of nothing under the fuzz
 * prefix (applied, changes nothing), a range, or an empty-key range (fails validation). Nothing in it can write: safe by construction, even where
 * the filter's own decoder would run out of stack.
 */
export function deepTxn(rng: Rng, depth: number): Buffer {
  const key = fuzzKey(rng);
  const inner = rng.pick([
    { request_put: { key, value: Buffer.from('deep'), lease: str(BAD_LEASE) } },
    // Deletes nothing (nothing is stored under the prefix), yet is a write: it goes through
    // Raft and is applied on every member.
    { request_delete_range: { key } },
    { request_range: { key } },
    { request_range: { key: Buffer.alloc(0) } },
  ]);
  let body = encode('RequestOp', inner);
  const headers: Buffer[] = [];
  let n = body.length;
  for (let i = 0; i < depth; i++) {
    // TxnRequest{success: [op]} then RequestOp{request_txn: that}.
    const txnHead = Buffer.concat([tag(2, 2), varint(n)]);
    n += txnHead.length;
    const opHead = Buffer.concat([tag(4, 2), varint(n)]);
    n += opHead.length;
    headers.push(txnHead, opHead);
  }
  // The outermost message is a TxnRequest: drop the last RequestOp header.
  headers.pop();
  body = Buffer.concat([...headers.reverse(), body]);
  return body;
}

// ------------------------------------------------------------------------------------- mutators

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x0a, 0x12];

function splice(buf: Buffer, start: number, end: number, insert: Buffer): Buffer {
  return Buffer.concat([buf.subarray(0, start), insert, buf.subarray(end)]);
}

type Mutator = (rng: Rng, buf: Buffer, fs: Field[]) => Buffer;

const MUTATORS: readonly (readonly [string, Mutator, number])[] = [
  ['flip-bit', (rng, b) => {
    if (b.length === 0) return rng.bytes(1);
    const c = Buffer.from(b);
    for (let k = rng.range(1, 3); k > 0; k--) c[rng.int(c.length)] ^= 1 << rng.int(8);
    return c;
  }, 3],
  ['set-byte', (rng, b) => {
    if (b.length === 0) return Buffer.from([rng.pick(INTERESTING_BYTES)]);
    const c = Buffer.from(b);
    c[rng.int(c.length)] = rng.chance(0.5) ? rng.pick(INTERESTING_BYTES) : rng.int(256);
    return c;
  }, 2],
  ['truncate', (rng, b) => b.subarray(0, rng.int(Math.max(1, b.length))), 2],
  ['extend', (rng, b) => Buffer.concat([b, rng.bytes(rng.range(1, 32))]), 2],
  ['insert', (rng, b) => {
    const at = rng.int(b.length + 1);
    return splice(b, at, at, rng.bytes(rng.range(1, 8)));
  }, 1],
  ['delete-chunk', (rng, b) => {
    if (b.length < 2) return b;
    const at = rng.int(b.length);
    return splice(b, at, Math.min(b.length, at + rng.range(1, 8)), Buffer.alloc(0));
  }, 1],
  ['duplicate-field', (rng, b, fs) => {
    if (fs.length === 0) return Buffer.concat([b, b]);
    const f = rng.pick(fs);
    return splice(b, f.end, f.end, b.subarray(f.tagStart, f.end));
  }, 2],
  ['change-length', (rng, b, fs) => {
    const lens = fs.filter((f) => f.wireType === 2);
    if (lens.length === 0) return Buffer.concat([b, tag(1, 2), varint(rng.pick([1000, 2 ** 31, 2 ** 32 - 1]))]);
    const f = rng.pick(lens);
    const len = f.end - f.payloadStart;
    const next = rng.pick([len + 1, len + rng.range(2, 100), Math.max(0, len - 1), 0, 2 ** 31, 2 ** 32 - 1, 2 ** 35]);
    // Non-minimal encodings of a length are legal protobuf but unusual.
    const enc = rng.chance(0.2) ? Buffer.concat([varint(next).map((x) => x | 0x80), Buffer.from([0])]) : varint(next);
    return splice(b, f.valueStart, f.payloadStart, enc);
  }, 3],
  ['wrong-wire-type', (rng, b, fs) => {
    if (fs.length === 0) return Buffer.concat([b, tag(rng.range(1, 15), rng.int(8))]);
    const f = rng.pick(fs);
    let wt = rng.int(8);
    if (wt === f.wireType) wt = (wt + 1) & 7;
    return splice(b, f.tagStart, f.valueStart, tag(f.field, wt));
  }, 3],
  ['huge-varint', (rng, b, fs) => {
    const v = rng.pick([
      varint(-1n), // max uint64: 10 bytes
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), // 11 bytes: invalid
      Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), // zero, non-minimal
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]), // > 2^32
      Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80]), // never ends
    ]);
    const vs = fs.filter((f) => f.wireType === 0);
    if (vs.length === 0 || rng.chance(0.2)) return Buffer.concat([b, tag(rng.range(1, 13), 0), v]);
    const f = rng.pick(vs);
    return splice(b, f.valueStart, f.end, v);
  }, 3],
  ['unknown-field', (rng, b) => {
    const field = rng.pick([0, 14, 99, 1000, 2 ** 29 - 1, 2 ** 29, rng.range(1, 20)]);
    const wt = rng.int(8);
    const payload =
      wt === 0 ? varint(rng.int64()) : wt === 1 ? rng.bytes(8) : wt === 5 ? rng.bytes(4) : wt === 2 ? Buffer.concat([varint(6), rng.bytes(6)])
        : wt === 3 ? Buffer.concat([rng.bytes(rng.int(4)), rng.chance(0.5) ? tag(field, 4) : Buffer.alloc(0)]) : Buffer.alloc(0);
    const at = rng.chance(0.5) ? b.length : rng.int(b.length + 1);
    return splice(b, at, at, Buffer.concat([tag(field, wt), payload]));
  }, 2],
  ['swap-fields', (rng, b, fs) => {
    if (fs.length < 2) return b;
    const [x, y] = [rng.pick(fs), rng.pick(fs)].sort((p, q) => p.tagStart - q.tagStart);
    if (x.end > y.tagStart) return b;
    return Buffer.concat([b.subarray(0, x.tagStart), b.subarray(y.tagStart, y.end), b.subarray(x.end, y.tagStart), b.subarray(x.tagStart, x.end), b.subarray(y.end)]);
  }, 1],
  ['nest-deeper', (rng, b, fs) => {
    // Wraps a message field's payload in itself again: deeper nesting of the same shape.
    const lens = fs.filter((f) => f.wireType === 2 && f.end > f.payloadStart);
    if (lens.length === 0) return b;
    const f = rng.pick(lens);
    const inner = b.subarray(f.tagStart, f.end);
    let wrapped = inner;
    for (let k = rng.range(1, 20); k > 0; k--) wrapped = Buffer.concat([tag(f.field, 2), varint(wrapped.length), wrapped]);
    return splice(b, f.tagStart, f.end, wrapped);
  }, 1],
];

/** 1..4 mutations; returns the bytes and the mutators' names (for the report). */
export function mutate(rng: Rng, input: Buffer): { bytes: Buffer; ops: string[] } {
  let b = input;
  const ops: string[] = [];
  for (let k = rng.weighted([[1, 5], [2, 3], [3, 1], [4, 1]] as const); k > 0; k--) {
    const [name, fn] = rng.weighted(MUTATORS.map(([n, f, w]) => [[n, f] as const, w] as const));
    b = fn(rng, b, fields(b));
    ops.push(name);
    // Mutations never grow a message without bound.
    if (b.length > 64 * 1024) b = b.subarray(0, 64 * 1024);
  }
  return { bytes: b, ops };
}

// --------------------------------------------------------------------------------- safety filter

type Decoded = { ok: true; msg: Obj } | { ok: false; tooDeep: boolean };

function decode(typeName: string, body: Buffer): Decoded {
  try {
    const t = pbType(typeName);
    return { ok: true, msg: t.toObject(t.decode(body), { longs: String, enums: Number, bytes: Buffer, defaults: true, oneofs: true }) };
  } catch (e) {
    // Out of stack here says nothing about a server with another stack (or Go's growing one).
    return { ok: false, tooDeep: e instanceof RangeError && /call stack/i.test(e.message) };
  }
}

const isEmpty = (b: Buffer | undefined): boolean => b === undefined || b.length === 0;
const inFuzz = (key: Buffer): boolean => key.length >= FUZZ_PREFIX.length && key.subarray(0, FUZZ_PREFIX.length).equals(Buffer.from(FUZZ_PREFIX));

/** [key, end) lies inside the fuzz prefix (end empty: the key alone; [0]: "to the end" is not). */
function rangeInFuzz(key: Buffer, end: Buffer): boolean {
  if (!inFuzz(key)) return false;
  if (end.length === 0) return true;
  if (end.length === 1 && end[0] === 0) return false;
  return Buffer.compare(end, FUZZ_PREFIX_END) <= 0;
}

/** etcd's request checks (v3rpc/key.go) that refuse a Put before it reaches Raft. */
function putInvalid(p: Obj): boolean {
  return isEmpty(p.key) || (p.ignore_value && !isEmpty(p.value)) || (p.ignore_lease && BigInt(p.lease) !== 0n);
}

/**
 * A put that passes validation but fails when applied: its lease cannot exist, or it asks to
 * keep a previous value that is not there (nothing is ever stored under the fuzz prefix).
 */
function putApplyFails(p: Obj): boolean {
  if (!inFuzz(p.key)) return false;
  return (!p.ignore_lease && BigInt(p.lease) < 0n) || p.ignore_value || p.ignore_lease;
}

/** Every write in every branch at every depth is harmless (see putApplyFails / rangeInFuzz). */
function txnHarmless(t: Obj): boolean {
  for (const op of [...(t.success as Obj[]), ...(t.failure as Obj[])]) {
    // A nested put etcd's validation refuses is harmless only where that refusal is certain
    // (an empty key) or the key is the fuzzer's own anyway.
    const p = op.request_put;
    if (p && !(putApplyFails(p) || isEmpty(p.key) || (putInvalid(p) && inFuzz(p.key)))) return false;
    if (op.request_delete_range && !(isEmpty(op.request_delete_range.key) || rangeInFuzz(op.request_delete_range.key, op.request_delete_range.range_end))) return false;
    if (op.request_txn && !txnHarmless(op.request_txn)) return false;
  }
  return true;
}

/** Top-level checks etcd does before Raft that refuse the whole txn. */
function txnInvalid(t: Obj): boolean {
  if ((t.compare as Obj[]).some((c) => isEmpty(c.key))) return true;
  return [...(t.success as Obj[]), ...(t.failure as Obj[])].some(
    (op) => (op.request_range && isEmpty(op.request_range.key)) || (op.request_put && putInvalid(op.request_put)) || (op.request_delete_range && isEmpty(op.request_delete_range.key)),
  );
}

/**
 * etcd 3.4 does not validate sort_target: a Range (or a txn's range) with one outside the enum
 * sorts with a nil sorter and the whole server panics (etcdserver/apply.go; 3.5 answers
 * INVALID_ARGUMENT "invalid sort option", as etcd-ts does). With `etcd34` such input is not
 * sent, so a run against real etcd 3.4 can check this fuzzer's expectations at all.
 */
function badSortTarget(r: Obj): boolean {
  return !(r.sort_target >= 0 && r.sort_target <= 4);
}

function txnHasBadSort(t: Obj): boolean {
  return [...(t.success as Obj[]), ...(t.failure as Obj[])].some((op) => (op.request_range && badSortTarget(op.request_range)) || (op.request_txn && txnHasBadSort(op.request_txn)));
}

/**
 * Whether the server may be sent this body as a request to `method`: true when no decoding of
 * it can change KV or lease state. Undecodable bodies are safe: the server decodes with the
 * same protobufjs (etcd-ts) or Go's stricter decoder (etcd), which refuses at least as much.
 */
export function safeBody(method: MethodName, body: Buffer, etcd34 = false): boolean {
  if (READ_ONLY.includes(method) && !(etcd34 && method === 'Range')) return true;
  const d = decode(METHODS[method].type, body);
  if (!d.ok) return !d.tooDeep;
  const m = d.msg;
  switch (method) {
    case 'Range':
      return !badSortTarget(m);
    case 'Put':
      return putInvalid(m) || putApplyFails(m);
    case 'DeleteRange':
      return isEmpty(m.key) || rangeInFuzz(m.key, m.range_end);
    case 'Txn':
      if (txnInvalid(m)) return true;
      return txnHarmless(m) && !(etcd34 && txnHasBadSort(m));
    case 'LeaseGrant':
      return BigInt(m.TTL) > MAX_LEASE_TTL;
    case 'LeaseKeepAlive':
      // Renewing a lease that exists would keep a harness lease alive.
      return BigInt(m.ID) <= 0n;
    default:
      return false;
  }
}

/**
 * Appends a field that makes an unsafe body safe again (protobuf: the last value of a scalar
 * wins, an extra repeated element is added): an empty key, an empty-key compare, an unknown
 * lease, a too-long TTL. Returns undefined if it still is not safe.
 */
export function makeSafe(rng: Rng, method: MethodName, body: Buffer, etcd34 = false): Buffer | undefined {
  if (safeBody(method, body, etcd34)) return body;
  const fixes: Buffer[] = [];
  switch (method) {
    case 'Range':
      fixes.push(varintField(6, 0));
      break;
    case 'Put':
      fixes.push(
        rng.chance(0.5)
          ? lenField(1, Buffer.alloc(0))
          : Buffer.concat([lenField(1, fuzzKey(rng)), varintField(3, BAD_LEASE), varintField(5, 0), varintField(6, 0)]),
      );
      break;
    case 'DeleteRange':
      fixes.push(lenField(1, Buffer.alloc(0)));
      break;
    case 'Txn':
      fixes.push(lenField(1, Buffer.alloc(0)));
      break;
    case 'LeaseGrant':
      fixes.push(varintField(1, MAX_LEASE_TTL * 1000n));
      break;
    case 'LeaseKeepAlive':
      fixes.push(varintField(1, BAD_LEASE));
      break;
    default:
      return undefined;
  }
  const fixed = Buffer.concat([body, ...fixes]);
  return safeBody(method, fixed, etcd34) ? fixed : undefined;
}

/** Every complete message the server could cut from these DATA bytes is safe for the method. */
export function safeData(method: MethodName, data: Buffer, etcd34 = false): boolean {
  return deframe(data).every((m) => safeBody(method, m.body, etcd34));
}
