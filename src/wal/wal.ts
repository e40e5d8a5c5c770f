// The write-ahead log of raft records (entries, hard states, snapshot marks): append-only
// segment files with one durable write per batch (O_DSYNC: see segment-files.ts), as etcd's wal
// package has one fdatasync per batch. It owns the files in its
// directory and nothing else: it knows no LMDB, no gRPC, nothing of raft beyond the record types.
// The format is drawn in segment-format.ts and record-codec.ts; recovery rules in segment-scan.ts.
//
// Invariants:
// - Records reach the disk in append order, and a record is durable only when every record
//   before it is: one writer at a time (never two writes to a file at once), and a segment is
//   durable whole (its writes returned) before the next one gets its name.
// - A segment file with a final name always has a durable header (it is written and
//   made durable under the spare's temporary name before the rename), so only the last
//   segment can end in a torn write. Spares left over are deleted on open.
// - One Wal per directory at a time (no file lock: the caller owns the data dir).
// - After an I/O error nothing more is acknowledged: the WAL rejects every later call.
//
// Marks: every record gets the next ordinal of the log's whole history (1, 2, ... across
// restarts). A mark is the ordinal of the last record appended, so "everything up to mark m".
import { closeSync, mkdirSync, unlink } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { execAsync, execSync, type IoContext, type IoStep } from './batch-io';
import { WalUnusableError } from './errors';
import { encodeRecordPayload, lastIndexOf, recordPayloadBytes, type WalRecord } from './record-codec';
import { recoverLog } from './recovery';
import type { WalPosition } from './segment-scan';
import { FRAME_HEADER_BYTES, HEADER_FRAME_BYTES, encodeHeaderFrame, frameBytes, sealFrame, segmentFileName } from './segment-format';
import { SparePool, callback, fsyncDir } from './segment-files';

export type { WalRecord } from './record-codec';
export { WalCorruptError, WalUnusableError } from './errors';
export type WalMark = number;
export type { WalPosition } from './segment-scan';

export const DEFAULT_SEGMENT_BYTES = 8 * 1024 * 1024;
/** The caller bounds its pipeline; this only stops a runaway queue from eating the heap. */
export const MAX_PENDING_BYTES = 256 * 1024 * 1024;
const SEGMENT_BYTES_MIN = 4096;
const BATCH_BUFFER_BYTES_MIN = 64 * 1024;
/** Batch buffers kept for reuse, and the largest size kept: a huge batch's buffer is let go. */
const FREE_BUFFERS_MAX = 2;
const FREE_BUFFER_BYTES_MAX = 8 * 1024 * 1024;
/** Positions of the newest records kept for positionOf (a power of two; ordinals index it). */
const POSITIONS = 1024;

export interface WalOptions {
  segmentBytes?: number;
  log?: Logger;
  /**
   * The mark up to which the caller holds the records' effects already (the store's WAL mark):
   * open() checks those records but does not decode or return them.
   */
  heldMark?: number;
  /**
   * Where the record of heldMark was written (positionOf, saved by the caller with its mark):
   * open() then starts reading its segment there instead of at the segment's start.
   */
  heldPosition?: WalPosition;
}

export interface WalStats {
  /** Durable writes to segment files (records and new segments' headers), each like a write + fdatasync. */
  syncs: number;
  writes: number;
  bytesWritten: number;
  cuts: number;
}

interface Segment {
  seq: number;
  firstIndex: number;
  path: string;
  size: number;
  /** -1 when not open (every segment but the one being written). */
  fd: number;
  /** The header frame while the segment exists only in memory (planned by a cut); then undefined. */
  header: Buffer | undefined;
  /** The spare's temporary name between taking it and renaming it. */
  sparePath: string;
  firstOrdinal: number;
  /** firstOrdinal - 1 while the segment holds no record. */
  lastOrdinal: number;
}

/** Frames for one segment, contiguous from `offset`, not yet handed to the writer. */
interface Run {
  segment: Segment;
  offset: number;
  buf: Buffer;
  len: number;
  lastOrdinal: number;
}

