// Encodes raft messages for the peer wire (proto/etcdtspb/raft.proto). IDs travel as uint64 and
// come back as decimal strings, which is how raft/ names members.
//
// Hand-written protobuf wire format (the generic protobufjs path converted every uint64 through
// long.js and every message through fromObject/toObject, which dominated the cost per entry):
// - IDs (cluster_id, from, to) are uint64 varints, decimal strings in memory: parsed and printed
//   exactly (BigInt only beyond 2^53), and cached both ways (a member talks to few others).
// - term, index, commit, log_term, reject_hint, snapshot_index, snapshot_term and an entry's
//   term and index are uint64 varints, numbers in memory: decoded exactly up to 2^53; a larger
//   value throws rather than losing precision, and encoding refuses anything but an integer in
//   [0, 2^53].
// - Encode omits fields at their proto3 default (protobufjs wrote them, zeros and an empty
//   context included); decode reads either. Field order is the .proto's, so apart from those
//   default fields the bytes are what protobufjs wrote.
// - Decode skips unknown fields by wire type; truncated input, a length past the end of its
//   message, a known field with the wrong wire type, a field number 0, an end-group without its
//   start or a varint longer than 10 bytes throws an Error (CodecError); bytes are read by index
//   with explicit bounds checks only, so no RangeError can come out of a Buffer read.
import { embeddedBytes, putVarint, putVarintField, varintBytes } from '../pb/fast-codec';
import type { Entry, EntryType, Message, MessageType } from '../raft/types';

export interface MessageBatch {
  clusterId: string;
  from: string;
  messages: Message[];
}

class CodecError extends Error {
  override name = 'CodecError';
}

const EMPTY = Buffer.alloc(0);
/** 2^53: the largest uint64 a number field decodes to (it is exact; 2^53 + 1 is not). */
const MAX_NUMBER = 2 ** 53;
const TWO_32 = 2 ** 32;

// Wire types.
const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const START_GROUP = 3;
const END_GROUP = 4;
const FIXED32 = 5;

// ---- encoding ------------------------------------------------------------------------------

/** Encoded varints of IDs seen lately, by their decimal text (cleared when it grows past bound). */
const idBytesCache = new Map<string, Uint8Array>();
const ID_CACHE_MAX = 256;

/** UTF-8 of message type strings seen (the MessageType values; bounded like idBytesCache). */
const textCache = new Map<string, Buffer>();

function idBytes(id: string): Uint8Array {
  let b = idBytesCache.get(id);
  if (b !== undefined) return b;
  if (!/^[0-9]{1,20}$/.test(id)) throw new CodecError(`peer codec: member or cluster ID ${JSON.stringify(id)} is not a decimal uint64`);
  let n = BigInt(id);
  if (n >= 1n << 64n) throw new CodecError(`peer codec: ID ${id} exceeds 2^64 - 1`);
  const out: number[] = [];
  while (n >= 0x80n) {
    out.push(Number(n & 0x7fn) | 0x80);
    n >>= 7n;
  }
  out.push(Number(n));
  b = Uint8Array.from(out);
  if (idBytesCache.size >= ID_CACHE_MAX) idBytesCache.clear();
  idBytesCache.set(id, b);
  return b;
}

function textBytes(s: string): Buffer {
  let b = textCache.get(s);
  if (b === undefined) {
    b = Buffer.from(s, 'utf8');
    if (textCache.size >= ID_CACHE_MAX) textCache.clear();
    textCache.set(s, b);
  }
  return b;
}

/** A number field's value checked: an integer in [0, 2^53] (undefined is 0, as an absent field). */
function checked(v: number | undefined, what: string): number {
  if (v === undefined) return 0;
  if (!(v >= 0 && v <= MAX_NUMBER && Math.floor(v) === v)) throw new CodecError(`peer codec: ${what} ${v} is not an integer in [0, 2^53]`);
  return v;
}

