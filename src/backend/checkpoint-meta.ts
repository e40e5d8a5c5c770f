// The last checkpoint of an LMDB environment whose commits are not synced one by one.
//
// LMDB keeps two meta pages (pages 0 and 1 of data.mdb); the one with the higher transaction id
// names the current root. A commit without a sync may reach the disk in any order: after a
// machine crash the newer meta page can be there while pages it points to are not, or pages of
// the last synced state can have been reused. So at each checkpoint (a synced commit) the
// backend saves a copy of that commit's meta page here, and keeps a read transaction open on
// the state before it so that LMDB reuses none of its pages until the next checkpoint is saved.
// After any unclean stop the environment is opened at the saved meta page (written into both
// slots before LMDB opens the file): a state that is whole on disk. Whatever came after it is
// redone by the caller (the raft write-ahead log).
//
// The layout read here is lmdb-js's LMDB (a 24-byte page header, then MDB_meta with its boot id);
// pageMetaInfo checks the magic and the page number so that another layout is refused, not used.
//
// The saved copy lives in a small file of two slots written in turn (one pwrite and one
// fdatasync per save), each with a checksum: a torn write leaves the other slot valid. A slot
// also says whether the environment was closed cleanly after it: then the file is whole as it
// stands (and may have been changed since by another program, which must be kept).
import { closeSync, existsSync, fdatasync, fdatasyncSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32c } from '../mvcc/hash';

const PAGE_HEADER_BYTES = 24;
const MDB_MAGIC = 0xbeefc0de;
const META_MAGIC_OFFSET = PAGE_HEADER_BYTES;
/** mm_dbs[FREE_DBI].md_pad: the page size. */
const META_PAGE_SIZE_OFFSET = PAGE_HEADER_BYTES + 24;
const META_TXNID_OFFSET = PAGE_HEADER_BYTES + 128;
const MIN_PAGE_BYTES = 512;
const MAX_PAGE_BYTES = 65536;

export const CHECKPOINT_FILE = 'checkpoint-meta';
const SLOT_MAGIC = 0x45434b50; // "ECKP"
/** magic, sequence, page length, clean (u32: 1 when the environment closed cleanly after it); then the page; then a crc32c of all before it. */
const SLOT_HEADER_BYTES = 4 + 8 + 4 + 4;

export interface MetaPage {
  txnId: number;
  pageBytes: number;
  /** The whole meta page as LMDB wrote it. */
  page: Buffer;
}

export interface SavedCheckpoint extends MetaPage {
  seq: number;
  /** The environment was closed cleanly right after this checkpoint. */
  clean: boolean;
}

/** The page's meta fields, or undefined when it is not an LMDB meta page of the layout we know. */
function pageMetaInfo(page: Buffer, slot: number): { txnId: number; pageBytes: number } | undefined {
  if (page.length < META_TXNID_OFFSET + 8) return undefined;
  if (page.readUInt32LE(META_MAGIC_OFFSET) !== MDB_MAGIC) return undefined;
  if (page.readBigUInt64LE(0) !== BigInt(slot)) return undefined;
  const pageBytes = page.readUInt32LE(META_PAGE_SIZE_OFFSET);
  if (pageBytes < MIN_PAGE_BYTES || pageBytes > MAX_PAGE_BYTES || (pageBytes & (pageBytes - 1)) !== 0) return undefined;
  return { txnId: Number(page.readBigUInt64LE(META_TXNID_OFFSET)), pageBytes };
}

/**
 * What the first meta page is read into (the page is copied out): a checkpoint reads it ten
 * times a second, and a fresh 64 KiB each time was external memory that moved V8 toward a
 * full GC.
 */
let metaReadBuffer: Buffer | undefined;

/** Both meta pages of data.mdb, read through the page cache (what LMDB wrote last, synced or not); undefined if the layout is not the one we know. */
function readMetaPages(dataFile: string): [MetaPage, MetaPage | undefined] | undefined {
  const fd = openSync(dataFile, 'r');
  try {
    const first = (metaReadBuffer ??= Buffer.allocUnsafeSlow(MAX_PAGE_BYTES));
    const n = readSync(fd, first, 0, first.length, 0);
    const info0 = pageMetaInfo(first.subarray(0, n), 0);
    if (info0 === undefined) return undefined;
    const pageBytes = info0.pageBytes;
    const page0 = { txnId: info0.txnId, pageBytes, page: Buffer.from(first.subarray(0, pageBytes)) };
    const second = Buffer.alloc(pageBytes);
    if (readSync(fd, second, 0, pageBytes, pageBytes) !== pageBytes) return [page0, undefined];
    const info1 = pageMetaInfo(second, 1);
    return [page0, info1 === undefined || info1.pageBytes !== pageBytes ? undefined : { txnId: info1.txnId, pageBytes, page: second }];
  } finally {
    closeSync(fd);
  }
}

/** The meta page of transaction txnId, or undefined if neither slot holds it (a later commit replaced it). */
export function readMetaPage(dataFile: string, txnId: number): MetaPage | undefined {
  return readMetaPages(dataFile)?.find((m) => m?.txnId === txnId) ?? undefined;
}

