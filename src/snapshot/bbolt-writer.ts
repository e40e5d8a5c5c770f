// Writes a fresh, compact bbolt database (the format of etcd's member/snap/db and of what
// Maintenance.Snapshot streams) from top-level buckets whose pairs arrive in key order. The bytes
// come out front to back as a generator of chunks, so a caller can stream them to a socket with
// flow control; memory stays at a few pages per bucket-tree level, whatever the data size.
//
// Why two passes: bbolt wants its meta pages first in the file, and a meta names the root
// bucket's page and the high-water mark, which depend on every key and value size. Pass 1 (plan)
// runs the very same tree builder counting pages only; pass 2 writes. So each bucket's entries()
// is called twice and both calls must yield the same pairs (one read view). Pass 2 checks that it
// ended where the plan said and throws before the last pages go out if it did not.
//
// File layout (page size 4096 unless told otherwise):
//
//   page 0   meta, txid 2  ┐ identical but for the txid, as bbolt's own Tx.WriteTo writes them:
//   page 1   meta, txid 1  ┘ root = the root bucket's root page, freelist = 2, pgid = page count
//   page 2   freelist, empty (a compact file has no free page; stored so bbolt opened without
//            NoFreelistSync need not rebuild it)
//   page 3…  bucket by bucket in name order, each bucket's B+tree children before parents
//            (leaves in key order, each branch soon after its last child, the bucket's root
//            last; see bbolt-tree-builder.ts); pages of the root bucket (name -> bucket header)
//            come as they fill, and its root page is the file's last page
//
// Every bucket gets pages of its own, even a small or empty one: bbolt would inline a bucket of
// under a quarter page into its parent's leaf, but both forms are valid bbolt and reading either
// is the same; separate pages keep the writer single-minded. Nested buckets are not written (etcd
// has none). The bucket sequence (NextSequence) is 0 everywhere.
import { closeSync, fsyncSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { BUCKET_HEADER_BYTES, BUCKET_LEAF_FLAG, DEFAULT_PAGE_SIZE, FREELIST_PAGE_FLAG, encodeMetaPage, writePageHeader } from './bbolt-format';
import { PageAllocator, TreeBuilder } from './bbolt-tree-builder';

export interface BboltBucketSource {
  /** Top-level bucket name, non-empty; names must be distinct. */
  readonly name: Buffer;
  /**
   * The bucket's pairs in strictly increasing byte order of key (bbolt's order). Called once per
   * pass, so twice per file: both calls must yield the same pairs. Keys 1..32768 bytes, as bbolt.
   * The writer copies what it keeps, so the iterator may reuse its buffers between pairs.
   */
  entries(): Iterable<readonly [Buffer, Buffer]>;
}

export interface BboltWriteOptions {
  /** Power of two, 1024..65536. Default 4096. */
  pageSize?: number;
  /** Size of each yielded chunk but the last. Default 32 KiB, etcd's snapshot send buffer. */
  chunkBytes?: number;
}

export interface BboltLayout {
  readonly pageSize: number;
  /** Pages in the file, the meta's high-water mark. */
  readonly pageCount: number;
  /** pageCount * pageSize: the exact length of the stream. */
  readonly sizeBytes: number;
  readonly rootPgid: number;
  readonly freelistPgid: number;
}

const META_TXID = 2n;
const FREELIST_PGID = 2;
const FIRST_DATA_PGID = 3;
const DEFAULT_CHUNK_BYTES = 32 * 1024;

/** Pass 1 only: the layout (and so the byte size) of the file these buckets make. */
export function planBbolt(buckets: readonly BboltBucketSource[], options: BboltWriteOptions = {}): BboltLayout {
  const pageSize = checkPageSize(options.pageSize ?? DEFAULT_PAGE_SIZE);
  const run = buildPass(sortBuckets(buckets), pageSize, undefined);
  let step = run.next();
  while (step.done !== true) step = run.next();
  const { rootPgid, pageCount } = step.value;
  return { pageSize, pageCount, sizeBytes: pageCount * pageSize, rootPgid, freelistPgid: FREELIST_PGID };
}

/** Pass 2: the file's bytes, front to back, for a layout planBbolt made from the same buckets. */
export function* bboltChunks(buckets: readonly BboltBucketSource[], layout: BboltLayout, options: BboltWriteOptions = {}): Generator<Buffer, void, undefined> {
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1) throw new RangeError(`bbolt writer: chunkBytes ${chunkBytes}`);
  let sent = 0;
  for (const chunk of coalesce(pages(sortBuckets(buckets), layout), chunkBytes)) {
    sent += chunk.length;
    yield chunk;
  }
  if (sent !== layout.sizeBytes) throw new Error(`bbolt writer: wrote ${sent} bytes, planned ${layout.sizeBytes}`);
}

/** Both passes: the size up front (etcd reports it as remaining_bytes) and the lazy bytes. */
export function bboltStream(buckets: readonly BboltBucketSource[], options: BboltWriteOptions = {}): { layout: BboltLayout; chunks: Generator<Buffer, void, undefined> } {
  const layout = planBbolt(buckets, options);
  return { layout, chunks: bboltChunks(buckets, layout, options) };
}

