// bbolt's on-disk page format (bbolt v1.3.x, the version etcd 3.4 and 3.5 link): constants, the
// page header, the meta page and its checksum. Shared by bbolt-writer.ts and bbolt-reader.ts; owns
// no I/O. Learned from bbolt's page.go, db.go and bucket.go; the code is ours.
//
// bbolt writes its structs in the CPU's byte order. Every platform etcd ships binaries for except
// s390x is little-endian, so we read and write little-endian and name a big-endian file as such.
//
// A file is an array of pages of `pageSize` bytes; page id N lives at byte N * pageSize. A node
// (one B+tree node, the freelist) may span 1 + overflow consecutive pages.
//
// Page header, at the start of every page or node (16 bytes):
//   0        8        10       12          16
//   +--------+--------+--------+-----------+
//   | id u64 | flags  | count  | overflow  |
//   |        |  u16   |  u16   |   u32     |
//   +--------+--------+--------+-----------+
//   flags: 0x01 branch, 0x02 leaf, 0x04 meta, 0x10 freelist. count: elements (< 0xFFFF).
//   overflow: how many pages past the first this node covers.
//
// Meta page (pages 0 and 1), after the header (offsets from the page start):
//   16 magic u32 = 0xED0CDAED | 20 version u32 = 2 | 24 pageSize u32 | 28 flags u32 (0)
//   32 root bucket: root pgid u64 | 40 sequence u64
//   48 freelist pgid u64 (0xFFFF_FFFF_FFFF_FFFF = not stored, bbolt rebuilds it by scanning)
//   56 pgid u64: the high-water mark, one past the last page in use
//   64 txid u64
//   72 checksum u64 = FNV-64a of bytes [16, 72); 0 is accepted as "not checksummed"
//   bbolt uses the valid meta with the higher txid, else the other valid one.
//
// Leaf page: header, then `count` leaf elements of 16 bytes, then keys and values:
//   +-----------+---------+-----------+-----------+
//   | flags u32 | pos u32 | ksize u32 | vsize u32 |   key at (element start + pos), value right after
//   +-----------+---------+-----------+-----------+
//   flags 0x01 = the value is a nested bucket (a bucket header, below).
// Branch page: header, then `count` branch elements of 16 bytes, then keys:
//   +---------+-----------+-----------+
//   | pos u32 | ksize u32 | pgid u64  |   key = first key of the child page `pgid`
//   +---------+-----------+-----------+
//
// Bucket value (a leaf element with flag 0x01, and the meta's root bucket):
//   root pgid u64 | sequence u64 [| inline page: header + leaf elements + data, when root == 0]
//
// Freelist page: header (flags 0x10), then `count` page ids u64; when count == 0xFFFF the first
// u64 holds the real count and the ids follow it.

export const PAGE_HEADER_BYTES = 16;
export const ELEMENT_BYTES = 16;
export const BUCKET_HEADER_BYTES = 16;
export const META_BYTES = 64;

export const BRANCH_PAGE_FLAG = 0x01;
export const LEAF_PAGE_FLAG = 0x02;
export const META_PAGE_FLAG = 0x04;
export const FREELIST_PAGE_FLAG = 0x10;
export const BUCKET_LEAF_FLAG = 0x01;

export const BBOLT_MAGIC = 0xed0cdaed;
export const BBOLT_VERSION = 2;
/** Our writer's page size: the x86-64 / arm64 Linux page size, what etcd's own files use. */
export const DEFAULT_PAGE_SIZE = 4096;
/** A page count or element count of 0xFFFF does not fit; bbolt panics on such a node. */
export const MAX_ELEMENTS_PER_NODE = 0xfffe;
export const FREELIST_COUNT_OVERFLOW = 0xffff;
/** bbolt's MaxKeySize and MaxValueSize: its Put refuses anything larger. */
export const MAX_KEY_BYTES = 32768;
export const MAX_VALUE_BYTES = 2 ** 31 - 2;
/** Meta "freelist" value meaning the freelist was not written (NoFreelistSync, etcd's setting). */
export const NO_FREELIST = 0xffff_ffff_ffff_ffffn;

export interface PageHeader {
  id: number;
  flags: number;
  count: number;
  overflow: number;
}

export interface BboltMeta {
  magic: number;
  version: number;
  pageSize: number;
  flags: number;
  rootPgid: number;
  rootSequence: bigint;
  /** undefined when the file stores no freelist (meta freelist = NO_FREELIST). */
  freelistPgid: number | undefined;
  /** One past the highest page id in use. */
  pgid: number;
  txid: bigint;
  checksum: bigint;
}

/** Anything wrong with the bytes of a bbolt file: the message says what and where. */
export class BboltFormatError extends Error {
  override readonly name = 'BboltFormatError';
}

export function readPageHeader(buf: Buffer, offset = 0): PageHeader {
  return {
    id: u64ToNumber(buf.readBigUInt64LE(offset), 'page id'),
    flags: buf.readUInt16LE(offset + 8),
    count: buf.readUInt16LE(offset + 10),
    overflow: buf.readUInt32LE(offset + 12),
  };
}

export function writePageHeader(buf: Buffer, h: PageHeader, offset = 0): void {
  buf.writeBigUInt64LE(BigInt(h.id), offset);
  buf.writeUInt16LE(h.flags, offset + 8);
  buf.writeUInt16LE(h.count, offset + 10);
  buf.writeUInt32LE(h.overflow, offset + 12);
}

