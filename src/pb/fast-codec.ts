// Hand-written protobuf codecs for the hottest messages (Range and Put, their responses, watch
// responses, the response header and KeyValue). They produce and take the same shapes as the generic codec
// (pb/types.ts) but skip its object conversions, which dominated the cost of a read.
// Field numbers are etcd's (proto/etcdserverpb/rpc.proto, proto/mvccpb/kv.proto).
import * as protobuf from 'protobufjs/light';
import type { Int64, KeyValuePb, PutRequest, PutResponse, RangeRequest, RangeResponse, ResponseHeader, EventPb, WatchResponsePb } from './types';

const EMPTY = Buffer.alloc(0);
/**
 * etcd (Go) tells a range_end sent empty from one not sent: the first decodes to a non-nil empty
 * slice, which its range read takes as "every key from key on". A client that writes the field
 * empty (protobufjs does) gets a from-key Range from etcd, so it gets one here too.
 */
export const FROM_KEY = Buffer.from([0]);

function int64Text(r: protobuf.Reader): string {
  return (r.int64() as unknown as { toString(): string }).toString();
}

function int64Number(r: protobuf.Reader): number {
  const v = r.int64() as unknown as number | { toNumber(): number };
  return typeof v === 'number' ? v : v.toNumber();
}

function bytes(r: protobuf.Reader): Buffer {
  const b = r.bytes();
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

export function decodeRangeRequest(buf: Buffer): RangeRequest {
  const r = protobuf.Reader.create(buf);
  const m: RangeRequest = {
    key: EMPTY, range_end: EMPTY, limit: 0, revision: 0, sort_order: 0, sort_target: 0, serializable: false, keys_only: false,
    count_only: false, min_mod_revision: 0, max_mod_revision: 0, min_create_revision: 0, max_create_revision: 0,
  };
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1: m.key = bytes(r); break;
      case 2: {
        const end = bytes(r);
        m.range_end = end.length === 0 ? FROM_KEY : end;
        break;
      }
      case 3: m.limit = int64Number(r); break;
      case 4: m.revision = int64Number(r); break;
      case 5: m.sort_order = r.int32(); break;
      case 6: m.sort_target = r.int32(); break;
      case 7: m.serializable = r.bool(); break;
      case 8: m.keys_only = r.bool(); break;
      case 9: m.count_only = r.bool(); break;
      case 10: m.min_mod_revision = int64Number(r); break;
      case 11: m.max_mod_revision = int64Number(r); break;
      case 12: m.min_create_revision = int64Number(r); break;
      case 13: m.max_create_revision = int64Number(r); break;
      default: r.skipType(tag & 7);
    }
  }
  return m;
}

export function decodePutRequest(buf: Buffer): PutRequest {
  const r = protobuf.Reader.create(buf);
  const m: PutRequest = { key: EMPTY, value: EMPTY, lease: '0', prev_kv: false, ignore_value: false, ignore_lease: false };
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1: m.key = bytes(r); break;
      case 2: m.value = bytes(r); break;
      case 3: m.lease = int64Text(r); break;
      case 4: m.prev_kv = r.bool(); break;
      case 5: m.ignore_value = r.bool(); break;
      case 6: m.ignore_lease = r.bool(); break;
      default: r.skipType(tag & 7);
    }
  }
  return m;
}

/** Writes a 64-bit integer given as number or decimal string (IDs exceed 2^53). */
function writeInt64(w: protobuf.Writer, field: number, v: Int64 | undefined): void {
  if (v === undefined || v === 0 || v === '0') return;
  w.uint32((field << 3) | 0);
  if (typeof v === 'number') w.int64(v);
  else w.uint64(v);
}

function writeBytes(w: protobuf.Writer, field: number, v: Buffer): void {
  if (v.length === 0) return;
  w.uint32((field << 3) | 2).bytes(v);
}

/**
 * The last header encoded: consecutive responses mostly share one (same member, term and often
 * revision), and parsing the 64-bit decimal IDs each time showed in profiles.
 */
let lastHeader: { c: Int64 | undefined; m: Int64 | undefined; r: Int64 | undefined; t: Int64 | undefined; bytes: Buffer } | undefined;
/**
 * The IDs' fields, encoded: they never change for a member, while the revision does with every
 * write (a watch fan-out interleaves responses of several revisions, so lastHeader misses often).
 */
let idFields: { c: Int64 | undefined; m: Int64 | undefined; bytes: Buffer } | undefined;