/** Writes the database to `path` (replacing it), fsyncs, and removes the file again on failure. */
export function writeBboltFile(path: string, buckets: readonly BboltBucketSource[], options: BboltWriteOptions = {}): BboltLayout {
  const { layout, chunks } = bboltStream(buckets, options);
  const fd = openSync(path, 'w');
  try {
    for (const chunk of chunks) writeFully(fd, chunk);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(path);
    throw e;
  }
  closeSync(fd);
  return layout;
}

function writeFully(fd: number, buf: Buffer): void {
  for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
}

function* pages(buckets: readonly BboltBucketSource[], layout: BboltLayout): Generator<Buffer, void, undefined> {
  const { pageSize, rootPgid, pageCount } = layout;
  const meta = { pageSize, rootPgid, rootSequence: 0n, freelistPgid: FREELIST_PGID, pgid: pageCount };
  yield encodeMetaPage(pageSize, 0, { ...meta, txid: META_TXID });
  yield encodeMetaPage(pageSize, 1, { ...meta, txid: META_TXID - 1n });
  const freelist = Buffer.alloc(pageSize);
  writePageHeader(freelist, { id: FREELIST_PGID, flags: FREELIST_PAGE_FLAG, count: 0, overflow: 0 });
  yield freelist;

  const out: Buffer[] = [];
  const run = buildPass(buckets, pageSize, out);
  for (let step = run.next(); ; step = run.next()) {
    if (step.done === true) {
      // The metas already sent name this root and page count: a source that changed between
      // the passes must fail the stream, not end it as a file bbolt would misread.
      if (step.value.rootPgid !== rootPgid || step.value.pageCount !== pageCount) {
        throw new Error(
          `bbolt writer: the buckets changed between planning and writing (root page ${step.value.rootPgid} vs ${rootPgid}, ` +
            `${step.value.pageCount} pages vs ${pageCount}); entries() must read one consistent view`,
        );
      }
      yield* out.splice(0);
      return;
    }
    yield* out.splice(0);
  }
}

/**
 * One pass over every bucket. With `out`, finished nodes are pushed there and the pass pauses
 * (yields) after each pair that finished one, so at most a tree height of nodes wait in `out`.
 */
function* buildPass(buckets: readonly BboltBucketSource[], pageSize: number, out: Buffer[] | undefined): Generator<void, { rootPgid: number; pageCount: number }, undefined> {
  const pageIds = new PageAllocator(FIRST_DATA_PGID);
  const root = new TreeBuilder(pageSize, pageIds, out, 'the root bucket');
  for (const bucket of buckets) {
    const tree = new TreeBuilder(pageSize, pageIds, out, `bucket ${JSON.stringify(bucket.name.toString())}`);
    for (const [key, value] of bucket.entries()) {
      tree.add(key, value);
      if (out !== undefined && out.length > 0) yield;
    }
    const header = Buffer.alloc(BUCKET_HEADER_BYTES);
    header.writeBigUInt64LE(BigInt(tree.finish()), 0);
    root.add(bucket.name, header, BUCKET_LEAF_FLAG);
    if (out !== undefined && out.length > 0) yield;
  }
  const rootPgid = root.finish();
  return { rootPgid, pageCount: pageIds.nextPgid };
}

function sortBuckets(buckets: readonly BboltBucketSource[]): BboltBucketSource[] {
  const sorted = [...buckets].sort((a, b) => Buffer.compare(a.name, b.name));
  sorted.forEach((b, i) => {
    if (b.name.length === 0) throw new RangeError('bbolt writer: empty bucket name');
    if (i > 0 && sorted[i - 1].name.equals(b.name)) throw new RangeError(`bbolt writer: bucket ${JSON.stringify(b.name.toString())} given twice`);
  });
  return sorted;
}

/** Re-cuts buffers into chunks of exactly chunkBytes (the last may be shorter); bounded copies. */
function* coalesce(bufs: Iterable<Buffer>, chunkBytes: number): Generator<Buffer, void, undefined> {
  let parts: Buffer[] = [];
  let bytes = 0;
  for (const buf of bufs) {
    for (let off = 0; off < buf.length; ) {
      const take = Math.min(chunkBytes - bytes, buf.length - off);
      parts.push(buf.subarray(off, off + take));
      bytes += take;
      off += take;
      if (bytes === chunkBytes) {
        yield parts.length === 1 ? parts[0] : Buffer.concat(parts, bytes);
        parts = [];
        bytes = 0;
      }
    }
  }
  if (bytes > 0) yield Buffer.concat(parts, bytes);
}

function checkPageSize(pageSize: number): number {
  if (!Number.isInteger(pageSize) || pageSize < 1024 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
    throw new RangeError(`bbolt writer: page size ${pageSize} is not a power of two in 1024..65536`);
  }
  return pageSize;
}
