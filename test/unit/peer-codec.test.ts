// The peer wire codec (src/peer/codec.ts, hand-written protobuf): random batches survive a round
// trip; its bytes and protobufjs's (the codec it replaced, on proto/etcdtspb/raft.proto) read the
// same either way, and are byte-identical to protobufjs's once protobufjs is given only the
// non-default fields (protobufjs also writes zeros, false and an empty context, which this codec
// omits as proto3 allows); unknown fields are skipped by wire type; malformed input of any kind
// throws the codec's Error (never a RangeError or TypeError, never a hang); a number field beyond
// 2^53 throws instead of losing precision; values are views of the input only when the input's
// memory is the batch's payload, and copies otherwise.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import * as protobuf from 'protobufjs';
import { PROTO_DIR } from '../../src/pb/load';
import { decodeBatch, encodeBatch, type MessageBatch } from '../../src/peer/codec';
import { MessageType, type EntryType, type Message } from '../../src/raft/types';
import { Prng } from '../robustness/prng';

// ---- the protobufjs codec this one replaced (as src/peer/codec.ts had it) ------------------------

const root = new protobuf.Root();
root.loadSync(resolve(PROTO_DIR, 'etcdtspb/raft.proto'), { keepCase: true });
const T = root.lookupType('etcdtspb.RaftMessageBatch');
const TO_OBJECT: protobuf.IConversionOptions = { longs: String, bytes: Buffer, defaults: true, arrays: true };

interface WireMessage {
  type: string;
  from: string;
  to: string;
  term: string;
  log_term: string;
  index: string;
  entries: { term: string; index: string; type: number; data: Buffer }[];
  commit: string;
  reject: boolean;
  reject_hint: string;
  context: Buffer;
  snapshot_index: string;
  snapshot_term: string;
}

function pbEncode(b: MessageBatch): Buffer {
  const obj = {
    cluster_id: b.clusterId,
    from: b.from,
    messages: b.messages.map((m) => ({
      type: m.type,
      from: m.from,
      to: m.to,
      term: m.term,
      log_term: m.logTerm,
      index: m.index,
      entries: m.entries.map((e) => ({ term: e.term, index: e.index, type: e.type, data: e.data })),
      commit: m.commit,
      reject: m.reject,
      reject_hint: m.rejectHint,
      context: m.context ?? Buffer.alloc(0),
      snapshot_index: m.snapshot?.index ?? 0,
      snapshot_term: m.snapshot?.term ?? 0,
    })),
  };
  return Buffer.from(T.encode(T.fromObject(obj)).finish());
}

function pbDecode(buf: Buffer): MessageBatch {
  const o = T.toObject(T.decode(buf), TO_OBJECT) as { cluster_id: string; from: string; messages: WireMessage[] };
  return {
    clusterId: o.cluster_id,
    from: o.from,
    messages: o.messages.map((m) => ({
      type: m.type as MessageType,
      from: m.from,
      to: m.to,
      term: Number(m.term),
      logTerm: Number(m.log_term),
      index: Number(m.index),
      entries: m.entries.map((e) => ({ term: Number(e.term), index: Number(e.index), type: e.type as EntryType, data: e.data })),
      commit: Number(m.commit),
      reject: m.reject,
      rejectHint: Number(m.reject_hint),
      context: m.context.length > 0 ? m.context : undefined,
      snapshot: Number(m.snapshot_index) > 0 ? { index: Number(m.snapshot_index), term: Number(m.snapshot_term) } : undefined,
    })),
  };
}

