// The on-disk shape of WAL segments: file names, frames, the CRC chain and the segment header.
// Pure functions over buffers; the reader is segment-scan.ts, the writer wal.ts.
//
// Segment file `%016x-%016x.wal` = (sequence number, first raft index the segment may hold), as
// etcd names them. A segment is preallocated (ftruncate to its size) and holds frames back to
// back from offset 0; unused space is zeros:
//
//   frame   = length u32 | crc u32 | payload (length bytes) | zero padding to a multiple of 8
//   crc     = crc32c(payload, crc of the previous frame)           -- the chain
//   frame 0 = the segment header, payload (40 bytes, see record-codec.ts for the prefix):
//             ordinal u32 (of the first record that follows) | kind u8 = 4 | version u8 = 1 |
//             0 u16 | prevCrc u32 | 0 u32 | seq u64 | firstIndex u64 | firstOrdinal u64
//             Its crc is chained from prevCrc, the chain value the previous segment ended with
//             (0 for the first segment ever), so the chain runs unbroken across segments.
//
// Why a chain: a frame only validates when its crc was computed from the crc of the frame
// written just before it in this log. Old frames left in a reused or preallocated region were
// computed from another chain, so they never pass as new records; a header carries the chain
// value in the clear so the first segment left after older ones were released still verifies.
import { crc32c } from '../mvcc/hash';
import { PAYLOAD_PREFIX_BYTES, PayloadKind, readU64, writeU64 } from './record-codec';

export const FRAME_HEADER_BYTES = 8;
export const FORMAT_VERSION = 1;
export const HEADER_PAYLOAD_BYTES = PAYLOAD_PREFIX_BYTES + 3 + 4 + 4 + 8 + 8 + 8;
export const HEADER_FRAME_BYTES = frameBytes(HEADER_PAYLOAD_BYTES);

export function frameBytes(payloadBytes: number): number {
  return FRAME_HEADER_BYTES + ((payloadBytes + 7) & ~7);
}

export interface SegmentHeader {
  seq: number;
  /** The first raft index the segment may hold (also in its name). */
  firstIndex: number;
  /** The crc chain value the previous segment ended with. */
  prevCrc: number;
  /** The ordinal of the segment's first record. */
  firstOrdinal: number;
}

const NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export function segmentFileName(seq: number, firstIndex: number): string {
  return `${seq.toString(16).padStart(16, '0')}-${firstIndex.toString(16).padStart(16, '0')}.wal`;
}

/** The (seq, firstIndex) of a segment file name, or undefined for any other file. */
export function parseSegmentFileName(name: string): { seq: number; firstIndex: number } | undefined {
  const m = NAME.exec(name);
  if (m === null) return undefined;
  const seq = BigInt(`0x${m[1]}`);
  const firstIndex = BigInt(`0x${m[2]}`);
  if (seq > MAX_SAFE || firstIndex > MAX_SAFE) return undefined;
  return { seq: Number(seq), firstIndex: Number(firstIndex) };
}

/**
 * Completes a frame whose payload is already at buf[at + 8, at + 8 + payloadBytes): writes the
 * length, the chained crc and zero padding. Returns the frame's crc (the next chain value).
 */
export function sealFrame(buf: Buffer, at: number, payloadBytes: number, prevCrc: number): number {
  const start = at + FRAME_HEADER_BYTES;
  const crc = crc32c(buf.subarray(start, start + payloadBytes), prevCrc);
  buf.writeUInt32LE(payloadBytes, at);
  buf.writeUInt32LE(crc, at + 4);
  buf.fill(0, start + payloadBytes, at + frameBytes(payloadBytes));
  return crc;
}

/** The header frame of a new segment, and the chain value it leaves for the segment's first record. */
export function encodeHeaderFrame(h: SegmentHeader): { frame: Buffer; crc: number } {
  const frame = Buffer.alloc(HEADER_FRAME_BYTES);
  const p = FRAME_HEADER_BYTES;
  frame.writeUInt32LE(h.firstOrdinal >>> 0, p);
  frame[p + 4] = PayloadKind.SegmentHeader;
  frame[p + 5] = FORMAT_VERSION;
  frame.writeUInt32LE(h.prevCrc, p + 8);
  writeU64(frame, h.seq, p + 16);
  writeU64(frame, h.firstIndex, p + 24);
  writeU64(frame, h.firstOrdinal, p + 32);
  const crc = sealFrame(frame, 0, HEADER_PAYLOAD_BYTES, h.prevCrc);
  return { frame, crc };
}

/**
 * The header at the start of `buf` with the chain value after it, or a reason it is not one.
 * Its crc is checked against the prevCrc it carries; whether that prevCrc continues the
 * previous segment's chain is the caller's check.
 */
export function decodeHeaderFrame(buf: Buffer): { header: SegmentHeader; crc: number } | string {
  if (buf.length < HEADER_FRAME_BYTES) return 'shorter than a segment header';
  if (buf.readUInt32LE(0) !== HEADER_PAYLOAD_BYTES) return 'no segment header';
  const p = FRAME_HEADER_BYTES;
  if (buf[p + 4] !== PayloadKind.SegmentHeader) return 'first record is not a segment header';
  if (buf[p + 5] !== FORMAT_VERSION) return `unknown format version ${buf[p + 5]}`;
  const prevCrc = buf.readUInt32LE(p + 8);
  const crc = buf.readUInt32LE(4);
  if (crc32c(buf.subarray(p, p + HEADER_PAYLOAD_BYTES), prevCrc) !== crc) return 'segment header crc mismatch';
  try {
    const header = { prevCrc, seq: readU64(buf, p + 16), firstIndex: readU64(buf, p + 24), firstOrdinal: readU64(buf, p + 32) };
    return { header, crc };
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
