// Reading one segment's bytes back into records, and deciding where its valid log ends. Pure:
// the caller (recovery.ts) reads the file, and zeroes the torn tail this reports.
//
// The rules (the format is in segment-format.ts):
// - A frame of 8 zero bytes followed only by zeros is the clean end: preallocated space.
// - Any other frame that does not verify (crc mismatch, runs past the file end, too short, or
//   stray bytes after the clean end) ends the log there. In the last segment that is the torn
//   tail of a write that was never acknowledged; in an earlier segment it is corruption, because
//   every earlier segment was fdatasynced whole before the next one was started.
// - Except: a damaged frame in the last segment that is followed by a frame chained on the
//   damaged frame's stored crc and carrying the next ordinal was once complete, and a later
//   record was written after it: that is corruption of acknowledged data, never a torn tail.
//   Two cases are let through as torn anyway: a whole 512-byte sector of the damaged frame
//   reads as zeros (as etcd's isTornEntry: sectors of one unacknowledged batch that reached
//   the disk out of order), or the followers carry other ordinals (stale frames of an older
//   generation of the file, which chain among themselves but belong to no current position).
import { crc32c } from '../mvcc/hash';
import { WalCorruptError } from './errors';
import { PAYLOAD_PREFIX_BYTES, PayloadKind, decodeRecordPayload, lastIndexOf, payloadKind, payloadOrdinal, recordLastIndex, type WalRecord } from './record-codec';
import { FRAME_HEADER_BYTES, HEADER_FRAME_BYTES, decodeHeaderFrame, frameBytes, type SegmentHeader } from './segment-format';

const SECTOR_BYTES = 512;
const ZEROS = Buffer.alloc(64 * 1024);

export interface SegmentScan {
  header: SegmentHeader;
  /** The decoded records, those with ordinals from max(header.firstOrdinal, decodeFrom) on, in order. */
  records: WalRecord[];
  /** The ordinal after the last valid record. */
  endOrdinal: number;
  /** The last raft index the valid records name (entries or snapshot marks), -1 if none. */
  lastIndex: number;
  /** Where the next frame goes. */
  endOffset: number;
  /** The chain value after the last valid frame. */
  endCrc: number;
  /** The last valid record's frame: its offset and the chain value before it (undefined: no record). */
  lastFrame: { offset: number; prevCrc: number } | undefined;
  /** The segment did not end in a clean zero frame: bytes from endOffset on are to be discarded. */
  torn: boolean;
  /** Bytes in [endOffset, dirtyEnd) are not all zero and must be zeroed before appending. */
  dirtyEnd: number;
}

/**
 * Where a record was appended (Wal.positionOf): its segment, its frame's offset, the crc chain
 * value before the frame, and the last raft index named by it and the records before it.
 */
export interface WalPosition {
  ordinal: number;
  seq: number;
  offset: number;
  prevCrc: number;
  lastIndex: number;
}

/** What the previous segment says this one must continue from; undefined for the first segment. */
export interface ChainExpectation {
  prevCrc: number;
  firstOrdinal: number;
}

/**
 * `buf` is the whole file; every byte from `dataEnd` on is zero (readSegmentFile), and the scan
 * never reads there in bulk, so a mostly empty preallocated segment costs only its data.
 * Records with ordinals below `decodeFrom` are checked (crc, ordinal, structure) but not decoded:
 * start-up needs only those past the store's mark, and decoding (with its copies of entry data)
 * the rest of a full segment was most of the time to open the log.
 */
