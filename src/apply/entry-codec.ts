// The payload of a Raft log entry: a small fixed header naming the proposer and its request ID,
// then the request as protobuf (proto/etcdtspb/internal.proto). The header lets the proposing
// member find its own in-memory request without decoding the bytes it just encoded.
import { decodePutRequest, readVarint } from '../pb/fast-codec';
import { CONVERSION, protoType, rawRequestBytes } from '../pb/load';
import type { InternalRequest, RequestHeader } from '../pb/types';

const HEADER_BYTES = 16;

/** Field numbers of InternalRequest's members (proto/etcdtspb/internal.proto). */
const FIELDS: [keyof InternalRequest, number][] = [
  ['put', 3],
  ['delete_range', 4],
  ['txn', 5],
  ['compaction', 6],
  ['lease_grant', 8],
  ['lease_revoke', 9],
  ['alarm', 10],
];

export interface EntryHeader {
  member: bigint;
  id: bigint;
}

export function encodeEntryData(member: bigint, id: bigint, req: InternalRequest): Buffer {
  return withEntryHeader(member, id, encodeBody(req));
}

/** An entry's payload: the header naming proposer and request, then the body (normal and conf-change entries alike). */
export function withEntryHeader(member: bigint, id: bigint, body: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  buf.writeBigUInt64BE(member, 0);
  buf.writeBigUInt64BE(id, 8);
  buf.set(body, HEADER_BYTES);
  return buf;
}

/** The body after the entry header. */
export function entryBody(data: Buffer): Buffer {
  return data.subarray(HEADER_BYTES);
}

/**
 * InternalRequest's bytes. A request that came off the wire is embedded as its received bytes,
 * which is exactly how protobuf encodes a message field: tag, length, bytes; the header (field
 * 31), when there is one, follows it (protobuf fields may come in any order).
 */
function encodeBody(req: InternalRequest): Uint8Array {
  for (const [name, field] of FIELDS) {
    const sub = req[name];
    if (sub === undefined || sub === null) continue;
    const raw = rawRequestBytes.get(sub);
    if (raw === undefined) break;
    const parts = [lengthDelimited(field, raw.length), raw];
    if (req.header !== undefined && req.header !== null) parts.push(headerFieldBytes(req.header));
    return Buffer.concat(parts);
  }
  const type = protoType('etcdtspb.InternalRequest');
  return type.encode(type.fromObject(req)).finish();
}

const HEADER_FIELD = 31;

/** Tag and length of a length-delimited field. */
function lengthDelimited(field: number, length: number): Buffer {
  const prefix = varintBytes((field << 3) | 2);
  prefix.push(...varintBytes(length));
  return Buffer.from(prefix);
}

function varintBytes(v: number): number[] {
  const out: number[] = [];
  for (let n = v; ; n = Math.floor(n / 0x80)) {
    if (n < 0x80) {
      out.push(n);
      return out;
    }
    out.push((n % 0x80) | 0x80);
  }
}

function headerBody(h: RequestHeader): Uint8Array {
  const type = protoType('etcdtspb.RequestHeader');
  return type.encode(type.fromObject(h)).finish();
}

/** The header as field 31 of InternalRequest. */
function headerFieldBytes(h: RequestHeader): Buffer {
  const body = headerBody(h);
  return Buffer.concat([lengthDelimited(HEADER_FIELD, body.length), body]);
}

/**
 * The size etcd checks against --max-request-bytes for the same request: its raft entry is the
 * request as a field of InternalRaftRequest plus a header (field 100: a 2-byte tag, a length, the
 * ID's tag and the ID as a varint, then the username and auth revision when there are some)
 * where ours has 16 fixed bytes and field 31 without the ID.
 */
export function etcdEntryBytes(data: Buffer, member: bigint, header?: RequestHeader | null): number {
  const idField = 1 + etcdRequestIdBytes(member);
  if (header === undefined || header === null) return data.length - HEADER_BYTES + 2 + 1 + idField;
  const content = headerBody(header).length;
  const ours = lengthDelimited(HEADER_FIELD, content).length + content;
  const etcdContent = content + idField;
  return data.length - HEADER_BYTES - ours + 2 + varintBytes(etcdContent).length + etcdContent;
}

/**
 * etcd's request IDs put the member ID's low 16 bits on top of 48 bits of time and counter, so
 * their varint length (7 to 10 bytes) depends on the member.
 */
function etcdRequestIdBytes(member: bigint): number {
  const top = Number(member & 0xffffn);
  const bits = 48 + (top === 0 ? 0 : Math.floor(Math.log2(top)) + 1);
  return Math.ceil(bits / 7);
}

export function entryHeader(data: Buffer): EntryHeader {
  return { member: data.readBigUInt64BE(0), id: data.readBigUInt64BE(8) };
}

/** InternalRequest's field 3 (put), length-delimited: its tag byte. */
const PUT_TAG = (3 << 3) | 2;

export function decodeEntryData(data: Buffer): InternalRequest {
  const body = entryBody(data);
  // A put without a header (no auth) is most of what a follower applies: decoded by hand, as the
  // gRPC handler decodes a PutRequest, without protobufjs's generic decode and toObject.
  if (body.length > 1 && body[0] === PUT_TAG) {
    const [len, at] = readVarint(body, 1);
    if (at > 0 && at + len === body.length) return { put: decodePutRequest(body.subarray(at)), header: null };
  }
  const type = protoType('etcdtspb.InternalRequest');
  return type.toObject(type.decode(body), CONVERSION) as InternalRequest;
}
