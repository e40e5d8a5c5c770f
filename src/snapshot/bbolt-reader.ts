// Reads a bbolt database file — one our writer made, or etcd's own member/snap/db or snapshot
// (with or without the sha256 trailer): top-level buckets, a bucket's pairs in key order, point
// lookups. Pages are read on demand (bbolt-page-file.ts), so memory is one node per tree level
// whatever the file size. Handles everything bbolt v1.3 writes: branch pages, multi-page
// (overflow) nodes for large values, inline buckets (root 0, the page inside the parent's value),
// nested buckets, files with or without a stored freelist. Read-only; never writes the file.
//
// Corruption is reported as BboltFormatError naming the page: out-of-range page ids, headers that
// name another page, elements running past their node, keys out of order, walks that would visit
// more pages than the file has (cycles), trees deeper than MAX_TREE_DEPTH.
import { BUCKET_HEADER_BYTES, BUCKET_LEAF_FLAG, BboltFormatError, u64ToNumber, type BboltMeta } from './bbolt-format';
import { NodeView } from './bbolt-node-view';
import { PageFile, VisitBudget } from './bbolt-page-file';

/** bbolt splits nodes with at least 2 keys each, so even 2^64 keys need fewer levels than this. */
export const MAX_TREE_DEPTH = 64;

export interface BboltElement {
  key: Buffer;
  value: Buffer;
  /** The value is a nested bucket's header (and inline page). */
  isBucket: boolean;
}

export class BboltReader {
  private constructor(private readonly file: PageFile) {}

  /** Opens and checks the meta pages; throws BboltFormatError for a file bbolt would not open. */
  static open(path: string): BboltReader {
    return new BboltReader(PageFile.open(path));
  }

  get meta(): BboltMeta {
    return this.file.meta;
  }

  get pageSize(): number {
    return this.file.pageSize;
  }

  /** The database's size as bbolt counts it (pgid * pageSize), which excludes any trailer. */
  get sizeBytes(): number {
    return this.file.meta.pgid * this.file.pageSize;
  }

  get fileBytes(): number {
    return this.file.fileBytes;
  }

  /** The root bucket, whose entries are the top-level buckets. */
  root(): BboltBucket {
    const header = Buffer.alloc(BUCKET_HEADER_BYTES);
    header.writeBigUInt64LE(BigInt(this.file.meta.rootPgid), 0);
    header.writeBigUInt64LE(this.file.meta.rootSequence, 8);
    return new BboltBucket(this.file, 'the root bucket', header);
  }

  /** Names of the top-level buckets, in byte order. */
  bucketNames(): Buffer[] {
    return this.root().bucketNames();
  }

  bucket(name: Buffer | string): BboltBucket | undefined {
    return this.root().bucket(name);
  }

  /** A top-level bucket's plain pairs in key order; throws if the bucket does not exist. */
  entries(bucketName: Buffer | string): Generator<[Buffer, Buffer], void, undefined> {
    const b = this.bucket(bucketName);
    if (b === undefined) throw new BboltFormatError(`bbolt: no bucket ${JSON.stringify(bucketName.toString())} in ${this.file.path}`);
    return b.entries();
  }

  /** Stored free page ids; undefined when the file stores none (etcd runs bbolt with NoFreelistSync). */
  freePageIds(): number[] | undefined {
    return this.file.freePageIds();
  }

  close(): void {
    this.file.close();
  }
}

export class BboltBucket {
  /** 0 for an inline bucket. */
  readonly rootPgid: number;
  readonly sequence: bigint;
  private readonly inlineNode: NodeView | undefined;

  /**
   * @param label names the bucket in errors.
   * @param header the bucket's value in its parent: root pgid, sequence, [inline page].
   */
  constructor(
    private readonly file: PageFile,
    readonly label: string,
    header: Buffer,
  ) {
    if (header.length < BUCKET_HEADER_BYTES) throw new BboltFormatError(`bbolt: bucket ${label} has a ${header.length}-byte header`);
    this.rootPgid = u64ToNumber(header.readBigUInt64LE(0), `root page of bucket ${label}`);
    this.sequence = header.readBigUInt64LE(8);
    if (this.rootPgid === 0) {
      this.inlineNode = new NodeView(header.subarray(BUCKET_HEADER_BYTES), `inline bucket ${label}`);
      if (!this.inlineNode.leaf) throw new BboltFormatError(`bbolt: inline bucket ${label} is not a leaf page`);
    }
  }