/** Bytes of a varint holding n (an integer in [0, 2^53]). */
/** A varint-typed number field's encoded size: 0 when zero (omitted), else tag (one byte: fields < 16) and value. */
function numberFieldSize(n: number): number {
  return n === 0 ? 0 : 1 + varintBytes(n);
}

function putIdField(buf: Buffer, pos: number, field: number, id: Uint8Array): number {
  // Zero (a single 0 byte) is the default: omitted.
  if (id.length === 1 && id[0] === 0) return pos;
  buf[pos++] = field << 3;
  for (let i = 0; i < id.length; i++) buf[pos++] = id[i];
  return pos;
}

function idFieldSize(id: Uint8Array): number {
  return id.length === 1 && id[0] === 0 ? 0 : 1 + id.length;
}

function putBytesField(buf: Buffer, pos: number, field: number, v: Uint8Array): number {
  if (v.length === 0) return pos;
  buf[pos++] = (field << 3) | LEN;
  pos = putVarint(buf, pos, v.length);
  buf.set(v, pos);
  return pos + v.length;
}

function bytesFieldSize(field: number, length: number): number {
  return length === 0 ? 0 : embeddedBytes(field, length);
}

/**
 * Sizes of the batch being encoded, computed by the first pass and read by the second: for each
 * message its body size, then each of its entries' body sizes (module scratch: encoding is
 * synchronous and not re-entrant).
 */
let sizes = new Float64Array(256);

function sizeSlot(i: number): void {
  if (i >= sizes.length) {
    const grown = new Float64Array(Math.max(i + 1, sizes.length * 2));
    grown.set(sizes);
    sizes = grown;
  }
}

/** Encodes a batch (throws an Error for an ID that is not a decimal uint64 or a number field that is not an integer in [0, 2^53]). */
export function encodeBatch(b: MessageBatch): Buffer {
  const clusterId = idBytes(b.clusterId);
  const batchFrom = idBytes(b.from);
  const messages = b.messages;
  // Pass 1: sizes (and the checks, so that nothing is written for a batch that cannot be).
  let total = idFieldSize(clusterId) + idFieldSize(batchFrom);
  let slot = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    const messageSlot = slot++;
    let len = bytesFieldSize(1, textBytes(m.type).length);
    len += idFieldSize(idBytes(m.from)) + idFieldSize(idBytes(m.to));
    len += numberFieldSize(checked(m.term, 'term')) + numberFieldSize(checked(m.logTerm, 'log_term')) + numberFieldSize(checked(m.index, 'index'));
    const entries = m.entries;
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k];
      const elen = numberFieldSize(checked(e.term, 'entry term')) + numberFieldSize(checked(e.index, 'entry index')) + numberFieldSize(checked(e.type, 'entry type')) + bytesFieldSize(4, e.data.length);
      if (e.type > 0xffffffff) throw new CodecError(`peer codec: entry type ${e.type} exceeds uint32`);
      sizeSlot(slot);
      sizes[slot++] = elen;
      // An entry is written even when empty (a repeated message field keeps its place).
      len += embeddedBytes(7, elen);
    }
    len += numberFieldSize(checked(m.commit, 'commit'));
    if (m.reject) len += 2;
    len += numberFieldSize(checked(m.rejectHint, 'reject_hint'));
    len += bytesFieldSize(11, m.context === undefined ? 0 : m.context.length);
    if (m.snapshot !== undefined) len += numberFieldSize(checked(m.snapshot.index, 'snapshot_index')) + numberFieldSize(checked(m.snapshot.term, 'snapshot_term'));
    sizeSlot(messageSlot);
    sizes[messageSlot] = len;
    total += embeddedBytes(3, len);
  }
  // Pass 2: write.
  const buf = Buffer.allocUnsafe(total);
  let pos = putIdField(buf, 0, 1, clusterId);
  pos = putIdField(buf, pos, 2, batchFrom);
  slot = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    buf[pos++] = (3 << 3) | LEN;
    pos = putVarint(buf, pos, sizes[slot++]);
    pos = putBytesField(buf, pos, 1, textBytes(m.type));
    pos = putIdField(buf, pos, 2, idBytes(m.from));
    pos = putIdField(buf, pos, 3, idBytes(m.to));
    pos = putVarintField(buf, pos, 4, m.term ?? 0);
    pos = putVarintField(buf, pos, 5, m.logTerm ?? 0);
    pos = putVarintField(buf, pos, 6, m.index ?? 0);
    const entries = m.entries;
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k];
      buf[pos++] = (7 << 3) | LEN;
      pos = putVarint(buf, pos, sizes[slot++]);
      pos = putVarintField(buf, pos, 1, e.term ?? 0);
      pos = putVarintField(buf, pos, 2, e.index ?? 0);
      pos = putVarintField(buf, pos, 3, e.type ?? 0);
      pos = putBytesField(buf, pos, 4, e.data);
    }
    pos = putVarintField(buf, pos, 8, m.commit ?? 0);
    if (m.reject) {
      buf[pos++] = 9 << 3;
      buf[pos++] = 1;
    }
    pos = putVarintField(buf, pos, 10, m.rejectHint ?? 0);
    if (m.context !== undefined) pos = putBytesField(buf, pos, 11, m.context);
    if (m.snapshot !== undefined) {
      pos = putVarintField(buf, pos, 12, m.snapshot.index ?? 0);
      pos = putVarintField(buf, pos, 13, m.snapshot.term ?? 0);
    }
  }
  if (pos !== total) throw new CodecError(`peer codec: wrote ${pos} bytes, sized ${total}`);
  return buf;
}