/** data.mdb's current meta page (the one of the higher transaction id). */
export function readNewestMetaPage(dataFile: string): MetaPage | undefined {
  const pages = readMetaPages(dataFile);
  if (pages === undefined) return undefined;
  const [a, b] = pages;
  return b !== undefined && b.txnId > a.txnId ? b : a;
}

/** The transaction id of data.mdb's current meta page (the higher of the two), or undefined. */
export function currentTxnId(dataFile: string): number | undefined {
  return readNewestMetaPage(dataFile)?.txnId;
}

/**
 * The saved checkpoint of an environment directory: the slot file, opened once and written in
 * turn. Not safe for two processes (the caller owns the directory).
 */
export class CheckpointFile {
  private readonly path: string;
  private fd = -1;
  private seq = 0;

  constructor(dir: string) {
    this.path = join(dir, CHECKPOINT_FILE);
  }

  /** The newest valid saved checkpoint, if any. */
  read(): SavedCheckpoint | undefined {
    if (!existsSync(this.path)) return undefined;
    const fd = openSync(this.path, 'r');
    try {
      const size = fstatSync(fd).size;
      const buf = Buffer.alloc(size);
      readSync(fd, buf, 0, size, 0);
      const slotBytes = Math.floor(size / 2);
      let best: SavedCheckpoint | undefined;
      for (let s = 0; s < 2 && slotBytes > SLOT_HEADER_BYTES; s++) {
        const slot = decodeSlot(buf.subarray(s * slotBytes, (s + 1) * slotBytes));
        if (slot !== undefined && (best === undefined || slot.seq > best.seq)) best = slot;
      }
      return best;
    } finally {
      closeSync(fd);
    }
  }

  /** Saves meta as the newest checkpoint, durably (one write into the older slot, one fdatasync). */
  save(meta: MetaPage, clean = false): void {
    this.write(meta, clean);
    fdatasyncSync(this.fd);
  }

  /**
   * Saves meta as the newest checkpoint and resolves once that is durable: the write here (into
   * the page cache, in program order with every other save), its fdatasync on the thread pool.
   * Until it resolves either slot may be what a crash leaves, so the caller keeps both states.
   */
  saveAsync(meta: MetaPage): Promise<void> {
    this.write(meta, false);
    const fd = this.fd;
    return new Promise((resolve, reject) => fdatasync(fd, (err) => (err === null ? resolve() : reject(err))));
  }

  private write(meta: MetaPage, clean: boolean): void {
    if (this.fd < 0) {
      const existing = this.read();
      this.seq = existing?.seq ?? 0;
      this.fd = openSync(this.path, existsSync(this.path) ? 'r+' : 'w+');
    }
    this.seq++;
    const slotBytes = SLOT_HEADER_BYTES + meta.pageBytes + 4;
    const slot = Buffer.alloc(slotBytes);
    slot.writeUInt32LE(SLOT_MAGIC, 0);
    slot.writeBigUInt64LE(BigInt(this.seq), 4);
    slot.writeUInt32LE(meta.pageBytes, 12);
    slot.writeUInt32LE(clean ? 1 : 0, 16);
    meta.page.copy(slot, SLOT_HEADER_BYTES, 0, meta.pageBytes);
    slot.writeUInt32LE(crc32c(slot.subarray(0, slotBytes - 4)), slotBytes - 4);
    writeSync(this.fd, slot, 0, slotBytes, (this.seq % 2) * slotBytes);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

function decodeSlot(buf: Buffer): SavedCheckpoint | undefined {
  if (buf.readUInt32LE(0) !== SLOT_MAGIC) return undefined;
  const pageBytes = buf.readUInt32LE(12);
  const end = SLOT_HEADER_BYTES + pageBytes;
  if (end + 4 > buf.length) return undefined;
  if (crc32c(buf.subarray(0, end)) !== buf.readUInt32LE(end)) return undefined;
  const page = Buffer.from(buf.subarray(SLOT_HEADER_BYTES, end));
  const info = pageMetaInfo(page, Number(page.readBigUInt64LE(0)));
  if (info === undefined || info.pageBytes !== pageBytes) return undefined;
  return { seq: Number(buf.readBigUInt64LE(4)), clean: buf.readUInt32LE(16) === 1, txnId: info.txnId, pageBytes, page };
}

/**
 * Before LMDB opens data.mdb: unless the file stands at the checkpoint already, puts the
 * checkpoint's meta page into both meta slots (each with its own page number), so that LMDB
 * opens at that state. Not synced: a crash before the next checkpoint restores it again (and a
 * sync here would first write out everything the stop left unsynced, hundreds of MB after a
 * bulk load). Returns the transaction id the file stood at before (what the stop had committed).
 */
export function restoreMetaPage(dataFile: string, meta: MetaPage): number | undefined {
  const before = currentTxnId(dataFile);
  if (before === meta.txnId) return before;
  const fd = openSync(dataFile, 'r+');
  try {
    for (let slot = 0; slot < 2; slot++) {
      const page = Buffer.from(meta.page);
      page.writeBigUInt64LE(BigInt(slot), 0);
      writeSync(fd, page, 0, page.length, slot * meta.pageBytes);
    }
  } finally {
    closeSync(fd);
  }
  return before;
}
