// Bulk-loads one bbolt bucket's B+tree from keys that arrive in order, emitting every finished
// node at once so that memory stays at one pending node per tree level, whatever the bucket size.
//
// Emission order: children before parents. A leaf is emitted when the next key would overflow it;
// its branch entry (first key, page id) then goes to the pending node one level up, and a branch
// is emitted when the next entry would overflow it — all its children are on disk by then, so
// every page id a node names is known when the node is written. The root is the last node. With
// room for 4 entries per branch, 5 leaves come out as:
//
//   page:  3    4    5    6    7    8           9         10
//          L0   L1   L2   L3   L4   B(L0..L3)   B(L4)     root(B8, B9)
//
// (L4's entry is what overflows the first branch, so L4 is written before it.)
//
// Packing: a node takes elements until it holds at least two and the next one would make it
// exceed one page (bbolt's fill percent 100%, the most compact layout bbolt itself accepts). A node
// whose elements do not fit one page spans ceil(size / pageSize) pages (page header `overflow` =
// pages - 1): this is how bbolt stores large values and keys. Two elements per node at least, as
// bbolt keeps, so every level has at most about half the nodes of the one below. The last node of a
// non-root level may have a single element: bbolt reads that fine and merges it on its next write.
//
// The same code runs twice: once to plan (no `out`: only page ids are counted) and once to write,
// so the plan and the file agree page for page.
import {
  BRANCH_PAGE_FLAG,
  BboltFormatError,
  ELEMENT_BYTES,
  LEAF_PAGE_FLAG,
  MAX_ELEMENTS_PER_NODE,
  MAX_KEY_BYTES,
  MAX_VALUE_BYTES,
  PAGE_HEADER_BYTES,
  writePageHeader,
} from './bbolt-format';

/** Hands out page ids in the order nodes are emitted. */
export class PageAllocator {
  constructor(public nextPgid: number) {}

  take(pages: number): number {
    const id = this.nextPgid;
    this.nextPgid += pages;
    return id;
  }
}

interface Item {
  key: Buffer;
  /** Leaf: the value; branch: unused (empty). */
  value: Buffer;
  /** Leaf: element flags (BUCKET_LEAF_FLAG for a nested bucket); branch: unused. */
  flags: number;
  /** Branch: the child's page id. */
  pgid: number;
}

/** The node being filled at one level. In planning mode `items` stays empty; only sizes count. */
class PendingNode {
  items: Item[] = [];
  count = 0;
  sizeBytes = PAGE_HEADER_BYTES;
  /** The first key: the branch key of this node in its parent. */
  firstKey: Buffer = Buffer.alloc(0);

  constructor(readonly leaf: boolean) {}
}

export class TreeBuilder {
  /** levels[0] holds leaves; levels[n] branches n levels up. Bounded by the tree height. */
  private readonly levels: PendingNode[] = [new PendingNode(true)];
  /** The previous key, copied into a reusable buffer: the caller may reuse its key buffers. */
  private readonly prevKey = Buffer.alloc(MAX_KEY_BYTES);
  private prevKeyBytes = -1;
  private finished = false;

  /**
   * @param out where finished node buffers go, in page order; undefined in the planning pass.
   * @param what names the bucket in error messages.
   */
  constructor(
    private readonly pageSize: number,
    private readonly pages: PageAllocator,
    private readonly out: Buffer[] | undefined,
    private readonly what: string,
  ) {}

  add(key: Buffer, value: Buffer, flags = 0): void {
    if (this.finished) throw new Error('bbolt writer: add after finish');
    if (key.length === 0) throw new BboltFormatError(`bbolt writer: empty key in ${this.what} (bbolt refuses it)`);
    if (key.length > MAX_KEY_BYTES) throw new BboltFormatError(`bbolt writer: key of ${key.length} bytes in ${this.what} exceeds bbolt's ${MAX_KEY_BYTES}`);
    if (value.length > MAX_VALUE_BYTES) throw new BboltFormatError(`bbolt writer: value of ${value.length} bytes in ${this.what} exceeds bbolt's maximum`);
    if (this.prevKeyBytes >= 0 && Buffer.compare(this.prevKey.subarray(0, this.prevKeyBytes), key) >= 0) {
      throw new BboltFormatError(`bbolt writer: keys of ${this.what} are not strictly increasing at ${key.toString('hex')}`);
    }
    key.copy(this.prevKey);
    this.prevKeyBytes = key.length;
    // Copies: the caller may reuse its buffers once the next pair is pulled.
    const item = this.out === undefined ? { key, value, flags, pgid: 0 } : { key: Buffer.from(key), value: Buffer.from(value), flags, pgid: 0 };
    this.push(0, item, ELEMENT_BYTES + key.length + value.length);
  }