// ---- decoding ------------------------------------------------------------------------------
//
// Zero-copy decision: entries' data and contexts are views of the input when the input's memory
// is (nearly) all this batch's payload, and are copied out otherwise.
// - Correctness: the input is never reused or written to after decoding. Its callers
//   (peer/transport.ts) decode frame bodies from FrameReader, which are views of HTTP/2 DATA
//   chunks (fresh per socket read in Node's http2) or of fresh Buffer.concat results; nothing
//   writes into either afterwards. (The protobufjs decoder this replaced returned views too.)
// - Memory: decoded entries outlive the frame by far: raft's unstable log, then LogStore's cache
//   (up to 4096 entries, bounded by their data.length only), and applied requests' keys and values
//   are views of entry data. A view keeps its whole ArrayBuffer alive, and a frame body is often a
//   slice of something larger: a socket read (up to 64 KiB: other frames, HTTP/2 framing, even
//   another stream's data), a FrameReader concatenation (the frame plus the start of the next),
//   or an 8 KiB slab of Node's Buffer pool shared with unrelated data (concatenations under
//   4 KiB). So: when the input's ArrayBuffer holds at most a quarter more than the batch's
//   payload, plus 1 KiB (framing of a small frame), the values are views of it (a large frame,
//   joined from several DATA chunks, or a frame alone in its read); otherwise the payload is
//   copied into one new buffer of its own (outside the pool), and the values are views of that.
//   Either way what a batch's entries keep alive is at most 1.25 times its payload plus 1 KiB.
//   Measured (10 App x 20 entries x 300 B): decoding with views ~17 us per batch, with the copy
//   ~35 us (the copy into fresh memory is the difference), the protobufjs decoder ~220 us.
/** Input bytes beyond the payload that a zero-copy decode may keep alive: payload / 4 + this. */
const VIEW_SLACK = 1024;

/** The read position in the input being decoded (the readers advance it). */
let pos = 0;
/** The low and high 32 bits of the last 64-bit varint read (unsigned). */
let lo = 0;
let hi = 0;

function truncated(): never {
  throw new CodecError('peer codec: truncated input');
}

