// etcd's snapshot stream and file: the bbolt database bytes followed by the sha256 of those bytes.
//
//   +---------------------------------------------+----------------------+
//   | bbolt db: pgid * pageSize bytes             | sha256(db), 32 bytes |
//   +---------------------------------------------+----------------------+
//
// etcd 3.4's Maintenance.Snapshot (api/v3rpc/maintenance.go) streams the db in blobs while hashing
// them, then sends the 32-byte digest as one last SnapshotResponse. `etcdctl snapshot save` writes
// every blob to the file and refuses a result whose size is not 32 mod 512; `snapshot restore`
// (clientv3/snapshot) treats a file as trailed exactly when size % 512 == 32 (a db is a whole
// number of pages, and pages are multiples of 512 bytes), compares the trailer with sha256 of
// everything before it, and without a trailer insists on --skip-hash-check (a db copied from a
// data dir). We follow the same rule and messages. Never holds more than one read buffer.
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { bboltChunks, planBbolt, type BboltBucketSource, type BboltLayout, type BboltWriteOptions } from './bbolt-writer';

export const SHA256_TRAILER_BYTES = 32;
/** etcd's unit: "a minimum disk sector size smaller than (and dividing) the OS page size". */
export const SNAPSHOT_SECTOR_BYTES = 512;
const READ_BUFFER_BYTES = 1024 * 1024;

export class SnapshotFileError extends Error {
  override readonly name = 'SnapshotFileError';
}

/** etcdctl's hasChecksum: does a file of this size end with a sha256 trailer? */
export function hasSha256Trailer(sizeBytes: number): boolean {
  return sizeBytes % SNAPSHOT_SECTOR_BYTES === SHA256_TRAILER_BYTES;
}

export interface SnapshotFileCheck {
  /** Bytes of the bbolt database, the file without its trailer. */
  dbBytes: number;
  hasTrailer: boolean;
  /** The verified digest; undefined when the file has no trailer (and skipHashCheck allowed it). */
  sha256: Buffer | undefined;
}

/**
 * Checks a snapshot file as `etcdctl snapshot restore` does before using it. Throws
 * SnapshotFileError on a missing trailer (unless skipHashCheck) or a digest mismatch. With
 * skipHashCheck a trailer is still recognised (and excluded from dbBytes) but not compared.
 */
export function verifySnapshotFile(path: string, options: { skipHashCheck?: boolean } = {}): SnapshotFileCheck {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const hasTrailer = hasSha256Trailer(size);
    const dbBytes = hasTrailer ? size - SHA256_TRAILER_BYTES : size;
    if (!hasTrailer) {
      if (options.skipHashCheck === true) return { dbBytes, hasTrailer, sha256: undefined };
      throw new SnapshotFileError(`snapshot ${path} missing hash but --skip-hash-check=false (size ${size} is not 32 mod 512: truncated, or a db copied from a data dir)`);
    }
    const expected = Buffer.alloc(SHA256_TRAILER_BYTES);
    readFully(fd, expected, dbBytes, path);
    if (options.skipHashCheck === true) return { dbBytes, hasTrailer, sha256: undefined };
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(Math.min(READ_BUFFER_BYTES, Math.max(dbBytes, 1)));
    for (let at = 0; at < dbBytes; ) {
      const n = Math.min(buf.length, dbBytes - at);
      readFully(fd, buf.subarray(0, n), at, path);
      hash.update(buf.subarray(0, n));
      at += n;
    }
    const actual = hash.digest();
    if (!actual.equals(expected)) throw new SnapshotFileError(`snapshot ${path}: expected sha256 ${expected.toString('hex')}, got ${actual.toString('hex')}`);
    return { dbBytes, hasTrailer, sha256: actual };
  } finally {
    closeSync(fd);
  }
}

/** Passes the db chunks through and appends their sha256, as etcd's Snapshot RPC sends it. */
export function* withSha256Trailer(dbChunks: Iterable<Buffer>): Generator<Buffer, void, undefined> {
  const hash = createHash('sha256');
  for (const chunk of dbChunks) {
    hash.update(chunk);
    yield chunk;
  }
  yield hash.digest();
}

/** The same for an async source (e.g. a db file read with a stream). */
export async function* withSha256TrailerAsync(dbChunks: AsyncIterable<Buffer> | Iterable<Buffer>): AsyncGenerator<Buffer, void, undefined> {
  const hash = createHash('sha256');
  for await (const chunk of dbChunks) {
    hash.update(chunk);
    yield chunk;
  }
  yield hash.digest();
}

export interface SnapshotStream {
  layout: BboltLayout;
  /** Bytes the stream will carry: the db plus the trailer. */
  totalBytes: number;
  /** The db in chunks, then the 32-byte digest as its own last chunk. */
  chunks: Generator<Buffer, void, undefined>;
}

/** A whole etcd snapshot from buckets: plan the db, then stream it with the trailer. */
export function snapshotStream(buckets: readonly BboltBucketSource[], options: BboltWriteOptions = {}): SnapshotStream {
  const layout = planBbolt(buckets, options);
  return { layout, totalBytes: layout.sizeBytes + SHA256_TRAILER_BYTES, chunks: withSha256Trailer(bboltChunks(buckets, layout, options)) };
}

function readFully(fd: number, buf: Buffer, position: number, path: string): void {
  for (let off = 0; off < buf.length; ) {
    const n = readSync(fd, buf, off, buf.length - off, position + off);
    if (n === 0) throw new SnapshotFileError(`snapshot ${path} ended early at byte ${position + off}`);
    off += n;
  }
}
