// The bytes of one WAL record's payload (the part a frame's CRC covers). Hand-written, not
// protobuf: this runs for every Raft Ready on the write path, and decode runs for every record
// on start-up. All integers little-endian; u64 values are stored as two u32 halves and must be
// safe integers (indexes and terms stay below 2^53).
//
//   payload   = ordinal u32 | kind u8 | body
//   ordinal   = the record's position in the WAL's whole history (low 32 bits). The reader uses it
//               to tell a damaged record that is followed by later records (corruption) from
//               stale bytes of an older generation (whose ordinals are older): see segment-scan.ts.
//   entries   (kind 1) = count u32 | count × (index u64 | term u64 | type u8 | len u32 | data)
//   hardstate (kind 2) = term u64 | commit u64 | voteLen u8 | vote (utf-8, decimal member id or '')
//   snapshot  (kind 3) = index u64 | term u64
//   kind 4 is the segment header (segment-format.ts).
// Encoding writes straight into the caller's batch buffer: no per-record allocation.
import type { Entry, EntryType, HardState } from '../raft/types';

export type WalRecord =
  /** Appended entries; a later record whose first index is lower replaces the suffix (raft's append). */
  | { kind: 'entries'; entries: Entry[] }
  | { kind: 'hardstate'; hardState: HardState }
  /** The log was reset to start after (index, term). */
  | { kind: 'snapshot'; index: number; term: number };

export const enum PayloadKind {
  Entries = 1,
  HardState = 2,
  Snapshot = 3,
  SegmentHeader = 4,
}

/** ordinal u32 + kind u8 */
export const PAYLOAD_PREFIX_BYTES = 5;
const ENTRY_FIXED_BYTES = 8 + 8 + 1 + 4;
const VOTE_BYTES_MAX = 255;
const TWO_32 = 0x1_0000_0000;

/** Unchecked: recordPayloadBytes has validated every number of the record already. */
export function writeU64(buf: Buffer, n: number, at: number): void {
  buf.writeUInt32LE(n >>> 0, at);
  buf.writeUInt32LE(Math.floor(n / TWO_32), at + 4);
}

export function readU64(buf: Buffer, at: number): number {
  const hi = buf.readUInt32LE(at + 4);
  if (hi >= 0x20_0000) throw new RangeError('wal: u64 above 2^53');
  return hi * TWO_32 + buf.readUInt32LE(at);
}

function assertU64(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`wal: ${what} ${n} is not a non-negative safe integer`);
}

/**
 * The payload's byte length for `record`, prefix included. Also the record's validation: it
 * throws before anything is encoded, so a bad record never leaves half a frame in a batch.
 */
export function recordPayloadBytes(record: WalRecord): number {
  switch (record.kind) {
    case 'entries': {
      let n = PAYLOAD_PREFIX_BYTES + 4;
      for (const e of record.entries) {
        assertU64(e.index, 'entry index');
        assertU64(e.term, 'entry term');
        if (e.type !== 0 && e.type !== 1) throw new RangeError(`wal: entry type ${String(e.type)}`);
        n += ENTRY_FIXED_BYTES + e.data.length;
      }
      return n;
    }
    case 'hardstate': {
      const hs = record.hardState;
      assertU64(hs.term, 'term');
      assertU64(hs.commit, 'commit');
      const voteLen = Buffer.byteLength(hs.vote, 'utf8');
      if (voteLen > VOTE_BYTES_MAX) throw new RangeError(`wal: vote ${hs.vote} is longer than ${VOTE_BYTES_MAX} bytes`);
      return PAYLOAD_PREFIX_BYTES + 8 + 8 + 1 + voteLen;
    }
    case 'snapshot':
      assertU64(record.index, 'snapshot index');
      assertU64(record.term, 'snapshot term');
      return PAYLOAD_PREFIX_BYTES + 8 + 8;
  }
}

/** Writes `record`'s payload at buf[at..at + recordPayloadBytes(record)). */
export function encodeRecordPayload(record: WalRecord, ordinal: number, buf: Buffer, at: number): void {
  buf.writeUInt32LE(ordinal >>> 0, at);
  let p = at + PAYLOAD_PREFIX_BYTES;
  switch (record.kind) {
    case 'entries': {
      buf[at + 4] = PayloadKind.Entries;
      buf.writeUInt32LE(record.entries.length, p);
      p += 4;
      for (const e of record.entries) {
        writeU64(buf, e.index, p);
        writeU64(buf, e.term, p + 8);
        buf[p + 16] = e.type;
        buf.writeUInt32LE(e.data.length, p + 17);
        p += ENTRY_FIXED_BYTES;
        p += e.data.copy(buf, p);
      }
      return;
    }
    case 'hardstate': {
      const hs = record.hardState;
      buf[at + 4] = PayloadKind.HardState;
      writeU64(buf, hs.term, p);
      writeU64(buf, hs.commit, p + 8);
      buf[p + 16] = buf.write(hs.vote, p + 17, 'utf8');
      return;
    }
    case 'snapshot':
      buf[at + 4] = PayloadKind.Snapshot;
      writeU64(buf, record.index, p);
      writeU64(buf, record.term, p + 8);
      return;
  }
}