export function scanSegment(
  buf: Buffer,
  dataEnd: number,
  file: string,
  name: { seq: number; firstIndex: number },
  expected: ChainExpectation | undefined,
  isLast: boolean,
  decodeFrom = 0,
  resume?: WalPosition,
): SegmentScan {
  const decoded = decodeHeaderFrame(buf);
  if (typeof decoded === 'string') throw new WalCorruptError(file, 0, decoded);
  const { header } = decoded;
  if (header.seq !== name.seq || header.firstIndex !== name.firstIndex) {
    throw new WalCorruptError(file, 0, `header says seq ${header.seq} first index ${header.firstIndex}, unlike the file name`);
  }
  if (expected !== undefined && (header.prevCrc !== expected.prevCrc || header.firstOrdinal !== expected.firstOrdinal)) {
    throw new WalCorruptError(file, 0, 'segment header does not continue the previous segment (crc chain or record ordinal)');
  }
  const records: WalRecord[] = [];
  let off = HEADER_FRAME_BYTES;
  let crc = decoded.crc;
  let ordinal = header.firstOrdinal;
  let lastIndex = -1;
  // The last valid record's frame (offset -1: none yet), reported as SegmentScan.lastFrame.
  let lastOffset = -1;
  let lastPrevCrc = 0;
  if (resume !== undefined) {
    // The caller checked resumesAt: the records before this frame were durable before the
    // caller took their effects, and are neither read nor checked again.
    const len = buf.readUInt32LE(resume.offset);
    off = resume.offset + frameBytes(len);
    crc = buf.readUInt32LE(resume.offset + 4);
    ordinal = resume.ordinal + 1;
    lastIndex = resume.lastIndex;
    lastOffset = resume.offset;
    lastPrevCrc = resume.prevCrc;
  }
  const lastFrame = (): SegmentScan['lastFrame'] => (lastOffset < 0 ? undefined : { offset: lastOffset, prevCrc: lastPrevCrc });
  let bad: string;
  for (;;) {
    const left = buf.length - off;
    if (left === 0) return { header, records, endOrdinal: ordinal, lastIndex, endOffset: off, endCrc: crc, lastFrame: lastFrame(), torn: false, dirtyEnd: off };
    if (left < FRAME_HEADER_BYTES) {
      bad = 'frame header runs past the end of the segment';
      break;
    }
    const len = buf.readUInt32LE(off);
    const stored = buf.readUInt32LE(off + 4);
    if (len === 0 && stored === 0) {
      const dirtyEnd = nonZeroEnd(buf, off, dataEnd);
      if (dirtyEnd === off) return { header, records, endOrdinal: ordinal, lastIndex, endOffset: off, endCrc: crc, lastFrame: lastFrame(), torn: false, dirtyEnd };
      bad = 'non-zero bytes after the end of the log';
      break;
    }
    if (len < PAYLOAD_PREFIX_BYTES) {
      bad = `frame length ${len} is shorter than a record`;
      break;
    }
    const start = off + FRAME_HEADER_BYTES;
    if (start + len > buf.length) {
      bad = `frame of ${len} bytes runs past the end of the segment`;
      break;
    }
    if (crc32c(buf.subarray(start, start + len), crc) !== stored) {
      bad = 'crc mismatch';
      break;
    }
    // The crc matched, so these bytes are what the writer wrote: a mismatch below is a bug or a
    // foreign file, never a torn write.
    if (payloadOrdinal(buf, start) !== ordinal >>> 0) throw new WalCorruptError(file, off, `record ordinal is not ${ordinal}`);
    if (payloadKind(buf, start) === PayloadKind.SegmentHeader) throw new WalCorruptError(file, off, 'segment header inside a segment');
    try {
      let index: number;
      if (ordinal < decodeFrom) index = recordLastIndex(buf, start, start + len);
      else {
        const record = decodeRecordPayload(buf, start, start + len);
        records.push(record);
        index = lastIndexOf(record);
      }
      if (index >= 0) lastIndex = index;
    } catch (err) {
      throw new WalCorruptError(file, off, err instanceof Error ? err.message : String(err));
    }
    lastOffset = off;
    lastPrevCrc = crc;
    crc = stored;
    ordinal++;
    off += frameBytes(len);
  }
  if (!isLast) throw new WalCorruptError(file, off, `${bad} in a segment that is not the last`);
  const wholeFrameHeader = buf.length - off >= FRAME_HEADER_BYTES;
  if (wholeFrameHeader && !hasZeroSector(buf, off) && hasSuccessor(buf, off, ordinal + 1, dataEnd)) {
    throw new WalCorruptError(file, off, `${bad}, and a later record that chains on it follows`);
  }
  return { header, records, endOrdinal: ordinal, lastIndex, endOffset: off, endCrc: crc, lastFrame: lastFrame(), torn: true, dirtyEnd: nonZeroEnd(buf, off, dataEnd) };
}

