// Opening a WAL directory: every segment read back in sequence order, the chain checked across
// them, and the last segment made ready to append to (its torn tail zeroed and durable). The
// only writes here are that repair and the removal of leftover spares; everything that cannot
// be repaired throws WalCorruptError.
import { closeSync, fdatasyncSync, ftruncateSync, openSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { WalCorruptError } from './errors';
import type { WalRecord } from './record-codec';
import { SEGMENT_WRITE_FLAGS, SPARE_SUFFIX, readSegmentFile, writeAllSync } from './segment-files';
import { HEADER_FRAME_BYTES, parseSegmentFileName } from './segment-format';
import { resumesAt, scanSegment, type ChainExpectation, type SegmentScan, type WalPosition } from './segment-scan';

export interface RecoveredSegment {
  seq: number;
  firstIndex: number;
  path: string;
  size: number;
  firstOrdinal: number;
  /** firstOrdinal - 1 when the segment holds no record. */
  lastOrdinal: number;
}

export interface RecoveredLog {
  /** In sequence order; empty for a new WAL. */
  segments: RecoveredSegment[];
  /** The records from ordinal decodeFrom on (all of them by default), in order; the earlier ones were checked only. */
  records: WalRecord[];
  /** The last raft index any valid record names, -1 if none. */
  lastIndex: number;
  tornTail: boolean;
  /** The last segment opened for writing (-1 for a new WAL). */
  lastFd: number;
  /** Where the next frame goes in the last segment, and the chain value there. */
  endOffset: number;
  endCrc: number;
  /** Where the last valid record was written (undefined: the last segment holds none). */
  lastRecord: Omit<WalPosition, 'lastIndex'> | undefined;
}

const ZERO_CHUNK_BYTES = 1024 * 1024;

/**
 * `resume` (optional) says where the record before decodeFrom was written: its segment is read
 * and scanned from there (the frame there verified against the chain value saved with it), not
 * from its start. Measured on an 8 MiB segment: reading and checking it whole was ~30 ms of a
 * start. A position that does not verify is ignored: the segment is read whole as before.
 */
export function recoverLog(dir: string, segmentBytes: number, log: Logger | undefined, decodeFrom = 0, resume?: WalPosition): RecoveredLog {
  const names = readdirSync(dir);
  // A spare gets its final name only once its records are durable: a leftover one holds nothing.
  for (const name of names) if (name.endsWith(SPARE_SUFFIX)) unlinkSync(join(dir, name));
  const found = names
    .flatMap((name) => {
      const parsed = parseSegmentFileName(name);
      return parsed === undefined ? [] : [{ path: join(dir, name), ...parsed }];
    })
    .sort((a, b) => a.seq - b.seq);
  const recovered: RecoveredLog = { segments: [], records: [], lastIndex: -1, tornTail: false, lastFd: -1, endOffset: 0, endCrc: 0, lastRecord: undefined };
  let expected: ChainExpectation | undefined;
  for (let i = 0; i < found.length; i++) {
    const { path, seq, firstIndex } = found[i];
    if (i > 0 && seq !== found[i - 1].seq + 1) {
      throw new WalCorruptError(path, 0, seq === found[i - 1].seq ? `two segments with seq ${seq}` : `segment ${found[i - 1].seq + 1} is missing`);
    }
    const isLast = i === found.length - 1;
    const scan = scanFile(path, { seq, firstIndex }, expected, isLast, decodeFrom, resume?.seq === seq && resume.ordinal < decodeFrom ? resume : undefined);
    for (const r of scan.records) recovered.records.push(r);
    if (scan.lastIndex >= 0) recovered.lastIndex = scan.lastIndex;
    const lastOrdinal = scan.endOrdinal - 1;
    expected = { prevCrc: scan.endCrc, firstOrdinal: lastOrdinal + 1 };
    const segment: RecoveredSegment = { seq, firstIndex, path, size: scan.size, firstOrdinal: scan.header.firstOrdinal, lastOrdinal };
    recovered.segments.push(segment);
    if (!isLast) continue;
    if (scan.torn) log?.warn({ path, offset: scan.endOffset, discardedBytes: scan.dirtyEnd - scan.endOffset }, 'wal: discarding the torn tail of the last segment');
    recovered.lastFd = openSync(path, SEGMENT_WRITE_FLAGS);
    try {
      segment.size = repairTail(recovered.lastFd, segment.size, scan.endOffset, scan.dirtyEnd, segmentBytes);
    } catch (err) {
      closeSync(recovered.lastFd);
      throw err;
    }
    recovered.tornTail = scan.torn;
    recovered.endOffset = scan.endOffset;
    recovered.endCrc = scan.endCrc;
    if (scan.lastFrame !== undefined) recovered.lastRecord = { ordinal: lastOrdinal, seq, ...scan.lastFrame };
  }
  return recovered;
}

/** Reads and scans one segment, from `resume` when it verifies there (see recoverLog). */
function scanFile(
  path: string,
  name: { seq: number; firstIndex: number },
  expected: ChainExpectation | undefined,
  isLast: boolean,
  decodeFrom: number,
  resume: WalPosition | undefined,
): SegmentScan & { size: number } {
  if (resume !== undefined) {
    const { buf, dataEnd } = readSegmentFile(path, HEADER_FRAME_BYTES, resume.offset);
    if (resumesAt(buf, dataEnd, resume)) return { ...scanSegment(buf, dataEnd, path, name, expected, isLast, decodeFrom, resume), size: buf.length };
  }
  const { buf, dataEnd } = readSegmentFile(path);
  return { ...scanSegment(buf, dataEnd, path, name, expected, isLast, decodeFrom), size: buf.length };
}

/**
 * Zeroes [from, dirtyEnd) so that no byte of a torn record can come back, restores the
 * preallocated size of a file that was cut short, and makes both durable before any append
 * lands after them. Returns the file's size.
 */
function repairTail(fd: number, size: number, from: number, dirtyEnd: number, segmentBytes: number): number {
  let changed = false;
  if (dirtyEnd > from) {
    const zeros = Buffer.alloc(Math.min(dirtyEnd - from, ZERO_CHUNK_BYTES));
    for (let p = from; p < dirtyEnd; p += zeros.length) writeAllSync(fd, zeros, Math.min(zeros.length, dirtyEnd - p), p);
    changed = true;
  }
  if (size < segmentBytes) {
    ftruncateSync(fd, segmentBytes);
    size = segmentBytes;
    changed = true;
  }
  if (changed) fdatasyncSync(fd);
  return size;
}
