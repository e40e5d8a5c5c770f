// Reads a bbolt file's pages on demand (fs.readSync at page offsets, never the whole file) and
// guards every read: page ids are bounded by the meta's high-water mark and the file size, a
// page's header must name its own id, and a walk spends a budget of at most the file's page
// count, so a corrupt file that links pages in a cycle ends with an error instead of a hang.
// Picks the meta page by bbolt's rule (bbolt-format.ts). Owns the file descriptor.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { BboltFormatError, DEFAULT_PAGE_SIZE, FREELIST_COUNT_OVERFLOW, FREELIST_PAGE_FLAG, PAGE_HEADER_BYTES, decodeMetaPage, pickMeta, readPageHeader, u64ToNumber, type BboltMeta } from './bbolt-format';

/** How many pages one walk may read: each page at most once in a well-formed tree. */
export class VisitBudget {
  private spent = 0;

  constructor(
    private readonly pages: number,
    private readonly what: string,
  ) {}

  spend(pages: number): void {
    this.spent += pages;
    if (this.spent > this.pages) throw new BboltFormatError(`bbolt: walking ${this.what} reads more pages than the file has (${this.pages}): pages form a cycle or are shared`);
  }
}

export class PageFile {
  /** Pages a tree may use: below the meta's high-water mark (checked to lie inside the file). */
  readonly pageLimit: number;

  private constructor(
    readonly path: string,
    private fd: number,
    readonly fileBytes: number,
    readonly meta: BboltMeta,
  ) {
    this.pageLimit = meta.pgid;
  }

  static open(path: string): PageFile {
    const fd = openSync(path, 'r');
    try {
      const fileBytes = fstatSync(fd).size;
      // bbolt reads a 4 KiB first page to learn the page size; a shorter file is not a database.
      if (fileBytes < DEFAULT_PAGE_SIZE) throw new BboltFormatError(`bbolt: ${path} is ${fileBytes} bytes, too small for a bbolt file`);
      const meta0 = decodeMetaPage(readAt(fd, DEFAULT_PAGE_SIZE, 0, fileBytes, path));
      // As bbolt: trust meta 0's page size if it is valid, else assume the usual one.
      const pageSize = typeof meta0 === 'string' ? DEFAULT_PAGE_SIZE : meta0.pageSize;
      const meta1 = pageSize * 2 <= fileBytes ? decodeMetaPage(readAt(fd, pageSize, pageSize, fileBytes, path)) : 'meta page 1 is past the end of the file';
      const meta = pickMeta(meta0, meta1);
      if (meta.pageSize !== pageSize) throw new BboltFormatError(`bbolt: meta pages of ${path} disagree on the page size`);
      if (meta.pgid * pageSize > fileBytes) {
        throw new BboltFormatError(`bbolt: ${path} is truncated: its meta uses ${meta.pgid} pages (${meta.pgid * pageSize} bytes) but the file has ${fileBytes} bytes`);
      }
      return new PageFile(path, fd, fileBytes, meta);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  get pageSize(): number {
    return this.meta.pageSize;
  }

  /** A B+tree node (branch or leaf), all its overflow pages included. */
  readNode(pgid: number, budget: VisitBudget): Buffer {
    const first = this.readPage(pgid);
    const header = readPageHeader(first);
    if (header.id !== pgid) throw new BboltFormatError(`bbolt: page ${pgid} of ${this.path} has the header of page ${header.id}`);
    if (pgid + header.overflow >= this.pageLimit) throw new BboltFormatError(`bbolt: page ${pgid} of ${this.path} overflows ${header.overflow} pages past the last page ${this.pageLimit - 1}`);
    budget.spend(1 + header.overflow);
    if (header.overflow === 0) return first;
    const node = Buffer.allocUnsafe((1 + header.overflow) * this.pageSize);
    first.copy(node);
    this.readInto(node.subarray(this.pageSize), (pgid + 1) * this.pageSize);
    return node;
  }

  /** The stored free page ids, or undefined when the file stores no freelist (etcd's files). */
  freePageIds(): number[] | undefined {
    const pgid = this.meta.freelistPgid;
    if (pgid === undefined) return undefined;
    const first = this.readPage(pgid);
    const header = readPageHeader(first);
    if ((header.flags & FREELIST_PAGE_FLAG) === 0) throw new BboltFormatError(`bbolt: page ${pgid} of ${this.path} is not a freelist page (flags 0x${header.flags.toString(16)})`);
    if (pgid + header.overflow >= this.pageLimit) throw new BboltFormatError(`bbolt: freelist page ${pgid} of ${this.path} runs past the last page`);
    const node = header.overflow === 0 ? first : Buffer.concat([first, this.readRange((pgid + 1) * this.pageSize, header.overflow * this.pageSize)]);
    let at = PAGE_HEADER_BYTES;
    let count = header.count;
    if (count === FREELIST_COUNT_OVERFLOW) {
      count = u64ToNumber(node.readBigUInt64LE(at), 'freelist count');
      at += 8;
    }
    if (at + count * 8 > node.length) throw new BboltFormatError(`bbolt: freelist of ${this.path} claims ${count} ids, more than its pages hold`);
    const ids: number[] = [];
    for (let i = 0; i < count; i++) {
      const id = u64ToNumber(node.readBigUInt64LE(at + i * 8), 'free page id');
      if (id < 2 || id >= this.pageLimit) throw new BboltFormatError(`bbolt: freelist of ${this.path} names page ${id}, outside 2..${this.pageLimit - 1}`);
      ids.push(id);
    }
    return ids;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private readPage(pgid: number): Buffer {
    if (!Number.isSafeInteger(pgid) || pgid < 2 || pgid >= this.pageLimit) {
      throw new BboltFormatError(`bbolt: page id ${pgid} of ${this.path} is outside 2..${this.pageLimit - 1}`);
    }
    return this.readRange(pgid * this.pageSize, this.pageSize);
  }

  private readRange(position: number, length: number): Buffer {
    const buf = Buffer.allocUnsafe(length);
    this.readInto(buf, position);
    return buf;
  }

  private readInto(buf: Buffer, position: number): void {
    if (this.fd < 0) throw new Error(`bbolt: ${this.path} is closed`);
    fill(this.fd, buf, position, this.fileBytes, this.path);
  }
}

function readAt(fd: number, length: number, position: number, fileBytes: number, path: string): Buffer {
  const buf = Buffer.allocUnsafe(length);
  fill(fd, buf, position, fileBytes, path);
  return buf;
}

function fill(fd: number, buf: Buffer, position: number, fileBytes: number, path: string): void {
  if (position + buf.length > fileBytes) throw new BboltFormatError(`bbolt: ${path} is truncated: bytes ${position}..${position + buf.length} are past its end (${fileBytes})`);
  for (let off = 0; off < buf.length; ) {
    const n = readSync(fd, buf, off, buf.length - off, position + off);
    if (n === 0) throw new BboltFormatError(`bbolt: ${path} ended early at byte ${position + off}`);
    off += n;
  }
}
