// File-system calls of the WAL, each in a blocking form (the idle fast path, open) and a libuv
// threadpool form (group commit under load), plus the pool that keeps one preallocated spare
// segment ready so that a cut does not wait for a file to be created.
//
// Preallocation writes zeros over the whole segment, then fdatasync (64 MiB: ~70 ms here, off
// the hot path but for the very first segment). A sparse file (ftruncate) looked as cheap on an
// idle disk, but every append into it allocates blocks: metadata, so each durable write commits
// the ext4 journal, which (data=ordered) first writes out every other file's dirty data — with
// LMDB's unsynced commits between checkpoints, measured, that put 20–40 ms stalls into writes.
// Into written zeros an append changes no metadata at all (not even the size).
//
// Segment files are opened with O_DSYNC: a write returns once its data is durable, as a write
// followed by fdatasync would, but in one system call. Under load that is one hand-off to the
// thread pool and back per batch instead of two; measured with 50 clients, each hand-off waited
// ~2 ms for the busy event loop, and the put rate followed.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';

export const SPARE_SUFFIX = '.tmp';

/** The reused buffer the zero tail of a segment is read through (small: its pages fault in once). */
const READ_CHUNK_BYTES = 256 * 1024;
/** Zeros written to preallocate a segment, a chunk at a time. */
const ZERO_CHUNK = Buffer.alloc(1024 * 1024);
/** How a segment file is opened for appending (see the header): writes are durable on return. */
export const SEGMENT_WRITE_FLAGS = fs.constants.O_RDWR | fs.constants.O_DSYNC;
/** A spare is created (never over an existing file) and zero-filled through a plain descriptor. */
const ZERO_FILL_FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL;

/**
 * A segment's bytes: `buf` has the file's length, and every byte from `dataEnd` on is zero.
 * The zero tail is found first, read backwards through one small reused buffer; then only
 * [0, dataEnd) is read, straight into `buf`. A preallocated segment is mostly zeros, and fresh
 * memory costs a page fault per 4 KiB touched (~12 µs each on this VM, measured): Buffer.alloc's
 * zeros are lazy, so the pages past dataEnd are never touched as long as the reader stays below
 * dataEnd. Bytes [skipFrom, skipTo) are left unread as zeros too, when asked (a resumed scan).
 */
export function readSegmentFile(path: string, skipFrom = 0, skipTo = 0): { buf: Buffer; dataEnd: number } {
  const fd = fs.openSync(path, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const chunk = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, size));
    let dataEnd = 0;
    for (let end = size; end > 0; ) {
      const start = Math.max(0, end - chunk.length);
      readFully(fd, chunk, end - start, start, path);
      const n = dataLength(chunk, end - start);
      if (n > 0) {
        dataEnd = start + n;
        break;
      }
      end = start;
    }
    const buf = Buffer.alloc(size);
    if (skipTo > skipFrom && skipTo <= dataEnd) {
      // [skipFrom, skipTo) is not wanted (see recovery's resume): it stays zeros, unread.
      readFully(fd, buf, skipFrom, 0, path);
      readFully(fd, buf.subarray(skipTo), dataEnd - skipTo, skipTo, path);
    } else readFully(fd, buf, dataEnd, 0, path);
    return { buf, dataEnd };
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads buf[0, len) from the file at pos; a file shorter than that is an error. */
function readFully(fd: number, buf: Buffer, len: number, pos: number, path: string): void {
  for (let done = 0; done < len; ) {
    const n = fs.readSync(fd, buf, done, len - done, pos + done);
    if (n === 0) throw new Error(`wal: ${path} ended at ${pos + done} while reading ${pos + len} bytes`);
    done += n;
  }
}

const ZERO_BLOCK = Buffer.alloc(4096);

/** The length of chunk[0, n) without its trailing zeros: memcmp a block at a time, bytes only in the last non-zero block. */
function dataLength(chunk: Buffer, n: number): number {
  let end = n;
  while (end > 0) {
    const start = Math.max(0, end - ZERO_BLOCK.length);
    if (chunk.compare(ZERO_BLOCK, 0, end - start, start, end) !== 0) break;
    end = start;
  }
  while (end > 0 && chunk[end - 1] === 0) end--;
  return end;
}

export function writeAllSync(fd: number, buf: Buffer, len: number, pos: number): void {
  for (let done = 0; done < len; ) done += fs.writeSync(fd, buf, done, len - done, pos + done);
}