/** Page ids and sizes are numbers: 2^53 pages of 4 KiB is far beyond any file we can open. */
export function u64ToNumber(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new BboltFormatError(`bbolt: ${what} ${v} is out of range`);
  return Number(v);
}

const FNV64_OFFSET = 0xcbf29ce484222325n;
const FNV64_PRIME = 0x100000001b3n;
const U64_MASK = 0xffff_ffff_ffff_ffffn;

/** FNV-1a, 64-bit: bbolt's meta checksum (Go's hash/fnv New64a). Only ever 56 bytes long. */
export function fnv64a(bytes: Buffer): bigint {
  let h = FNV64_OFFSET;
  for (const b of bytes) h = ((h ^ BigInt(b)) * FNV64_PRIME) & U64_MASK;
  return h;
}

/** Meta offsets from the start of its page. */
const META_AT = PAGE_HEADER_BYTES;
const CHECKSUM_AT = META_AT + 56;

/** The meta as stored on page `page` (0 or 1) of a page-sized buffer. */
export function encodeMetaPage(pageSize: number, page: 0 | 1, m: Omit<BboltMeta, 'checksum' | 'magic' | 'version' | 'flags'>): Buffer {
  const buf = Buffer.alloc(pageSize);
  writePageHeader(buf, { id: page, flags: META_PAGE_FLAG, count: 0, overflow: 0 });
  buf.writeUInt32LE(BBOLT_MAGIC, META_AT);
  buf.writeUInt32LE(BBOLT_VERSION, META_AT + 4);
  buf.writeUInt32LE(m.pageSize, META_AT + 8);
  buf.writeUInt32LE(0, META_AT + 12);
  buf.writeBigUInt64LE(BigInt(m.rootPgid), META_AT + 16);
  buf.writeBigUInt64LE(m.rootSequence, META_AT + 24);
  buf.writeBigUInt64LE(m.freelistPgid === undefined ? NO_FREELIST : BigInt(m.freelistPgid), META_AT + 32);
  buf.writeBigUInt64LE(BigInt(m.pgid), META_AT + 40);
  buf.writeBigUInt64LE(m.txid, META_AT + 48);
  buf.writeBigUInt64LE(fnv64a(buf.subarray(META_AT, CHECKSUM_AT)), CHECKSUM_AT);
  return buf;
}

/**
 * The meta of a page-sized buffer, or why bbolt would reject it (magic, version, checksum, in
 * bbolt's order). Structural limits (page size, root below the high-water mark) are checked too:
 * bbolt would crash or misread on them, we refuse.
 */
export function decodeMetaPage(buf: Buffer): BboltMeta | string {
  if (buf.length < META_AT + META_BYTES) return 'meta page is truncated';
  const magic = buf.readUInt32LE(META_AT);
  if (magic !== BBOLT_MAGIC) {
    if (buf.readUInt32BE(META_AT) === BBOLT_MAGIC) return 'big-endian bbolt file (written on s390x?) is not supported';
    return `invalid magic 0x${magic.toString(16)} (not a bbolt file)`;
  }
  const version = buf.readUInt32LE(META_AT + 4);
  if (version !== BBOLT_VERSION) return `unsupported bbolt version ${version}`;
  const checksum = buf.readBigUInt64LE(CHECKSUM_AT);
  if (checksum !== 0n && checksum !== fnv64a(buf.subarray(META_AT, CHECKSUM_AT))) return 'meta checksum mismatch';
  const pageSize = buf.readUInt32LE(META_AT + 8);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return `unsupported page size ${pageSize}`;
  const freelistRaw = buf.readBigUInt64LE(META_AT + 32);
  const pgidRaw = buf.readBigUInt64LE(META_AT + 40);
  const rootRaw = buf.readBigUInt64LE(META_AT + 16);
  if (pgidRaw > BigInt(Number.MAX_SAFE_INTEGER)) return `high-water mark ${pgidRaw} is out of range`;
  if (rootRaw < 2n || rootRaw >= pgidRaw) return `root page ${rootRaw} is outside pages 2..${pgidRaw}`;
  if (freelistRaw !== NO_FREELIST && (freelistRaw < 2n || freelistRaw >= pgidRaw)) return `freelist page ${freelistRaw} is outside pages 2..${pgidRaw}`;
  return {
    magic,
    version,
    pageSize,
    flags: buf.readUInt32LE(META_AT + 12),
    rootPgid: Number(rootRaw),
    rootSequence: buf.readBigUInt64LE(META_AT + 24),
    freelistPgid: freelistRaw === NO_FREELIST ? undefined : Number(freelistRaw),
    pgid: Number(pgidRaw),
    txid: buf.readBigUInt64LE(META_AT + 48),
    checksum,
  };
}

/** bbolt's rule: the valid meta with the higher txid, else the other one if valid. */
export function pickMeta(meta0: BboltMeta | string, meta1: BboltMeta | string): BboltMeta {
  if (typeof meta0 !== 'string' && typeof meta1 !== 'string') return meta1.txid > meta0.txid ? meta1 : meta0;
  if (typeof meta0 !== 'string') return meta0;
  if (typeof meta1 !== 'string') return meta1;
  throw new BboltFormatError(`bbolt: no valid meta page (meta 0: ${meta0}; meta 1: ${meta1})`);
}