  get inline(): boolean {
    return this.inlineNode !== undefined;
  }

  /** Every element in key order, nested buckets included, checking order as it goes. */
  *elements(): Generator<BboltElement, void, undefined> {
    const budget = new VisitBudget(this.file.pageLimit, `bucket ${this.label}`);
    const stack: { node: NodeView; next: number }[] = [{ node: this.rootNode(budget), next: 0 }];
    let prevKey: Buffer | undefined;
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      if (top.next >= top.node.count) {
        stack.pop();
        continue;
      }
      const i = top.next++;
      if (!top.node.leaf) {
        if (stack.length >= MAX_TREE_DEPTH) throw new BboltFormatError(`bbolt: bucket ${this.label} is deeper than ${MAX_TREE_DEPTH} levels`);
        stack.push({ node: this.child(top.node, i, budget), next: 0 });
        continue;
      }
      const key = top.node.key(i);
      if (prevKey !== undefined && Buffer.compare(prevKey, key) >= 0) {
        throw new BboltFormatError(`bbolt: keys of bucket ${this.label} are out of order at ${key.toString('hex')} in ${top.node.where}`);
      }
      prevKey = key;
      yield { key, value: top.node.value(i), isBucket: (top.node.flags(i) & BUCKET_LEAF_FLAG) !== 0 };
    }
  }

  /** The plain [key, value] pairs in key order (nested buckets are skipped: see bucketNames). */
  *entries(): Generator<[Buffer, Buffer], void, undefined> {
    for (const e of this.elements()) if (!e.isBucket) yield [e.key, e.value];
  }

  bucketNames(): Buffer[] {
    const names: Buffer[] = [];
    for (const e of this.elements()) if (e.isBucket) names.push(e.key);
    return names;
  }

  /** A nested bucket, or undefined if absent (or if the key holds a plain value). */
  bucket(name: Buffer | string): BboltBucket | undefined {
    const found = this.lookup(typeof name === 'string' ? Buffer.from(name) : name);
    if (found === undefined || !found.isBucket) return undefined;
    return new BboltBucket(this.file, JSON.stringify(found.key.toString()), found.value);
  }

  /** The value stored under `key`, or undefined (also for a nested bucket's name). */
  get(key: Buffer | string): Buffer | undefined {
    const found = this.lookup(typeof key === 'string' ? Buffer.from(key) : key);
    return found === undefined || found.isBucket ? undefined : found.value;
  }

  private lookup(key: Buffer): BboltElement | undefined {
    const budget = new VisitBudget(this.file.pageLimit, `bucket ${this.label}`);
    let node = this.rootNode(budget);
    for (let depth = 1; !node.leaf; depth++) {
      if (depth >= MAX_TREE_DEPTH) throw new BboltFormatError(`bbolt: bucket ${this.label} is deeper than ${MAX_TREE_DEPTH} levels`);
      node = this.child(node, node.childIndexFor(key), budget);
    }
    const i = node.indexOf(key);
    if (i < 0) return undefined;
    return { key: node.key(i), value: node.value(i), isBucket: (node.flags(i) & BUCKET_LEAF_FLAG) !== 0 };
  }

  private rootNode(budget: VisitBudget): NodeView {
    if (this.inlineNode !== undefined) return this.inlineNode;
    return new NodeView(this.file.readNode(this.rootPgid, budget), `page ${this.rootPgid} (root of bucket ${this.label})`);
  }

  private child(parent: NodeView, i: number, budget: VisitBudget): NodeView {
    const pgid = parent.childPgid(i);
    return new NodeView(this.file.readNode(pgid, budget), `page ${pgid} (bucket ${this.label})`);
  }
}