/** A varint's low 32 bits (protobuf's uint32 and bool read it so), unsigned; advances pos. */
function readVarint32(buf: Buffer, end: number): number {
  let v = 0;
  for (let shift = 0; shift < 70; shift += 7) {
    if (pos >= end) truncated();
    const b = buf[pos++];
    if (shift < 32) v |= (b & 0x7f) << shift;
    if (b < 0x80) return v >>> 0;
  }
  throw new CodecError('peer codec: varint longer than 10 bytes');
}

/** A varint into lo and hi (bits beyond 64 dropped, as protobuf does); advances pos. */
function readVarint64(buf: Buffer, end: number): void {
  let l = 0;
  let h = 0;
  for (let shift = 0; shift < 70; shift += 7) {
    if (pos >= end) truncated();
    const b = buf[pos++];
    const bits = b & 0x7f;
    if (shift < 28) l |= bits << shift;
    else if (shift === 28) {
      l |= bits << 28; // the low 4 bits of the byte (the rest fall off the 32-bit value)
      h = bits >>> 4;
    } else h |= bits << (shift - 32);
    if (b < 0x80) {
      lo = l >>> 0;
      hi = h >>> 0;
      return;
    }
  }
  throw new CodecError('peer codec: varint longer than 10 bytes');
}

/** A uint64 varint as a number, exact; above 2^53 it throws. */
function readNumber(buf: Buffer, end: number, what: string): number {
  // Fast path: up to 4 bytes (< 2^28) with no arithmetic beyond 32-bit ints.
  if (pos + 4 <= end) {
    let b = buf[pos];
    if (b < 0x80) {
      pos += 1;
      return b;
    }
    let v = b & 0x7f;
    b = buf[pos + 1];
    v |= (b & 0x7f) << 7;
    if (b < 0x80) {
      pos += 2;
      return v;
    }
    b = buf[pos + 2];
    v |= (b & 0x7f) << 14;
    if (b < 0x80) {
      pos += 3;
      return v;
    }
    b = buf[pos + 3];
    v |= (b & 0x7f) << 21;
    if (b < 0x80) {
      pos += 4;
      return v;
    }
  }
  readVarint64(buf, end);
  // value = hi * 2^32 + lo; <= 2^53 exactly when hi < 2^21, or hi = 2^21 and lo = 0.
  if (hi < 0x200000 || (hi === 0x200000 && lo === 0)) return hi * TWO_32 + lo;
  throw new CodecError(`peer codec: ${what} exceeds 2^53 (${((BigInt(hi) << 32n) | BigInt(lo)).toString()})`);
}

/** Decimal text of recently decoded IDs, direct-mapped by their bits (compared exactly). */
const ID_SLOTS = 64;
const idLo = new Float64Array(ID_SLOTS);
const idHi = new Float64Array(ID_SLOTS);
const idText: (string | undefined)[] = new Array<string | undefined>(ID_SLOTS).fill(undefined);

function readId(buf: Buffer, end: number): string {
  readVarint64(buf, end);
  const slot = (lo ^ hi ^ (hi >>> 6)) & (ID_SLOTS - 1);
  const cached = idText[slot];
  if (cached !== undefined && idLo[slot] === lo && idHi[slot] === hi) return cached;
  const text = hi < 0x200000 ? String(hi * TWO_32 + lo) : ((BigInt(hi) << 32n) | BigInt(lo)).toString();
  idLo[slot] = lo;
  idHi[slot] = hi;
  idText[slot] = text;
  return text;
}

/** The length prefix of a length-delimited field; checks it fits before end. Returns the field's end. */
function readLength(buf: Buffer, end: number): number {
  readVarint64(buf, end);
  if (hi !== 0 || lo > end - pos) throw new CodecError('peer codec: field length runs past the end of its message');
  return pos + lo;
}

/** MessageType values by their UTF-8 bytes' length (the strings decode without a UTF-8 pass). */
const knownTypes: { bytes: Buffer; text: string }[][] = [];