export function payloadOrdinal(buf: Buffer, start: number): number {
  return buf.readUInt32LE(start);
}

export function payloadKind(buf: Buffer, start: number): number {
  return buf[start + 4];
}

/** The last raft index a record names: an entries record's last entry, a snapshot mark's index; -1 for none. */
export function lastIndexOf(record: WalRecord): number {
  if (record.kind === 'entries') return record.entries.length > 0 ? record.entries[record.entries.length - 1].index : -1;
  return record.kind === 'snapshot' ? record.index : -1;
}

/**
 * For a record start-up does not need (the store holds its effects already): checks that
 * buf[start..end) parses as decodeRecordPayload parses it (the same RangeErrors) and returns the
 * last raft index it names: an entries record's last entry, a snapshot mark's index, -1 for a
 * hard state or an empty entries record. Entries are walked, not copied: those are the bulk.
 */
export function recordLastIndex(buf: Buffer, start: number, end: number): number {
  if (payloadKind(buf, start) !== PayloadKind.Entries) return lastIndexOf(decodeRecordPayload(buf, start, end));
  let last = -1;
  walkEntries(buf, start + PAYLOAD_PREFIX_BYTES, end, (index) => (last = index));
  return last;
}

/**
 * The entries of an entries body at buf[p..end), each checked and handed to `take` with where
 * its data lies; throws a RangeError where the bytes do not parse.
 */
function walkEntries(buf: Buffer, p: number, end: number, take: (index: number, term: number, type: EntryType, at: number, len: number) => void): void {
  if (p + 4 > end) throw new RangeError('record body runs past its frame');
  const count = buf.readUInt32LE(p);
  p += 4;
  // Each entry takes at least ENTRY_FIXED_BYTES: a count that cannot fit is garbage, not work to attempt.
  if (count > (end - p) / ENTRY_FIXED_BYTES) throw new RangeError(`entry count ${count} does not fit the record`);
  for (let i = 0; i < count; i++) {
    if (p + ENTRY_FIXED_BYTES > end) throw new RangeError('record body runs past its frame');
    const index = readU64(buf, p);
    const term = readU64(buf, p + 8);
    const type = buf[p + 16];
    if (type !== 0 && type !== 1) throw new RangeError(`entry type ${type}`);
    const len = buf.readUInt32LE(p + 17);
    p += ENTRY_FIXED_BYTES;
    if (p + len > end) throw new RangeError('record body runs past its frame');
    take(index, term, type, p, len);
    p += len;
  }
}

/**
 * The record in buf[start..end). Throws a RangeError if the bytes do not parse: the caller has
 * checked the CRC, so that means a format bug or a collision, and it reports corruption.
 * Entry data is copied so that the records do not pin the segment's read buffer.
 */
export function decodeRecordPayload(buf: Buffer, start: number, end: number): WalRecord {
  let p = start + PAYLOAD_PREFIX_BYTES;
  const need = (n: number): void => {
    if (p + n > end) throw new RangeError('record body runs past its frame');
  };
  switch (payloadKind(buf, start)) {
    case PayloadKind.Entries: {
      const entries: Entry[] = [];
      walkEntries(buf, p, end, (index, term, type, at, len) => {
        const data = Buffer.allocUnsafe(len);
        buf.copy(data, 0, at, at + len);
        entries.push({ index, term, type, data });
      });
      return { kind: 'entries', entries };
    }
    case PayloadKind.HardState: {
      need(17);
      const term = readU64(buf, p);
      const commit = readU64(buf, p + 8);
      const voteLen = buf[p + 16];
      p += 17;
      need(voteLen);
      return { kind: 'hardstate', hardState: { term, commit, vote: buf.toString('utf8', p, p + voteLen) } };
    }
    case PayloadKind.Snapshot:
      need(16);
      return { kind: 'snapshot', index: readU64(buf, p), term: readU64(buf, p + 8) };
    default:
      throw new RangeError(`unknown record kind ${payloadKind(buf, start)}`);
  }
}