function writeHeader(w: protobuf.Writer, h: Partial<ResponseHeader> | undefined): void {
  const bytes = headerBytes(h);
  if (bytes !== undefined) w.uint32((1 << 3) | 2).bytes(bytes);
}

/** A response header's encoded body (cached: see lastHeader). */
function headerBytes(h: Partial<ResponseHeader> | undefined): Buffer | undefined {
  if (h === undefined) return undefined;
  const l = lastHeader;
  if (l !== undefined && l.c === h.cluster_id && l.m === h.member_id && l.r === h.revision && l.t === h.raft_term) return l.bytes;
  let ids = idFields;
  if (ids === undefined || ids.c !== h.cluster_id || ids.m !== h.member_id) {
    const iw = protobuf.Writer.create();
    writeInt64(iw, 1, h.cluster_id);
    writeInt64(iw, 2, h.member_id);
    ids = idFields = { c: h.cluster_id, m: h.member_id, bytes: iw.finish() as Buffer };
  }
  const rev = revisionBytes(h.revision ?? 0);
  const term = revisionBytes(h.raft_term ?? 0);
  let bytes: Buffer;
  if (rev >= 0 && term >= 0) {
    bytes = Buffer.allocUnsafe(ids.bytes.length + rev + term);
    let pos = ids.bytes.copy(bytes, 0);
    pos = putVarintField(bytes, pos, 3, (h.revision ?? 0) as number);
    putVarintField(bytes, pos, 4, (h.raft_term ?? 0) as number);
  } else {
    const hw = protobuf.Writer.create();
    writeInt64(hw, 1, h.cluster_id);
    writeInt64(hw, 2, h.member_id);
    writeInt64(hw, 3, h.revision);
    writeInt64(hw, 4, h.raft_term);
    bytes = hw.finish() as Buffer;
  }
  lastHeader = { c: h.cluster_id, m: h.member_id, r: h.revision, t: h.raft_term, bytes };
  return bytes;
}

function writeKeyValue(w: protobuf.Writer, field: number, kv: KeyValuePb): void {
  w.uint32((field << 3) | 2).fork();
  writeBytes(w, 1, kv.key);
  writeInt64(w, 2, kv.create_revision);
  writeInt64(w, 3, kv.mod_revision);
  writeInt64(w, 4, kv.version);
  writeBytes(w, 5, kv.value);
  writeInt64(w, 6, kv.lease);
  w.ldelim();
}

/**
 * A RangeResponse sized first, then written into one buffer: no per-field writer operations (a
 * Range of 100,000 keys made 800,000 of them, and a second copy of every key and value). Values
 * it does not expect (a negative or fractional int64) go to the writer-based encoder.
 */
export function encodeRangeResponse(m: RangeResponse, headroom = 0): Buffer {
  const header = headerBytes(m.header);
  const count = int64Plain(m.count);
  const kvLens = new Array<number>(m.kvs.length);
  let total = header === undefined ? 0 : 1 + varintBytes(header.length) + header.length;
  for (let i = 0; i < m.kvs.length; i++) {
    const len = keyValueBytes(m.kvs[i]);
    if (len < 0) return withHeadroom(encodeRangeResponseWithWriter(m), headroom);
    kvLens[i] = len;
    total += 1 + varintBytes(len) + len;
  }
  if (count < 0) return withHeadroom(encodeRangeResponseWithWriter(m), headroom);
  if (m.more) total += 2;
  if (count > 0) total += 1 + varintBytes(count);
  const buf = Buffer.allocUnsafe(headroom + total);
  let pos = headroom;
  if (header !== undefined) pos = putEmbedded(buf, pos, 1, header);
  for (let i = 0; i < m.kvs.length; i++) {
    const kv = m.kvs[i];
    buf[pos++] = (2 << 3) | 2;
    pos = putVarint(buf, pos, kvLens[i]);
    pos = putBytesField(buf, pos, 1, kv.key);
    pos = putVarintField(buf, pos, 2, kv.create_revision as number);
    pos = putVarintField(buf, pos, 3, kv.mod_revision as number);
    pos = putVarintField(buf, pos, 4, kv.version as number);
    pos = putBytesField(buf, pos, 5, kv.value);
    const lease = int64Plain(kv.lease);
    if (lease > 0) pos = putVarintField(buf, pos, 6, lease);
    else if (lease === LEASE_AS_TEXT) pos = putUint64TextField(buf, pos, 6, String(kv.lease));
  }
  if (m.more) {
    buf[pos++] = 3 << 3;
    buf[pos++] = 1;
  }
  if (count > 0) pos = putVarintField(buf, pos, 4, count);
  if (pos !== headroom + total) throw new Error(`encodeRangeResponse: wrote ${pos - headroom} bytes, sized ${total}`);
  return buf;
}