function knownType(text: MessageType): void {
  const bytes = Buffer.from(text, 'utf8');
  (knownTypes[bytes.length] ??= []).push({ bytes, text });
}

for (const t of ['hup', 'prop', 'app', 'appResp', 'vote', 'voteResp', 'heartbeat', 'heartbeatResp', 'preVote', 'preVoteResp', 'readIndex', 'readIndexResp', 'timeoutNow', 'snap'] as MessageType[]) knownType(t);

function readText(buf: Buffer, start: number, end: number): string {
  const candidates = knownTypes[end - start];
  if (candidates !== undefined) {
    next: for (const c of candidates) {
      const b = c.bytes;
      for (let i = 0; i < b.length; i++) if (buf[start + i] !== b[i]) continue next;
      return c.text;
    }
  }
  return buf.toString('utf8', start, end);
}

/** Skips a field of wire type wt whose tag was just read (field number `field`). */
function skipField(buf: Buffer, end: number, field: number, wt: number): void {
  switch (wt) {
    case VARINT:
      readVarint32(buf, end);
      return;
    case FIXED64:
      if (end - pos < 8) truncated();
      pos += 8;
      return;
    case LEN:
      pos = readLength(buf, end);
      return;
    case FIXED32:
      if (end - pos < 4) truncated();
      pos += 4;
      return;
    case START_GROUP: {
      // Iterative, so that deeply nested groups cannot overflow the stack.
      const open: number[] = [field];
      while (open.length > 0) {
        if (pos >= end) truncated();
        const tag = readVarint32(buf, end);
        const f = tag >>> 3;
        const t = tag & 7;
        if (f === 0) throw new CodecError('peer codec: field number 0');
        if (t === END_GROUP) {
          if (open.pop() !== f) throw new CodecError('peer codec: end-group does not match its start');
        } else if (t === START_GROUP) open.push(f);
        else skipField(buf, end, f, t);
      }
      return;
    }
    default:
      // END_GROUP without a start, or wire types 6 and 7.
      throw new CodecError(`peer codec: unexpected wire type ${wt} (field ${field})`);
  }
}

function wrongType(what: string, wt: number): never {
  throw new CodecError(`peer codec: ${what} has wire type ${wt}`);
}

/**
 * Bytes fields (entries' data, contexts) found while decoding a batch: start and end in the
 * input, and which object and key take the copy (see the zero-copy decision above).
 */
let spans = new Float64Array(64);
let spanOwners: (Entry | Message | undefined)[] = [];
let spanCount = 0;
/** The spans' total bytes. */
let spanBytes = 0;

function addSpan(owner: Entry | Message, start: number, end: number): void {
  if (spanCount * 2 + 2 > spans.length) {
    const grown = new Float64Array(spans.length * 2);
    grown.set(spans);
    spans = grown;
  }
  spans[spanCount * 2] = start;
  spans[spanCount * 2 + 1] = end;
  spanOwners[spanCount++] = owner;
  spanBytes += end - start;
}

/**
 * Bytes between two fields copied along with them rather than starting another copy: the
 * framing between consecutive entries' data (an entry's tag, length, term, index and type, a
 * message's header between two messages' entries) is well below it.
 */
const COPY_GAP = 128;
/** Per span: where its bytes land in the copy. */
let spanAt = new Float64Array(32);

/** Points the spans' owners at views of the input (see the zero-copy decision above). */
function viewSpans(buf: Buffer): void {
  for (let i = 0; i < spanCount; i++) {
    const view = buf.subarray(spans[i * 2], spans[i * 2 + 1]);
    const owner = spanOwners[i] as Entry | Message;
    if ('data' in owner) owner.data = view;
    else owner.context = view;
  }
}

/**
 * Copies the batch's bytes fields out of the input into one new buffer and points their owners
 * at views of it. Spans that follow each other with at most COPY_GAP bytes between are copied as
 * one region (one memcpy instead of one per entry: a per-field copy cost as much as the rest of
 * decoding); the copy's size is at most the fields' bytes plus COPY_GAP per field.
 */