export async function writeAll(fd: number, buf: Buffer, len: number, pos: number): Promise<void> {
  for (let done = 0; done < len; ) {
    done += await new Promise<number>((resolve, reject) =>
      fs.write(fd, buf, done, len - done, pos + done, (err, n) => (err === null ? resolve(n) : reject(err))),
    );
  }
}

/** Calls `fn` with a node-style callback and settles with its error. */
export function callback(fn: (cb: (err: NodeJS.ErrnoException | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => fn((err) => (err === null ? resolve() : reject(err))));
}

/** Makes the directory's entries (a rename, a new or removed file) durable. */
export function fsyncDirSync(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const fd = await new Promise<number>((resolve, reject) => fs.open(dir, 'r', (err, f) => (err === null ? resolve(f) : reject(err))));
  try {
    await callback((cb) => fs.fsync(fd, cb));
  } finally {
    await callback((cb) => fs.close(fd, cb));
  }
}

export interface SpareFile {
  /** A temporary name; the WAL renames it to the segment's name when it starts using it. */
  path: string;
  fd: number;
}

/**
 * At most one spare ready, at most one being created. Spares have random names so that a spare
 * still being created by a closed instance never collides with a new instance's.
 */
export class SparePool {
  private ready: SpareFile | undefined;
  private creating: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly dir: string,
    private readonly segmentBytes: number,
    private readonly log: Logger | undefined,
  ) {}

  /** Starts creating a spare in the background unless one is ready or on the way. */
  prepare(): void {
    if (this.ready !== undefined || this.creating !== undefined || this.closed) return;
    this.creating = this.createAsync()
      .then((spare) => {
        if (this.closed || this.ready !== undefined) return discard(spare);
        this.ready = spare;
      })
      .catch((err: unknown) => this.log?.warn({ err, dir: this.dir }, 'wal: failed to preallocate a spare segment; a cut will create one'))
      .finally(() => (this.creating = undefined));
  }

  /** A spare of at least `size` bytes, created on this thread if none is ready. */
  takeSync(size: number): SpareFile {
    const spare = this.ready ?? this.createSync();
    this.ready = undefined;
    if (size > this.segmentBytes) fs.ftruncateSync(spare.fd, size);
    return spare;
  }

  /** A spare of at least `size` bytes, waiting for the one being created if there is one. */
  async take(size: number): Promise<SpareFile> {
    if (this.ready === undefined && this.creating !== undefined) await this.creating;
    const spare = this.ready ?? (await this.createAsync());
    this.ready = undefined;
    if (size > this.segmentBytes) await callback((cb) => fs.ftruncate(spare.fd, size, cb));
    return spare;
  }

  /** Closes the ready spare's fd; the file stays (open() removes stray spares). */
  close(): void {
    this.closed = true;
    if (this.ready !== undefined) fs.closeSync(this.ready.fd);
    this.ready = undefined;
  }

  private nextPath(): string {
    return join(this.dir, `spare-${randomBytes(6).toString('hex')}${SPARE_SUFFIX}`);
  }

  /** Zeros written through a plain descriptor (one sync at the end), then the file opened again for durable appends. */
  private createSync(): SpareFile {
    const path = this.nextPath();
    const fill = fs.openSync(path, ZERO_FILL_FLAGS);
    try {
      for (let pos = 0; pos < this.segmentBytes; pos += ZERO_CHUNK.length) writeAllSync(fill, ZERO_CHUNK, Math.min(ZERO_CHUNK.length, this.segmentBytes - pos), pos);
      fs.fdatasyncSync(fill);
    } finally {
      fs.closeSync(fill);
    }
    return { path, fd: fs.openSync(path, SEGMENT_WRITE_FLAGS) };
  }

  private async createAsync(): Promise<SpareFile> {
    const path = this.nextPath();
    const fill = await new Promise<number>((resolve, reject) => fs.open(path, ZERO_FILL_FLAGS, (err, f) => (err === null ? resolve(f) : reject(err))));
    try {
      for (let pos = 0; pos < this.segmentBytes; pos += ZERO_CHUNK.length) await writeAll(fill, ZERO_CHUNK, Math.min(ZERO_CHUNK.length, this.segmentBytes - pos), pos);
      await callback((cb) => fs.fdatasync(fill, cb));
    } finally {
      await callback((cb) => fs.close(fill, cb));
    }
    const fd = await new Promise<number>((resolve, reject) => fs.open(path, SEGMENT_WRITE_FLAGS, (err, f) => (err === null ? resolve(f) : reject(err))));
    return { path, fd };
  }
}

function discard(spare: SpareFile): void {
  fs.close(spare.fd, () => fs.unlink(spare.path, () => undefined));
}
