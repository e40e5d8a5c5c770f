// The payload of a Raft log entry: a small fixed header naming the proposer and its request ID,
// then the request as protobuf (proto/etcdtspb/internal.proto). The header lets the proposing
// member find its own in-memory request without decoding the bytes it just encoded.
import { CONVERSION, protoType } from '../pb/load';
import type { InternalRequest } from '../pb/types';

const HEADER_BYTES = 16;

export interface EntryHeader {
  member: bigint;
  id: bigint;
}

export function encodeEntryData(member: bigint, id: bigint, req: InternalRequest): Buffer {
  const type = protoType('etcdtspb.InternalRequest');
  const body = type.encode(type.fromObject(req)).finish();
  const buf = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  buf.writeBigUInt64BE(member, 0);
  buf.writeBigUInt64BE(id, 8);
  buf.set(body, HEADER_BYTES);
  return buf;
}

export function entryHeader(data: Buffer): EntryHeader {
  return { member: data.readBigUInt64BE(0), id: data.readBigUInt64BE(8) };
}

export function decodeEntryData(data: Buffer): InternalRequest {
  const type = protoType('etcdtspb.InternalRequest');
  return type.toObject(type.decode(data.subarray(HEADER_BYTES)), CONVERSION) as InternalRequest;
}