function copySpans(buf: Buffer): void {
  if (spanAt.length < spanCount) spanAt = new Float64Array(Math.max(spanCount, spanAt.length * 2));
  // Pass 1: regions, their size and where each span lands.
  let total = 0;
  let regionStart = -1;
  let regionEnd = -1;
  let regionAt = 0;
  for (let i = 0; i < spanCount; i++) {
    const start = spans[i * 2];
    const stop = spans[i * 2 + 1];
    if (regionStart < 0 || start < regionEnd || start - regionEnd > COPY_GAP) {
      regionStart = start;
      regionAt = total;
      total += stop - start;
    } else {
      total += stop - regionEnd;
    }
    regionEnd = stop;
    spanAt[i] = regionAt + (start - regionStart);
  }
  // Pass 2: copy each region (same walk), then hand out views. Outside Node's shared pool, so
  // the copy pins nothing else.
  const copy = Buffer.allocUnsafeSlow(total);
  regionStart = -1;
  regionEnd = -1;
  regionAt = 0;
  for (let i = 0; i < spanCount; i++) {
    const start = spans[i * 2];
    const stop = spans[i * 2 + 1];
    if (regionStart < 0 || start < regionEnd || start - regionEnd > COPY_GAP) {
      if (regionStart >= 0) copy.set(buf.subarray(regionStart, regionEnd), regionAt);
      regionStart = start;
      regionAt = spanAt[i];
    }
    regionEnd = stop;
  }
  copy.set(buf.subarray(regionStart, regionEnd), regionAt);
  for (let i = 0; i < spanCount; i++) {
    const at = spanAt[i];
    const view = copy.subarray(at, at + spans[i * 2 + 1] - spans[i * 2]);
    const owner = spanOwners[i] as Entry | Message;
    if ('data' in owner) owner.data = view;
    else owner.context = view;
  }
}

function decodeEntry(buf: Buffer, end: number): Entry {
  let term = 0;
  let index = 0;
  let type = 0;
  let dataStart = 0;
  let dataEnd = 0;
  while (pos < end) {
    const tag = readVarint32(buf, end);
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1:
        if (wt !== VARINT) wrongType('entry term', wt);
        term = readNumber(buf, end, 'entry term');
        break;
      case 2:
        if (wt !== VARINT) wrongType('entry index', wt);
        index = readNumber(buf, end, 'entry index');
        break;
      case 3:
        if (wt !== VARINT) wrongType('entry type', wt);
        type = readVarint32(buf, end);
        break;
      case 4: {
        if (wt !== LEN) wrongType('entry data', wt);
        const fieldEnd = readLength(buf, end);
        dataStart = pos;
        dataEnd = fieldEnd;
        pos = fieldEnd;
        break;
      }
      case 0:
        throw new CodecError('peer codec: field number 0');
      default:
        skipField(buf, end, tag >>> 3, wt);
    }
  }
  const e: Entry = { term, index, type: type as EntryType, data: EMPTY };
  if (dataEnd > dataStart) addSpan(e, dataStart, dataEnd);
  return e;
}