/** protobufjs's encoding of the same batch given only its non-default fields (proto3's minimal form). */
function pbEncodeMinimal(b: MessageBatch): Buffer {
  const set = (o: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) {
      if (v === undefined || v === 0 || v === '0' || v === false || v === '') continue;
      if (Buffer.isBuffer(v) && v.length === 0) continue;
      out[k] = v;
    }
    return out;
  };
  const obj = set({
    cluster_id: b.clusterId,
    from: b.from,
    messages: b.messages.map((m) =>
      set({
        type: m.type,
        from: m.from,
        to: m.to,
        term: m.term,
        log_term: m.logTerm,
        index: m.index,
        entries: m.entries.map((e) => set({ term: e.term, index: e.index, type: e.type, data: e.data })),
        commit: m.commit,
        reject: m.reject,
        reject_hint: m.rejectHint,
        context: m.context,
        snapshot_index: m.snapshot?.index,
        snapshot_term: m.snapshot?.term,
      }),
    ),
  });
  return Buffer.from(T.encode(T.fromObject(obj)).finish());
}

// ---- random batches ----------------------------------------------------------------------------


const TYPES = Object.values(MessageType) as string[];
const ID_EDGES = ['0', '1', '127', '128', '9007199254740991', '9007199254740992', '9007199254740993', '9223372036854775808', '18446744073709551615', '14841639068965178418'];
const NUMBER_EDGES = [0, 1, 127, 128, 16383, 16384, 2 ** 28 - 1, 2 ** 28, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 35, 2 ** 49, Number.MAX_SAFE_INTEGER];

class Gen {
  readonly r: () => number;
  constructor(seed: number) {
    // Seeded: a failure reproduces.
    const prng = new Prng(seed);
    this.r = () => prng.next();
  }
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  /** A uint64 as canonical decimal text: edges, small, or any 64-bit value. */
  id(): string {
    const k = this.int(4);
    if (k === 0) return ID_EDGES[this.int(ID_EDGES.length)];
    if (k === 1) return String(this.int(1000));
    return ((BigInt(this.int(2 ** 32)) << 32n) | BigInt(this.int(2 ** 32))).toString();
  }
  /** A number in [0, 2^53 - 1]: edges, small, or any. */
  num(): number {
    const k = this.int(4);
    if (k === 0) return NUMBER_EDGES[this.int(NUMBER_EDGES.length)];
    if (k === 1) return this.int(300);
    return this.int(2 ** 21) * 2 ** 32 + this.int(2 ** 32);
  }
  message(): Message {
    const type = this.int(20) === 0 ? ['', 'x', 'nötig', 'appResp2'][this.int(4)] : TYPES[this.int(TYPES.length)];
    const entries = Array.from({ length: this.int(21) }, () => ({
      term: this.num(),
      index: this.num(),
      type: (this.int(10) === 0 ? [2, 255, 2 ** 32 - 1][this.int(3)] : this.int(2)) as EntryType,
      data: this.bytes(this.int(5) === 0 ? 0 : this.int(2001)),
    }));
    // Sometimes un-normalised on the way in (an empty context, a snapshot at index 0): the codec
    // reads them back as the protobufjs codec did (undefined).
    const c = this.int(4);
    const context = c === 0 ? this.bytes(1 + this.int(16)) : c === 1 ? Buffer.alloc(0) : undefined;
    const s = this.int(4);
    const snapshot = s === 0 ? { index: Math.min(1 + this.num(), Number.MAX_SAFE_INTEGER), term: this.num() } : s === 1 ? { index: 0, term: this.num() } : undefined;
    return {
      type: type as MessageType,
      from: this.id(),
      to: this.id(),
      term: this.num(),
      logTerm: this.num(),
      index: this.num(),
      entries,
      commit: this.num(),
      reject: this.int(2) === 0,
      rejectHint: this.num(),
      context,
      snapshot,
    };
  }
  batch(maxMessages = 4): MessageBatch {
    return { clusterId: this.id(), from: this.id(), messages: Array.from({ length: this.int(maxMessages + 1) }, () => this.message()) };
  }
}