/**
 * Whether the segment in `buf` (its header frame and the bytes from resume.offset on read) has
 * the record `resume` names where it says: the frame there carries its ordinal, verifies against
 * the chain value saved with it, lies inside the segment's data and after its header.
 */
export function resumesAt(buf: Buffer, dataEnd: number, resume: WalPosition): boolean {
  const off = resume.offset;
  if (!Number.isSafeInteger(off) || off < HEADER_FRAME_BYTES || off % 8 !== 0 || off + FRAME_HEADER_BYTES + PAYLOAD_PREFIX_BYTES > dataEnd) return false;
  const len = buf.readUInt32LE(off);
  const start = off + FRAME_HEADER_BYTES;
  if (len < PAYLOAD_PREFIX_BYTES || start + len > dataEnd) return false;
  if (payloadOrdinal(buf, start) !== resume.ordinal >>> 0) return false;
  return crc32c(buf.subarray(start, start + len), resume.prevCrc >>> 0) === buf.readUInt32LE(off + 4);
}

/** The end of the last non-zero byte at or after `from` (`from` if there is none); none lies past dataEnd. */
function nonZeroEnd(buf: Buffer, from: number, dataEnd: number): number {
  let end = dataEnd;
  while (end > from) {
    const start = Math.max(from, end - ZEROS.length);
    if (buf.compare(ZEROS, 0, end - start, start, end) !== 0) {
      while (buf[end - 1] === 0) end--;
      return end;
    }
    end = start;
  }
  return from;
}

/**
 * Whether a whole file-aligned sector inside the damaged frame's payload reads as zeros: the
 * mark of a write that reached the disk only in part. Only whole sectors count: a lost sector
 * that holds just an edge of the payload also holds a frame header (this frame's or the next
 * one's), which then reads as zeros and ends the scan on its own; and short runs of zeros are
 * common in real payloads (the high halves of u64s), so counting them would hide corruption.
 */
function hasZeroSector(buf: Buffer, off: number): boolean {
  const payloadEnd = Math.min(buf.length, off + FRAME_HEADER_BYTES + buf.readUInt32LE(off));
  for (let p = Math.ceil((off + FRAME_HEADER_BYTES) / SECTOR_BYTES) * SECTOR_BYTES; p + SECTOR_BYTES <= payloadEnd; p += SECTOR_BYTES) {
    if (buf.compare(ZEROS, 0, SECTOR_BYTES, p, p + SECTOR_BYTES) === 0) return true;
  }
  return false;
}

/**
 * Whether some 8-aligned position after the damaged frame at `off` holds a valid frame with the
 * given ordinal chained on the damaged frame's stored crc. Every position is tried, not only the
 * one after the damaged frame's length, because the length itself may be what was damaged. The
 * ordinal check makes the crc computation rare.
 */
function hasSuccessor(buf: Buffer, off: number, ordinal: number, dataEnd: number): boolean {
  const seed = buf.readUInt32LE(off + 4);
  const ordinalLow = ordinal >>> 0;
  // A frame's length is non-zero, so a successor starts before dataEnd.
  const last = Math.min(dataEnd, buf.length - FRAME_HEADER_BYTES - PAYLOAD_PREFIX_BYTES);
  for (let p = off + FRAME_HEADER_BYTES; p < last; p += 8) {
    if (buf.readUInt32LE(p + FRAME_HEADER_BYTES) !== ordinalLow) continue;
    const len = buf.readUInt32LE(p);
    const start = p + FRAME_HEADER_BYTES;
    if (len < PAYLOAD_PREFIX_BYTES || start + len > buf.length) continue;
    if (crc32c(buf.subarray(start, start + len), seed) === buf.readUInt32LE(p + 4)) return true;
  }
  return false;
}