function decodeMessage(buf: Buffer, end: number): Message {
  let type = '';
  let from = '0';
  let to = '0';
  let term = 0;
  let logTerm = 0;
  let index = 0;
  const entries: Entry[] = [];
  let commit = 0;
  let reject = false;
  let rejectHint = 0;
  let contextStart = 0;
  let contextEnd = 0;
  let snapshotIndex = 0;
  let snapshotTerm = 0;
  while (pos < end) {
    const tag = readVarint32(buf, end);
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1: {
        if (wt !== LEN) wrongType('message type', wt);
        const fieldEnd = readLength(buf, end);
        type = readText(buf, pos, fieldEnd);
        pos = fieldEnd;
        break;
      }
      case 2:
        if (wt !== VARINT) wrongType('message from', wt);
        from = readId(buf, end);
        break;
      case 3:
        if (wt !== VARINT) wrongType('message to', wt);
        to = readId(buf, end);
        break;
      case 4:
        if (wt !== VARINT) wrongType('term', wt);
        term = readNumber(buf, end, 'term');
        break;
      case 5:
        if (wt !== VARINT) wrongType('log_term', wt);
        logTerm = readNumber(buf, end, 'log_term');
        break;
      case 6:
        if (wt !== VARINT) wrongType('index', wt);
        index = readNumber(buf, end, 'index');
        break;
      case 7: {
        if (wt !== LEN) wrongType('entry', wt);
        const fieldEnd = readLength(buf, end);
        entries.push(decodeEntry(buf, fieldEnd));
        break;
      }
      case 8:
        if (wt !== VARINT) wrongType('commit', wt);
        commit = readNumber(buf, end, 'commit');
        break;
      case 9:
        if (wt !== VARINT) wrongType('reject', wt);
        reject = readVarint32(buf, end) !== 0;
        break;
      case 10:
        if (wt !== VARINT) wrongType('reject_hint', wt);
        rejectHint = readNumber(buf, end, 'reject_hint');
        break;
      case 11: {
        if (wt !== LEN) wrongType('context', wt);
        const fieldEnd = readLength(buf, end);
        contextStart = pos;
        contextEnd = fieldEnd;
        pos = fieldEnd;
        break;
      }
      case 12:
        if (wt !== VARINT) wrongType('snapshot_index', wt);
        snapshotIndex = readNumber(buf, end, 'snapshot_index');
        break;
      case 13:
        if (wt !== VARINT) wrongType('snapshot_term', wt);
        snapshotTerm = readNumber(buf, end, 'snapshot_term');
        break;
      case 0:
        throw new CodecError('peer codec: field number 0');
      default:
        skipField(buf, end, tag >>> 3, wt);
    }
  }
  const m: Message = {
    type: type as MessageType,
    from,
    to,
    term,
    logTerm,
    index,
    entries,
    commit,
    reject,
    rejectHint,
    context: undefined,
    snapshot: snapshotIndex > 0 ? { index: snapshotIndex, term: snapshotTerm } : undefined,
  };
  if (contextEnd > contextStart) addSpan(m, contextStart, contextEnd);
  return m;
}

/**
 * Decodes a frame body. Entries' data and contexts may be views of buf (see the zero-copy
 * decision above): buf must not be written to afterwards. Throws an Error on malformed input.
 */
export function decodeBatch(buf: Buffer): MessageBatch {
  pos = 0;
  spanCount = 0;
  spanBytes = 0;
  const end = buf.length;
  let clusterId = '0';
  let from = '0';
  const messages: Message[] = [];
  try {
    while (pos < end) {
      const tag = readVarint32(buf, end);
      const wt = tag & 7;
      switch (tag >>> 3) {
        case 1:
          if (wt !== VARINT) wrongType('cluster_id', wt);
          clusterId = readId(buf, end);
          break;
        case 2:
          if (wt !== VARINT) wrongType('from', wt);
          from = readId(buf, end);
          break;
        case 3: {
          if (wt !== LEN) wrongType('message', wt);
          const fieldEnd = readLength(buf, end);
          messages.push(decodeMessage(buf, fieldEnd));
          break;
        }
        case 0:
          throw new CodecError('peer codec: field number 0');
        default:
          skipField(buf, end, tag >>> 3, wt);
      }
    }
    if (spanCount > 0) {
      if (buf.buffer.byteLength - spanBytes <= spanBytes / 4 + VIEW_SLACK) viewSpans(buf);
      else copySpans(buf);
    }
  } finally {
    // No decoded object stays referenced by the module.
    if (spanOwners.length > 1024) spanOwners = [];
    else spanOwners.fill(undefined, 0, spanCount);
    spanCount = 0;
  }
  return { clusterId, from, messages };
}