/** int64Plain's answer for an ID given as text beyond 2^53 (leases): written from its decimal digits. */
const LEASE_AS_TEXT = -2;

/** A non-negative safe integer as a number; 0 for absent; LEASE_AS_TEXT for a positive decimal text beyond 2^53; -1 otherwise. */
function int64Plain(v: Int64 | undefined): number {
  if (v === undefined) return 0;
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : -1;
  if (!/^\d+$/.test(v)) return -1;
  const n = Number(v);
  if (Number.isSafeInteger(n)) return n;
  return BigInt(v) < 1n << 64n ? LEASE_AS_TEXT : -1;
}

/** A KeyValue's encoded size, or -1 when a field needs the writer-based encoder. */
function keyValueBytes(kv: KeyValuePb): number {
  let len = 0;
  if (kv.key.length > 0) len += 1 + varintBytes(kv.key.length) + kv.key.length;
  const revisions = revisionBytes(kv.create_revision) + revisionBytes(kv.mod_revision) + revisionBytes(kv.version);
  if (revisions < 0) return -1;
  len += revisions;
  if (kv.value.length > 0) len += 1 + varintBytes(kv.value.length) + kv.value.length;
  const lease = int64Plain(kv.lease);
  if (lease === -1) return -1;
  if (lease > 0) len += 1 + varintBytes(lease);
  else if (lease === LEASE_AS_TEXT) len += 1 + uint64TextBytes(String(kv.lease));
  return len;
}

/** A revision or version field's encoded size (0 when zero), or a negative number when the sized path cannot take it. */
function revisionBytes(v: Int64): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return -Infinity;
  return v === 0 ? 0 : 1 + varintBytes(v);
}