/** A batch as decoding gives it back: no empty context, no snapshot at index 0, every key present. */
function normalise(b: MessageBatch): MessageBatch {
  return {
    clusterId: b.clusterId,
    from: b.from,
    messages: b.messages.map((m) => ({
      type: m.type,
      from: m.from,
      to: m.to,
      term: m.term,
      logTerm: m.logTerm,
      index: m.index,
      entries: m.entries.map((e) => ({ term: e.term, index: e.index, type: e.type, data: e.data })),
      commit: m.commit,
      reject: m.reject,
      rejectHint: m.rejectHint,
      context: m.context !== undefined && m.context.length > 0 ? m.context : undefined,
      snapshot: m.snapshot !== undefined && m.snapshot.index > 0 ? { index: m.snapshot.index, term: m.snapshot.term } : undefined,
    })),
  };
}

/** bytes placed inside a buffer more than twice their size (as a frame among others in one socket read). */
function inLarger(bytes: Buffer): Buffer {
  const big = Buffer.allocUnsafeSlow(2 * bytes.length + 4096);
  big.fill(0xee);
  bytes.copy(big, 2000);
  return big.subarray(2000, 2000 + bytes.length);
}

// ---- a tiny wire writer for hand-made input ------------------------------------------------------

function varint(v: bigint | number): number[] {
  let n = BigInt(v);
  const out: number[] = [];
  while (n >= 0x80n) {
    out.push(Number(n & 0x7fn) | 0x80);
    n >>= 7n;
  }
  out.push(Number(n));
  return out;
}
const tag = (field: number, wt: number): number[] => varint((field << 3) | wt);
const vfield = (field: number, v: bigint | number): number[] => [...tag(field, 0), ...varint(v)];
const lfield = (field: number, body: number[] | Buffer): number[] => [...tag(field, 2), ...varint(body.length), ...body];

/** Asserts decodeBatch throws the codec's Error (not a RangeError, TypeError or anything else). */
function assertCodecError(buf: Buffer, what: string): void {
  assert.throws(
    () => decodeBatch(buf),
    (err: unknown) => err instanceof Error && !(err instanceof RangeError) && !(err instanceof TypeError) && err.message.startsWith('peer codec: '),
    what,
  );
}

/** Decodes or throws the codec's Error; anything else fails. */
function decodeOrCodecError(buf: Buffer, what: string): void {
  try {
    decodeBatch(buf);
  } catch (err) {
    if (!(err instanceof Error) || err instanceof RangeError || err instanceof TypeError || !err.message.startsWith('peer codec: ')) {
      assert.fail(`${what}: threw ${String(err)}`);
    }
  }
}

