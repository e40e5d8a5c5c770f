// A bounds-checked view of one bbolt B+tree node (a page with its overflow, or an inline bucket's
// page inside a leaf value); layouts in bbolt-format.ts. Every key, value and child id is checked
// to lie inside the node before it is handed out, so corrupt bytes give a BboltFormatError and
// never a read past the buffer. Keys and values returned are views into the node's buffer.
import { BRANCH_PAGE_FLAG, BboltFormatError, ELEMENT_BYTES, LEAF_PAGE_FLAG, PAGE_HEADER_BYTES, u64ToNumber } from './bbolt-format';

export class NodeView {
  readonly leaf: boolean;
  readonly count: number;

  /** @param where names the node in errors, e.g. "page 12" or "inline bucket meta". */
  constructor(
    private readonly buf: Buffer,
    readonly where: string,
  ) {
    if (buf.length < PAGE_HEADER_BYTES) throw new BboltFormatError(`bbolt: ${where} is shorter than a page header`);
    const flags = buf.readUInt16LE(8);
    const isLeaf = (flags & LEAF_PAGE_FLAG) !== 0;
    const isBranch = (flags & BRANCH_PAGE_FLAG) !== 0;
    if (isLeaf === isBranch) throw new BboltFormatError(`bbolt: ${where} is neither a leaf nor a branch page (flags 0x${flags.toString(16)})`);
    this.leaf = isLeaf;
    this.count = buf.readUInt16LE(10);
    if (PAGE_HEADER_BYTES + this.count * ELEMENT_BYTES > buf.length) throw new BboltFormatError(`bbolt: ${where} claims ${this.count} elements, more than it holds`);
    if (!this.leaf && this.count === 0) throw new BboltFormatError(`bbolt: ${where} is an empty branch page`);
  }

  /** Leaf element flags (BUCKET_LEAF_FLAG marks a nested bucket). */
  flags(i: number): number {
    this.leafOnly();
    return this.buf.readUInt32LE(this.elementAt(i));
  }

  key(i: number): Buffer {
    const at = this.elementAt(i);
    const [pos, ksize] = this.leaf ? [this.buf.readUInt32LE(at + 4), this.buf.readUInt32LE(at + 8)] : [this.buf.readUInt32LE(at), this.buf.readUInt32LE(at + 4)];
    return this.slice(at + pos, ksize, i, 'key');
  }

  value(i: number): Buffer {
    this.leafOnly();
    const at = this.elementAt(i);
    const pos = this.buf.readUInt32LE(at + 4);
    const ksize = this.buf.readUInt32LE(at + 8);
    const vsize = this.buf.readUInt32LE(at + 12);
    return this.slice(at + pos + ksize, vsize, i, 'value');
  }

  childPgid(i: number): number {
    if (this.leaf) throw new Error(`bbolt: ${this.where} is a leaf, it has no children`);
    return u64ToNumber(this.buf.readBigUInt64LE(this.elementAt(i) + 8), `child page id in ${this.where}`);
  }

  /** bbolt's descent rule: the last child whose first key is <= key (the first child if none). */
  childIndexFor(key: Buffer): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Buffer.compare(this.key(mid), key) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return Math.max(0, lo - 1);
  }

  /** Index of `key` in a leaf, or -1. */
  indexOf(key: Buffer): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = Buffer.compare(this.key(mid), key);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return -1;
  }

  private elementAt(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new RangeError(`bbolt: element ${i} of ${this.where} (count ${this.count})`);
    return PAGE_HEADER_BYTES + i * ELEMENT_BYTES;
  }

  private slice(start: number, length: number, i: number, what: string): Buffer {
    if (start + length > this.buf.length) throw new BboltFormatError(`bbolt: ${what} of element ${i} in ${this.where} runs past the node's end`);
    return this.buf.subarray(start, start + length);
  }

  private leafOnly(): void {
    if (!this.leaf) throw new Error(`bbolt: ${this.where} is a branch, it has no values`);
  }
}
