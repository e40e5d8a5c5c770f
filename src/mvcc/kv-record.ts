// Binary layout of one stored key version (a row of the history and of the current-key table).
// Fixed header then key then value, so that decode is a few reads with no allocation beyond the
// two copies handed to callers.
//   flags u8 | create_revision u48 | mod_revision u48 | version u48 | lease i64 | keyLen u32 | key | value
export interface KeyValue {
  key: Buffer;
  create_revision: number;
  mod_revision: number;
  version: number;
  value: Buffer;
  /** Lease ID; 0n when the key has no lease. */
  lease: bigint;
}

export interface StoredRecord extends KeyValue {
  tombstone: boolean;
}

const HEADER_BYTES = 1 + 6 + 6 + 6 + 8 + 4;
const FLAG_TOMBSTONE = 1;

export function encodeRecord(kv: KeyValue, tombstone: boolean): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_BYTES + kv.key.length + kv.value.length);
  buf[0] = tombstone ? FLAG_TOMBSTONE : 0;
  buf.writeUIntBE(kv.create_revision, 1, 6);
  buf.writeUIntBE(kv.mod_revision, 7, 6);
  buf.writeUIntBE(kv.version, 13, 6);
  buf.writeBigInt64BE(kv.lease, 19);
  buf.writeUInt32BE(kv.key.length, 27);
  kv.key.copy(buf, HEADER_BYTES);
  kv.value.copy(buf, HEADER_BYTES + kv.key.length);
  return buf;
}

export function decodeRecord(buf: Buffer): StoredRecord {
  // Copies: a caller's buffer may be reused by its next read.
  return decodeRecordOwned(buf, true);
}

/**
 * Decodes a record whose buffer the caller owns and will not reuse (lmdb-js hands out a fresh
 * copy for every value a get or getRange returns): key and value are views into it, not copies.
 * A Range of 100,000 keys copied 30 MB twice more otherwise.
 */
export function decodeRecordOwned(buf: Buffer, copy = false): StoredRecord {
  const keyLen = buf.readUInt32BE(27);
  const keyEnd = HEADER_BYTES + keyLen;
  const key = buf.subarray(HEADER_BYTES, keyEnd);
  const value = buf.subarray(keyEnd);
  return {
    tombstone: (buf[0] & FLAG_TOMBSTONE) !== 0,
    create_revision: buf.readUIntBE(1, 6),
    mod_revision: buf.readUIntBE(7, 6),
    version: buf.readUIntBE(13, 6),
    lease: buf.readBigInt64BE(19),
    key: copy ? Buffer.from(key) : key,
    value: copy ? Buffer.from(value) : value,
  };
}

/** The user key of a record without decoding the rest (used to order long-key buckets). */
export function recordKey(buf: Buffer): Buffer {
  return buf.subarray(HEADER_BYTES, HEADER_BYTES + buf.readUInt32BE(27));
}

/** Whether a record is a tombstone, without decoding the rest (compaction checks many rows). */
export function isTombstoneRecord(buf: Buffer): boolean {
  return (buf[0] & FLAG_TOMBSTONE) !== 0;
}