describe('peer codec', { timeout: 120_000 }, () => {
  test('random batches survive a round trip, from their own buffer (views) and from inside a larger one (copies)', () => {
    const g = new Gen(1);
    for (let i = 0; i < 3000; i++) {
      const b = g.batch();
      const want = normalise(b);
      const bytes = encodeBatch(b);
      assert.deepStrictEqual(decodeBatch(bytes), want, `batch ${i}`);
      assert.deepStrictEqual(decodeBatch(inLarger(bytes)), want, `batch ${i} inside a larger buffer`);
    }
  });

  test('protobufjs reads the bytes as it reads its own, and the codec reads protobufjs bytes', () => {
    const g = new Gen(2);
    for (let i = 0; i < 1500; i++) {
      const b = g.batch();
      const want = normalise(b);
      const ours = encodeBatch(b);
      const theirs = pbEncode(b);
      // protobufjs decoding our bytes: the same raw values (every field, defaults filled in) as its own bytes give.
      assert.deepStrictEqual(T.toObject(T.decode(ours), TO_OBJECT), T.toObject(T.decode(theirs), TO_OBJECT), `batch ${i}: protobufjs values`);
      assert.deepStrictEqual(pbDecode(ours), want, `batch ${i}: the old decoder on new bytes`);
      // Ours decoding protobufjs's bytes.
      assert.deepStrictEqual(decodeBatch(theirs), want, `batch ${i}: the new decoder on protobufjs bytes`);
      // Not byte-identical (protobufjs writes default values, we omit them), but identical to
      // protobufjs given only the non-default fields, and never longer.
      assert.ok(ours.length <= theirs.length, `batch ${i}: ${ours.length} > ${theirs.length}`);
      assert.deepStrictEqual(ours, pbEncodeMinimal(b), `batch ${i}: bytes`);
    }
  });

  test('an example batch decodes with every key of the protobufjs codec, in its order', () => {
    const b: MessageBatch = {
      clusterId: '14841639068965178418',
      from: '10276657743932975437',
      messages: [
        { type: MessageType.App, from: '10276657743932975437', to: '2', term: 3, logTerm: 3, index: 9, entries: [{ term: 3, index: 10, type: 0 as EntryType, data: Buffer.from('x') }], commit: 8, reject: false, rejectHint: 0 },
        { type: MessageType.Heartbeat, from: '10276657743932975437', to: '2', term: 3, logTerm: 0, index: 0, entries: [], commit: 8, reject: false, rejectHint: 0, context: Buffer.from('ctx') },
        { type: MessageType.Snap, from: '10276657743932975437', to: '2', term: 3, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, snapshot: { index: 100, term: 2 } },
      ],
    };
    const got = decodeBatch(encodeBatch(b));
    const old = pbDecode(pbEncode(b));
    assert.deepStrictEqual(got, old);
    for (let i = 0; i < got.messages.length; i++) assert.deepStrictEqual(Object.keys(got.messages[i]), Object.keys(old.messages[i]));
    assert.deepStrictEqual(Object.keys(got), Object.keys(old));
  });

  test('unknown fields of every wire type are skipped, at every level', () => {
    const unknown = [
      ...vfield(100, 2n ** 64n - 1n), // varint, 10 bytes
      ...tag(101, 1), 1, 2, 3, 4, 5, 6, 7, 8, // fixed64
      ...lfield(102, Buffer.alloc(300, 9)), // length-delimited
      ...tag(103, 5), 1, 2, 3, 4, // fixed32
      ...tag(104, 3), ...vfield(1, 5), ...tag(105, 3), ...lfield(2, [1, 2]), ...tag(105, 4), ...tag(104, 4), // nested groups
    ];
    const entry = [...unknown, ...vfield(1, 3), ...unknown, ...vfield(2, 10), ...vfield(3, 1), ...lfield(4, Buffer.from('data')), ...unknown];
    const message = [...unknown, ...lfield(1, Buffer.from('app')), ...vfield(2, 7), ...unknown, ...vfield(3, 8), ...vfield(4, 3), ...lfield(7, entry), ...unknown, ...vfield(8, 9), ...unknown];
    const batch = Buffer.from([...unknown, ...vfield(1, 42), ...unknown, ...vfield(2, 7), ...lfield(3, message), ...unknown]);
    const want: MessageBatch = {
      clusterId: '42',
      from: '7',
      messages: [{ type: MessageType.App, from: '7', to: '8', term: 3, logTerm: 0, index: 0, entries: [{ term: 3, index: 10, type: 1 as EntryType, data: Buffer.from('data') }], commit: 9, reject: false, rejectHint: 0, context: undefined, snapshot: undefined }],
    };
    assert.deepStrictEqual(decodeBatch(batch), want);
    assert.deepStrictEqual(pbDecode(batch), want); // protobufjs agrees
  });

  test('fields repeated on the wire: the last one wins (messages and entries accumulate)', () => {
    const buf = Buffer.from([...vfield(1, 1), ...vfield(1, 2), ...lfield(3, [...vfield(4, 5), ...vfield(4, 6), ...lfield(11, [1]), ...lfield(11, [2, 3])]), ...lfield(3, [])]);
    const got = decodeBatch(buf);
    assert.deepStrictEqual(got, pbDecode(buf));
    assert.equal(got.clusterId, '2');
    assert.equal(got.messages.length, 2);
    assert.equal(got.messages[0].term, 6);
    assert.deepStrictEqual(got.messages[0].context, Buffer.from([2, 3]));
  });

  test('every truncation of a real batch decodes or throws the codec Error', () => {
    const g = new Gen(3);
    for (let round = 0; round < 5; round++) {
      let b = g.batch(6);
      while (b.messages.length < 3) b = g.batch(6);
      b.messages[0].context = Buffer.from('context');
      b.messages[1].snapshot = { index: 2 ** 40, term: 7 };
      b.messages[2].entries.push({ term: 2 ** 50, index: 2 ** 33, type: 1 as EntryType, data: Buffer.alloc(200, 1) });
      const bytes = encodeBatch(b);
      for (let n = 0; n < bytes.length; n++) {
        // Both a copy of exactly the prefix (reads past it would run off the buffer) and a view of it.
        decodeOrCodecError(Buffer.from(bytes.subarray(0, n)), `prefix ${n}`);
        decodeOrCodecError(bytes.subarray(0, n), `prefix ${n} (view)`);
      }
      // A cut inside the first message (its length prefix now runs past the end) must throw.
      assertCodecError(bytes.subarray(0, bytes.length - 1), 'last byte cut');
    }
  });

  test('random garbage and mutated batches decode or throw the codec Error, never hang', () => {
    const g = new Gen(4);
    for (let i = 0; i < 20_000; i++) decodeOrCodecError(g.bytes(g.int(200)), `garbage ${i}`);
    const real = encodeBatch(g.batch(3));
    for (let i = 0; i < 20_000; i++) {
      const m = Buffer.from(real);
      for (let k = 1 + g.int(4); k > 0; k--) m[g.int(m.length)] = g.int(256);
      decodeOrCodecError(m, `mutation ${i}`);
    }
  });

  test('malformed input throws: wrong wire types, bad lengths, long varints, stray groups, field 0', () => {
    const cases: [string, number[]][] = [
      ['cluster_id as length-delimited', [...lfield(1, [1])]],
      ['from as fixed64', [...tag(2, 1), 0, 0, 0, 0, 0, 0, 0, 0]],
      ['messages as varint', [...vfield(3, 1)]],
      ['message type as varint', [...lfield(3, vfield(1, 1))]],
      ['term as length-delimited', [...lfield(3, lfield(4, [1]))]],
      ['reject as fixed32', [...lfield(3, [...tag(9, 5), 1, 0, 0, 0])]],
      ['entries as varint', [...lfield(3, vfield(7, 1))]],
      ['entry data as varint', [...lfield(3, lfield(7, vfield(4, 1)))]],
      ['entry term as fixed64', [...lfield(3, lfield(7, [...tag(1, 1), 0, 0, 0, 0, 0, 0, 0, 0]))]],
      ['context as varint', [...lfield(3, vfield(11, 1))]],
      ['length past the end', [...tag(3, 2), 10, 1, 2]],
      ['nested length past its message', [...tag(3, 2), 3, ...tag(7, 2), 5, 0, 0, 0, 0, 0, 0]],
      ['varint crossing its message end', [...tag(3, 2), 2, ...tag(4, 0), 0xff, 0x01]],
      ['fixed64 crossing its message end', [...tag(3, 2), 3, ...tag(50, 1), 0, 0, 0, 0, 0, 0, 0, 0]],
      ['huge length', [...tag(3, 2), ...varint(2n ** 40n), 0]],
      ['11-byte varint', [...tag(1, 0), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]],
      ['11-byte tag', [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]],
      ['truncated varint', [...tag(1, 0), 0xff]],
      ['truncated fixed64', [...tag(50, 1), 1, 2, 3]],
      ['truncated fixed32', [...tag(50, 5), 1, 2, 3]],
      ['wire type 6', [...tag(50, 6), 0]],
      ['wire type 7', [...tag(50, 7), 0]],
      ['end group without start', [...tag(50, 4)]],
      ['group never closed', [...tag(50, 3), ...vfield(1, 1)]],
      ['group closed by another field number', [...tag(50, 3), ...tag(51, 4)]],
      ['field number 0', [...vfield(0, 1)]],
      ['field number 0 in a message', [...lfield(3, vfield(0, 1))]],
      ['field number 0 in an entry', [...lfield(3, lfield(7, vfield(0, 1)))]],
    ];
    for (const [what, bytes] of cases) assertCodecError(Buffer.from(bytes), what);
    // Every known field, at every level, with each wire type but its own.
    const payload = (field: number, wt: number): number[] => {
      if (wt === 0) return vfield(field, 1);
      if (wt === 1) return [...tag(field, 1), 1, 0, 0, 0, 0, 0, 0, 0];
      if (wt === 2) return lfield(field, []);
      if (wt === 3) return [...tag(field, 3), ...tag(field, 4)];
      return [...tag(field, 5), 1, 0, 0, 0];
    };
    const levels: [string, number[], (body: number[]) => number[]][] = [
      ['batch', [0, 0, 2], (body) => body],
      ['message', [2, 0, 0, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0], (body) => lfield(3, body)],
      ['entry', [0, 0, 0, 2], (body) => lfield(3, lfield(7, body))],
    ];
    for (const [level, types, wrap] of levels) {
      types.forEach((own, k) => {
        for (const wt of [0, 1, 2, 3, 5]) {
          if (wt === own) continue;
          assertCodecError(Buffer.from(wrap(payload(k + 1, wt))), `${level} field ${k + 1} with wire type ${wt}`);
        }
        // ... and with its own it decodes.
        decodeBatch(Buffer.from(wrap(payload(k + 1, own))));
      });
    }
    // Deeply nested groups are skipped without recursion.
    const deep = Buffer.from([...Array.from({ length: 100_000 }, () => tag(50, 3)).flat(), ...Array.from({ length: 100_000 }, () => tag(50, 4)).flat(), ...vfield(1, 5)]);
    assert.equal(decodeBatch(deep).clusterId, '5');
  });

  test('a number field beyond 2^53 throws; 2^53 itself decodes exactly', () => {
    const msg = (o: Record<string, unknown>): Buffer => Buffer.from(T.encode(T.fromObject({ cluster_id: '1', messages: [{ type: 'app', ...o }] })).finish());
    // Each number field: how to write it (protobufjs, from decimal text) and where it decodes to.
    const fields: [string, (v: string) => Buffer, (m: Message) => number | undefined][] = [
      ['term', (v) => msg({ term: v }), (m) => m.term],
      ['log_term', (v) => msg({ log_term: v }), (m) => m.logTerm],
      ['index', (v) => msg({ index: v }), (m) => m.index],
      ['commit', (v) => msg({ commit: v }), (m) => m.commit],
      ['reject_hint', (v) => msg({ reject_hint: v }), (m) => m.rejectHint],
      ['snapshot_index', (v) => msg({ snapshot_index: v }), (m) => m.snapshot?.index],
      ['snapshot_term', (v) => msg({ snapshot_index: 1, snapshot_term: v }), (m) => m.snapshot?.term],
      ['entry term', (v) => msg({ entries: [{ term: v }] }), (m) => m.entries[0].term],
      ['entry index', (v) => msg({ entries: [{ index: v }] }), (m) => m.entries[0].index],
    ];
    for (const [what, make, read] of fields) {
      for (const big of ['9007199254740993', '9007199254740994', '9223372036854775807', '18446744073709551615']) assertCodecError(make(big), `${what} = ${big}`);
      const ok = decodeBatch(make('9007199254740992'));
      assert.equal(read(ok.messages[0]), 2 ** 53, what);
      assert.deepStrictEqual(ok, pbDecode(make('9007199254740992')), what);
    }
    // Hand-made: 2^53 + 1 in a term, written as 8 bytes.
    assertCodecError(Buffer.from(lfield(3, vfield(4, 2n ** 53n + 1n))), 'term 2^53 + 1');
    // IDs take all 64 bits exactly.
    assert.equal(decodeBatch(Buffer.from(vfield(1, 2n ** 64n - 1n))).clusterId, '18446744073709551615');
    assert.equal(decodeBatch(Buffer.from(vfield(2, 2n ** 53n + 1n))).from, '9007199254740993');
  });

  test('encoding refuses what cannot travel exactly', () => {
    const bad: [string, MessageBatch][] = [
      ['term 2^53 + 2', { clusterId: '1', from: '1', messages: [{ ...base(), term: 2 ** 53 + 2 }] }],
      ['negative index', { clusterId: '1', from: '1', messages: [{ ...base(), index: -1 }] }],
      ['fractional commit', { clusterId: '1', from: '1', messages: [{ ...base(), commit: 1.5 }] }],
      ['NaN reject hint', { clusterId: '1', from: '1', messages: [{ ...base(), rejectHint: NaN }] }],
      ['entry type beyond uint32', { clusterId: '1', from: '1', messages: [{ ...base(), entries: [{ term: 1, index: 1, type: 2 ** 32 as EntryType, data: Buffer.alloc(0) }] }] }],
      ['ID 2^64', { clusterId: '18446744073709551616', from: '1', messages: [] }],
      ['ID not decimal', { clusterId: '1', from: 'abc', messages: [] }],
      ['ID empty', { clusterId: '1', from: '1', messages: [{ ...base(), to: '' }] }],
      ['ID negative', { clusterId: '-1', from: '1', messages: [] }],
    ];
    for (const [what, b] of bad) assert.throws(() => encodeBatch(b), (err: unknown) => err instanceof Error && err.message.startsWith('peer codec: '), what);
    // 2^53 itself is exact both ways.
    const edge: MessageBatch = { clusterId: '1', from: '1', messages: [{ ...base(), term: 2 ** 53, snapshot: { index: 2 ** 53, term: 2 ** 53 } }] };
    assert.deepStrictEqual(decodeBatch(encodeBatch(edge)), normalise(edge));
  });

  test("values are views of the input only when its memory is the batch's payload", () => {
    const g = new Gen(5);
    const b: MessageBatch = { clusterId: '1', from: '2', messages: [{ ...g.message(), context: Buffer.from('ctx') }] };
    b.messages[0].entries = [0, 1, 2].map((i) => ({ term: 1, index: i + 1, type: 0 as EntryType, data: g.bytes(3000) }));
    const own = encodeBatch(b);
    assert.equal(own.buffer.byteLength, own.length); // its own ArrayBuffer
    const fromOwn = decodeBatch(own);
    for (const e of fromOwn.messages[0].entries) assert.equal(e.data.buffer, own.buffer, 'a view of the input');
    // Inside a larger buffer (other frames of the same socket read): copied, into one buffer of
    // the payload's size, and unaffected when the larger buffer changes.
    const sliced = inLarger(own);
    const fromSlice = decodeBatch(sliced);
    const want = normalise(b);
    assert.deepStrictEqual(fromSlice, want);
    const copies = new Set(fromSlice.messages[0].entries.map((e) => e.data.buffer));
    copies.add(fromSlice.messages[0].context?.buffer as ArrayBufferLike);
    assert.equal(copies.size, 1, 'one copy per batch');
    const [copy] = copies;
    assert.notEqual(copy, sliced.buffer);
    assert.ok(copy.byteLength < 9000 + 3 * 128 + 3, `copy of ${copy.byteLength} bytes`);
    sliced.fill(0);
    assert.deepStrictEqual(fromSlice, want);
    // A small batch in a slab of Node's Buffer pool: copied, not a view of the slab.
    const small = Buffer.from(encodeBatch({ clusterId: '1', from: '2', messages: [{ ...base(), entries: [{ term: 1, index: 1, type: 0 as EntryType, data: Buffer.from('v') }] }] }));
    assert.ok(small.buffer.byteLength > small.length + 1024, 'from the pool');
    assert.notEqual(decodeBatch(small).messages[0].entries[0].data.buffer, small.buffer);
  });
});

function base(): Message {
  return { type: MessageType.App, from: '1', to: '2', term: 1, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 };
}