/** Writes a varint of a non-negative integer up to 2^53; returns the position after it. */
export function putVarint(buf: Buffer, pos: number, v: number): number {
  // Bit operations once the value fits 31 bits; division above.
  while (v >= 0x80000000) {
    buf[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}

/** A varint at pos and the position after it; position -1 when it runs past the end or past 32 bits. */
export function readVarint(buf: Buffer, pos: number): [number, number] {
  let v = 0;
  for (let shift = 0; shift < 32 && pos < buf.length; shift += 7) {
    const b = buf[pos++];
    v += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [v, pos];
  }
  return [0, -1];
}

/** A varint field (tag of one byte: fields below 16), left out when zero as proto3 does. */
export function putVarintField(buf: Buffer, pos: number, field: number, v: number): number {
  if (v === 0) return pos;
  buf[pos++] = field << 3;
  return putVarint(buf, pos, v);
}

/** A length-delimited field written even when empty, as the writer writes a message field (a present header stays present). */
function putEmbedded(buf: Buffer, pos: number, field: number, body: Buffer): number {
  buf[pos++] = (field << 3) | 2;
  pos = putVarint(buf, pos, body.length);
  return pos + body.copy(buf, pos);
}

function putBytesField(buf: Buffer, pos: number, field: number, v: Buffer): number {
  if (v.length === 0) return pos;
  buf[pos++] = (field << 3) | 2;
  pos = putVarint(buf, pos, v.length);
  return pos + v.copy(buf, pos);
}

function uint64TextBytes(v: string): number {
  let bytes = 1;
  for (let n = BigInt(v); n >= 0x80n; n >>= 7n) bytes++;
  return bytes;
}

function putUint64TextField(buf: Buffer, pos: number, field: number, v: string): number {
  buf[pos++] = field << 3;
  let n = BigInt(v);
  while (n >= 0x80n) {
    buf[pos++] = Number(n & 0x7fn) | 0x80;
    n >>= 7n;
  }
  buf[pos++] = Number(n);
  return pos;
}

function encodeRangeResponseWithWriter(m: RangeResponse): Buffer {
  const w = protobuf.Writer.create();
  writeHeader(w, m.header);
  for (const kv of m.kvs) writeKeyValue(w, 2, kv);
  if (m.more) w.uint32(3 << 3).bool(true);
  writeInt64(w, 4, m.count);
  return w.finish() as Buffer;
}

/**
 * `body` after `headroom` bytes left free (a sender writes its frame headers there; see
 * ServerCall.write). Encoders that size their message first allocate the room themselves.
 */
export function withHeadroom(body: Uint8Array, headroom: number): Buffer {
  if (headroom === 0 && Buffer.isBuffer(body)) return body;
  const out = Buffer.allocUnsafe(headroom + body.length);
  out.set(body, headroom);
  return out;
}

export function encodePutResponse(m: PutResponse, headroom = 0): Buffer {
  const w = protobuf.Writer.create();
  writeHeader(w, m.header);
  if (m.prev_kv) writeKeyValue(w, 2, m.prev_kv);
  return withHeadroom(w.finish(), headroom);
}

/**
 * A WatchResponse sized first and written into one buffer when its events come encoded and its
 * numbers are plain (a watch fan-out writes one per watcher per event); otherwise the writer.
 */
export function encodeWatchResponse(m: WatchResponsePb, headroom = 0): Buffer {
  const header = headerBytes(m.header);
  const watchId = revisionBytes(m.watch_id ?? 0);
  const compact = revisionBytes(m.compact_revision ?? 0);
  if (watchId < 0 || compact < 0 || (m.cancel_reason !== undefined && m.cancel_reason.length > 0)) return withHeadroom(encodeWatchResponseWithWriter(m), headroom);
  let total = header === undefined ? 0 : 1 + varintBytes(header.length) + header.length;
  total += watchId + compact;
  if (m.created === true) total += 2;
  if (m.canceled === true) total += 2;
  if (m.fragment === true) total += 2;
  for (const ev of m.events) {
    if (!Buffer.isBuffer(ev)) return withHeadroom(encodeWatchResponseWithWriter(m), headroom);
    total += 1 + varintBytes(ev.length) + ev.length;
  }
  const buf = Buffer.allocUnsafe(headroom + total);
  let pos = headroom;
  if (header !== undefined) pos = putEmbedded(buf, pos, 1, header);
  pos = putVarintField(buf, pos, 2, (m.watch_id ?? 0) as number);
  if (m.created === true) pos = putVarintField(buf, pos, 3, 1);
  if (m.canceled === true) pos = putVarintField(buf, pos, 4, 1);
  pos = putVarintField(buf, pos, 5, (m.compact_revision ?? 0) as number);
  if (m.fragment === true) pos = putVarintField(buf, pos, 7, 1);
  for (const ev of m.events) pos = putBytesField(buf, pos, 11, ev as Buffer);
  if (pos !== headroom + total) throw new Error(`encodeWatchResponse: wrote ${pos - headroom} bytes, sized ${total}`);
  return buf;
}

function encodeWatchResponseWithWriter(m: WatchResponsePb): Buffer {
  const w = protobuf.Writer.create();
  writeHeader(w, m.header);
  writeInt64(w, 2, m.watch_id);
  if (m.created === true) w.uint32(3 << 3).bool(true);
  if (m.canceled === true) w.uint32(4 << 3).bool(true);
  writeInt64(w, 5, m.compact_revision);
  if (m.cancel_reason !== undefined && m.cancel_reason.length > 0) w.uint32((6 << 3) | 2).string(m.cancel_reason);
  if (m.fragment === true) w.uint32(7 << 3).bool(true);
  // Events may come encoded already (one event goes to many watchers: encoded once).
  for (const ev of m.events) w.uint32((11 << 3) | 2).bytes(Buffer.isBuffer(ev) ? ev : encodeEvent(ev));
  return w.finish() as Buffer;
}

/** A length-delimited field (tag, length, body) on its own: a part of a message its sender assembles. */
export function lengthDelimitedField(field: number, body: Buffer): Buffer {
  const buf = Buffer.allocUnsafe(embeddedBytes(field, body.length));
  putEmbedded(buf, 0, field, body);
  return buf;
}

/** A response's header, as its field 1 (what encodeWatchResponse writes first). */
export function headerField(h: ResponseHeader): Buffer {
  return lengthDelimitedField(1, headerBytes(h) ?? Buffer.alloc(0));
}

/** The encoded size of a length-delimited field of `length` bytes (tag, length prefix, body). */
export function embeddedBytes(field: number, length: number): number {
  return varintBytes(field << 3) + varintBytes(length) + length;
}

export function varintBytes(n: number): number {
  let bytes = 1;
  for (let v = n; v >= 0x80; v = Math.floor(v / 0x80)) bytes++;
  return bytes;
}

/** One mvccpb.Event, as the body of a WatchResponse's events field. */
export function encodeEvent(ev: EventPb): Buffer {
  const w = protobuf.Writer.create();
  if (ev.type !== 0) w.uint32(1 << 3).int32(ev.type);
  writeKeyValue(w, 2, ev.kv);
  if (ev.prev_kv !== undefined) writeKeyValue(w, 3, ev.prev_kv);
  return w.finish() as Buffer;
}