interface Waiter {
  mark: WalMark;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class Wal {
  private readonly spares: SparePool;
  private readonly segments: Segment[] = [];
  /** Where the next frame goes in the last segment, counting frames not yet written. */
  private tailOffset = HEADER_FRAME_BYTES;
  /** The crc chain value after the last frame appended. */
  private crc = 0;
  private nextOrdinal = 1;
  private durableOrdinal = 0;
  /** The last raft index appended: names the next segment when a cut has no entries at hand. */
  private lastIndex = 0;
  private pending: Run[] = [];
  private pendingLen = 0;
  private inFlightLen = 0;
  private writing = false;
  private waiters: Waiter[] = [];
  private freeBuffers: Buffer[] = [];
  private failure: Error | undefined;
  private closed = false;
  private releasing: Promise<void> = Promise.resolve();
  private readonly counters: WalStats = { syncs: 0, writes: 0, bytesWritten: 0, cuts: 0 };
  /** Where the newest POSITIONS records were appended (see positionOf), by ordinal % POSITIONS. */
  private readonly positionNumbers = new Float64Array(POSITIONS * 4);
  private readonly positionCrcs = new Uint32Array(POSITIONS);
  private readonly io: IoContext;

  private constructor(
    private readonly dir: string,
    private readonly segmentBytes: number,
    private readonly log: Logger | undefined,
  ) {
    this.spares = new SparePool(dir, segmentBytes, log);
    this.io = { dir, spares: this.spares, counters: this.counters };
  }

  /**
   * Opens (creating if need be) the WAL in `dir` and reads every valid record back, in order,
   * those after options.heldMark only. records[i] has mark wal.lastMark() - records.length + 1 + i.
   * A torn tail of the last segment is zeroed and appending continues there; corruption anywhere
   * else throws WalCorruptError.
   */
  static open(dir: string, options: WalOptions = {}): { wal: Wal; records: WalRecord[]; tornTail: boolean } {
    const segmentBytes = Math.ceil(Math.max(SEGMENT_BYTES_MIN, options.segmentBytes ?? DEFAULT_SEGMENT_BYTES) / 8) * 8;
    mkdirSync(dir, { recursive: true });
    const wal = new Wal(dir, segmentBytes, options.log);
    const heldMark = options.heldMark ?? 0;
    const resume = options.heldPosition?.ordinal === heldMark ? options.heldPosition : undefined;
    const log = recoverLog(dir, segmentBytes, options.log, heldMark + 1, resume);
    if (log.segments.length === 0) {
      wal.createFirstSegment();
      return { wal, records: [], tornTail: false };
    }
    for (const s of log.segments) wal.segments.push({ ...s, fd: -1, header: undefined, sparePath: '' });
    const last = wal.lastSegment();
    last.fd = log.lastFd;
    wal.tailOffset = log.endOffset;
    wal.crc = log.endCrc;
    wal.nextOrdinal = last.lastOrdinal + 1;
    wal.durableOrdinal = last.lastOrdinal;
    wal.lastIndex = Math.max(0, last.firstIndex - 1);
    if (log.lastIndex >= 0) wal.lastIndex = log.lastIndex;
    const r = log.lastRecord;
    if (r !== undefined) wal.notePosition(r.ordinal, r.seq, r.offset, r.prevCrc);
    return { wal, records: log.records, tornTail: log.tornTail };
  }

  /** Queues records for the next write; returns their mark. Throws before queueing anything if a record is invalid. */
  append(records: WalRecord[]): WalMark {
    this.assertUsable();
    const payloads = records.map(recordPayloadBytes);
    let bytes = 0;
    for (const p of payloads) bytes += frameBytes(p);
    if (this.pendingBytes() + bytes > MAX_PENDING_BYTES) {
      throw new RangeError(`wal: ${this.pendingBytes() + bytes} bytes would be pending, above ${MAX_PENDING_BYTES}`);
    }
    for (let i = 0; i < records.length; i++) {
      const frame = frameBytes(payloads[i]);
      if (this.tailOffset + frame > this.lastSegment().size) this.cut(records[i], frame);
      const run = this.runWithRoom(frame);
      encodeRecordPayload(records[i], this.nextOrdinal, run.buf, run.len + FRAME_HEADER_BYTES);
      const prevCrc = this.crc;
      this.crc = sealFrame(run.buf, run.len, payloads[i], prevCrc);
      run.len += frame;
      run.lastOrdinal = run.segment.lastOrdinal = this.nextOrdinal;
      this.noteIndex(records[i]);
      this.notePosition(this.nextOrdinal++, run.segment.seq, this.tailOffset, prevCrc);
      this.tailOffset += frame;
      this.pendingLen += frame;
    }
    return this.lastMark();
  }

  /**
   * Where the record with this mark was appended, while it is among the newest POSITIONS: the
   * caller saves it with its mark, so that the next open reads from there (WalOptions.heldPosition).
   */
  positionOf(mark: WalMark): WalPosition | undefined {
    const slot = mark & (POSITIONS - 1);
    const n = this.positionNumbers;
    if (mark < 1 || n[slot * 4] !== mark) return undefined;
    return { ordinal: mark, seq: n[slot * 4 + 1], offset: n[slot * 4 + 2], lastIndex: n[slot * 4 + 3], prevCrc: this.positionCrcs[slot] };
  }

  /** Writes everything queued, durably, on this thread. Throws while an async write is in flight (see busy()). */
  syncNow(): void {
    this.assertUsable();
    if (this.writing) throw new Error('wal: syncNow while an asynchronous write is in flight');
    if (this.pending.length === 0) return;
    const runs = this.takePending();
    try {
      for (const step of this.batchSteps(runs)) execSync(step, this.io);
    } catch (err) {
      throw this.fail(err);
    }
    this.completeBatch(runs);
  }

  /**
   * Resolves once everything appended before the call is on disk. While one durable write is
   * in flight, records appended meanwhile wait and go together in the next one (group commit).
   */
  sync(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const mark = this.lastMark();
    if (mark <= this.durableOrdinal) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ mark, resolve, reject });
      if (!this.writing) void this.writeLoop();
    });
  }

  lastMark(): WalMark {
    return this.nextOrdinal - 1;
  }

  /** Whether an asynchronous write is in flight (syncNow would throw). */
  busy(): boolean {
    return this.writing;
  }

  /** Bytes appended but not yet durable (queued or being written): the caller bounds its pipeline by it. */
  pendingBytes(): number {
    return this.pendingLen + this.inFlightLen;
  }

  /**
   * Deletes, oldest first, every segment whose records all have marks <= `mark` and are durable,
   * except the segment being written. The files go in the background; the promise (which never
   * rejects) settles when they are gone.
   */
  releaseBefore(mark: WalMark): Promise<void> {
    this.assertUsable();
    while (this.segments.length > 1) {
      const [oldest, next] = this.segments;
      // `next.header === undefined`: the next segment has its name on disk, so `oldest` is
      // durable whole and closed.
      if (oldest.lastOrdinal > mark || oldest.lastOrdinal > this.durableOrdinal || next.header !== undefined) break;
      this.segments.shift();
      // One at a time with a directory fsync each: a crash mid-way leaves the newest segments,
      // never a gap in the sequence.
      this.releasing = this.releasing
        .then(() => callback((cb) => unlink(oldest.path, cb)))
        .then(() => fsyncDir(this.dir))
        .catch((err: unknown) => this.log?.warn({ err, path: oldest.path }, 'wal: failed to remove a released segment'));
    }
    return this.releasing;
  }

  stats(): WalStats {
    return { ...this.counters };
  }

  /**
   * Closes the files; deletes nothing. Records not yet durable are dropped (their sync()
   * rejects) and an asynchronous batch stops after its current step, as at a crash.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.fail(new WalUnusableError('closed'));
    this.spares.close();
    if (!this.writing) this.closeFds();
  }

  // --- append side ------------------------------------------------------------------------------

  private lastSegment(): Segment {
    return this.segments[this.segments.length - 1];
  }

  /** Starts a new segment for a frame that does not fit: sized to fit it if it alone exceeds segmentBytes. */
  private cut(record: WalRecord, frame: number): void {
    const seq = this.lastSegment().seq + 1;
    const firstIndex = record.kind === 'entries' && record.entries.length > 0 ? record.entries[0].index : this.lastIndex + 1;
    this.planSegment(seq, firstIndex, Math.max(this.segmentBytes, HEADER_FRAME_BYTES + frame));
    this.counters.cuts++;
  }

  private planSegment(seq: number, firstIndex: number, size: number): Segment {
    const { frame, crc } = encodeHeaderFrame({ seq, firstIndex, prevCrc: this.crc, firstOrdinal: this.nextOrdinal });
    const path = join(this.dir, segmentFileName(seq, firstIndex));
    const segment: Segment = { seq, firstIndex, path, size, fd: -1, header: frame, sparePath: '', firstOrdinal: this.nextOrdinal, lastOrdinal: this.nextOrdinal - 1 };
    this.segments.push(segment);
    this.crc = crc;
    this.tailOffset = HEADER_FRAME_BYTES;
    return segment;
  }

  /** The run for the last segment, with room for `bytes` more. */
  private runWithRoom(bytes: number): Run {
    const segment = this.lastSegment();
    let run = this.pending[this.pending.length - 1];
    if (run === undefined || run.segment !== segment) {
      run = { segment, offset: this.tailOffset, buf: this.batchBuffer(bytes), len: 0, lastOrdinal: 0 };
      this.pending.push(run);
    } else if (run.len + bytes > run.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(run.buf.length * 2, run.len + bytes));
      run.buf.copy(grown, 0, 0, run.len);
      run.buf = grown;
    }
    return run;
  }

  private batchBuffer(bytes: number): Buffer {
    const i = this.freeBuffers.findIndex((b) => b.length >= bytes);
    if (i >= 0) return this.freeBuffers.splice(i, 1)[0];
    return Buffer.allocUnsafe(Math.max(BATCH_BUFFER_BYTES_MIN, bytes));
  }

  private noteIndex(record: WalRecord): void {
    const index = lastIndexOf(record);
    if (index >= 0) this.lastIndex = index;
  }

  /** Typed arrays, not an object per record: this runs for every record appended. */
  private notePosition(ordinal: number, seq: number, offset: number, prevCrc: number): void {
    const slot = ordinal & (POSITIONS - 1);
    const n = this.positionNumbers;
    n[slot * 4] = ordinal;
    n[slot * 4 + 1] = seq;
    n[slot * 4 + 2] = offset;
    n[slot * 4 + 3] = this.lastIndex;
    this.positionCrcs[slot] = prevCrc;
  }

  // --- write side -------------------------------------------------------------------------------

  private takePending(): Run[] {
    const runs = this.pending;
    this.pending = [];
    this.inFlightLen += this.pendingLen;
    this.pendingLen = 0;
    return runs;
  }

  /**
   * The I/O of one batch, in order; run by execSync (syncNow) or execAsync (sync). Each write is
   * durable when it returns (O_DSYNC), so a segment is durable before the next one gets its name.
   * A new segment is written under its spare's temporary name and renamed only once its header
   * and first records are durable: a crash before the rename loses only unacknowledged records.
   */
  private *batchSteps(runs: Run[]): Generator<IoStep, void, void> {
    for (let i = 0; i < runs.length; i++) {
      const { segment } = runs[i];
      if (segment.header !== undefined && segment.fd < 0) yield* this.startSegmentSteps(segment);
      yield { op: 'write', fd: segment.fd, buf: runs[i].buf, len: runs[i].len, pos: runs[i].offset };
      if (i + 1 < runs.length && runs[i + 1].segment === segment) continue;
      if (segment.header !== undefined) yield* this.nameSegmentSteps(segment);
    }
  }

  /** A spare for the segment, with the header at its start (not yet durable). */
  private *startSegmentSteps(segment: Segment): Generator<IoStep, void, void> {
    const header = segment.header;
    if (header === undefined) throw new Error(`wal: segment ${segment.seq} is already on disk`);
    yield {
      op: 'take-spare',
      size: segment.size,
      use: (spare) => {
        segment.fd = spare.fd;
        segment.sparePath = spare.path;
      },
    };
    yield { op: 'write', fd: segment.fd, buf: header, len: header.length, pos: 0 };
  }

  /** Once the segment's first writes returned: its final name, made durable; the previous segment is done. */
  private *nameSegmentSteps(segment: Segment): Generator<IoStep, void, void> {
    yield { op: 'rename', from: segment.sparePath, to: segment.path };
    yield { op: 'fsync-dir' };
    segment.header = undefined;
    const prev = this.segments[this.segments.indexOf(segment) - 1];
    if (prev !== undefined && prev.fd >= 0) {
      yield { op: 'close', fd: prev.fd };
      prev.fd = -1;
    }
  }

  /** One batch at a time on the threadpool, for as long as some sync() waits for records not yet written. */
  private async writeLoop(): Promise<void> {
    this.writing = true;
    try {
      while (!this.closed && this.waiters.length > 0) {
        if (this.pending.length === 0) throw new Error('wal: a sync() waits for records that are not queued');
        const runs = this.takePending();
        const steps = this.batchSteps(runs);
        for (let step = steps.next(); step.done !== true; step = steps.next()) {
          await execAsync(step.value, this.io);
          // Closed meanwhile: stop between steps, as a crash would; nothing more is acknowledged.
          if (this.closed) return;
        }
        this.completeBatch(runs);
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.writing = false;
      if (this.closed) this.closeFds();
    }
  }

  private completeBatch(runs: Run[]): void {
    let bytes = 0;
    for (const run of runs) {
      bytes += run.len;
      if (this.freeBuffers.length < FREE_BUFFERS_MAX && run.buf.length <= FREE_BUFFER_BYTES_MAX) this.freeBuffers.push(run.buf);
    }
    this.inFlightLen -= bytes;
    const last = runs[runs.length - 1].lastOrdinal;
    if (last <= this.durableOrdinal) throw new Error(`wal: durable mark would go back from ${this.durableOrdinal} to ${last}`);
    this.durableOrdinal = last;
    let done = 0;
    while (done < this.waiters.length && this.waiters[done].mark <= last) this.waiters[done++].resolve();
    this.waiters.splice(0, done);
    this.prepareSpareIfHalfFull();
  }

  /** Creates the next segment's file in the background once the current one is half full: off the hot path, before the cut needs it. */
  private prepareSpareIfHalfFull(): void {
    if (this.tailOffset * 2 >= this.lastSegment().size) this.spares.prepare();
  }

  // --- open and failure ---------------------------------------------------------------------------

  private createFirstSegment(): void {
    const segment = this.planSegment(0, 0, this.segmentBytes);
    try {
      for (const step of this.startSegmentSteps(segment)) execSync(step, this.io);
      for (const step of this.nameSegmentSteps(segment)) execSync(step, this.io);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  private assertUsable(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** Makes the WAL unusable and rejects every waiter; returns the error later calls throw. */
  private fail(err: unknown): Error {
    if (this.failure === undefined) {
      this.failure = err instanceof WalUnusableError ? err : new WalUnusableError(`I/O error: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      if (!this.closed) this.log?.error({ err, dir: this.dir }, 'wal: write failed; nothing more will be acknowledged');
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(this.failure);
    return this.failure;
  }

  private closeFds(): void {
    for (const segment of this.segments) {
      if (segment.fd >= 0) closeSync(segment.fd);
      segment.fd = -1;
    }
  }
}