  /** Emits every pending node up to the root and returns the root's page id. */
  finish(): number {
    if (this.finished) throw new Error('bbolt writer: finish twice');
    this.finished = true;
    // Closing a level adds an entry one level up, which can itself close and add a level: the
    // bound is re-read every turn. The top level's pending node is the root.
    for (let level = 0; level < this.levels.length; level++) {
      if (level === this.levels.length - 1) return this.emit(this.levels[level]);
      this.close(level);
    }
    throw new Error('bbolt writer: unreachable: no root level');
  }

  private push(level: number, item: Item, elementBytes: number): void {
    let node = this.levels[level];
    if (node.count >= MIN_KEYS_PER_NODE && node.sizeBytes + elementBytes > this.pageSize) {
      this.close(level);
      node = this.levels[level];
    }
    // When writing, item keys are already our copies; planning needs only the first key's length
    // (a Buffer's length never changes, even if the caller reuses it).
    if (node.count === 0) node.firstKey = item.key;
    if (this.out !== undefined) node.items.push(item);
    node.count++;
    node.sizeBytes += elementBytes;
    if (node.count > MAX_ELEMENTS_PER_NODE) throw new Error('bbolt writer: node element count overflow');
  }

  /** Emits the pending node of `level`, starts a fresh one, and links the emitted one upward. */
  private close(level: number): void {
    const node = this.levels[level];
    const pgid = this.emit(node);
    this.levels[level] = new PendingNode(node.leaf);
    if (this.levels.length === level + 1) this.levels.push(new PendingNode(false));
    this.push(level + 1, { key: node.firstKey, value: EMPTY, flags: 0, pgid }, ELEMENT_BYTES + node.firstKey.length);
  }

  private emit(node: PendingNode): number {
    const pageCount = Math.ceil(node.sizeBytes / this.pageSize);
    const pgid = this.pages.take(pageCount);
    if (this.out !== undefined) this.out.push(encodeNode(node, pgid, pageCount, this.pageSize));
    return pgid;
  }
}

const EMPTY = Buffer.alloc(0);
/**
 * bbolt's minKeysPerPage: a node is never closed with fewer elements. Without it, keys larger than
 * a page would give every branch a single child and the tree would never reach a root.
 */
const MIN_KEYS_PER_NODE = 2;

/** Lays a node out as bbolt does: header, element table, then keys and values in element order. */
function encodeNode(node: PendingNode, pgid: number, pageCount: number, pageSize: number): Buffer {
  const buf = Buffer.alloc(pageCount * pageSize);
  writePageHeader(buf, { id: pgid, flags: node.leaf ? LEAF_PAGE_FLAG : BRANCH_PAGE_FLAG, count: node.count, overflow: pageCount - 1 });
  let data = PAGE_HEADER_BYTES + node.count * ELEMENT_BYTES;
  node.items.forEach((item, i) => {
    const at = PAGE_HEADER_BYTES + i * ELEMENT_BYTES;
    // pos counts from the element's own first byte.
    const pos = data - at;
    if (node.leaf) {
      buf.writeUInt32LE(item.flags, at);
      buf.writeUInt32LE(pos, at + 4);
      buf.writeUInt32LE(item.key.length, at + 8);
      buf.writeUInt32LE(item.value.length, at + 12);
    } else {
      buf.writeUInt32LE(pos, at);
      buf.writeUInt32LE(item.key.length, at + 4);
      buf.writeBigUInt64LE(BigInt(item.pgid), at + 8);
    }
    data += item.key.copy(buf, data);
    data += item.value.copy(buf, data);
  });
  if (data !== node.sizeBytes) throw new Error(`bbolt writer: node ${pgid} laid out ${data} bytes, planned ${node.sizeBytes}`);
  return buf;
}
