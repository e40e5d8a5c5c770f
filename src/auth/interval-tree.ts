// The interval tree etcd keeps a user's permissions in (pkg/adt: a red-black tree ordered by
// interval begin, each node holding the largest end below it, insert as in Cormen et al. 13.3).
// For well-formed queries (begin < end) a tree answers exactly as a plain list would. It is
// built node for node as etcd builds it because of queries with begin > end (a Range whose
// range_end sorts below its key): which intervals etcd's search visits then depends on the
// tree's shape and its stored maxima, and so does whether etcd permits the request. Only insert
// and search: permissions are rebuilt, never edited.
// Bounds compare as bytes with the empty bound as +infinity (range-perms.ts' compareBound).

export interface Interval {
  begin: Buffer;
  /** Exclusive; empty = +infinity. */
  end: Buffer;
}

/** Compares two bounds with the empty bound as +infinity. */
export function compareBound(a: Buffer, b: Buffer): number {
  if (a.length === 0) return b.length === 0 ? 0 : 1;
  if (b.length === 0) return -1;
  return Buffer.compare(a, b);
}

/** pkg/adt's Interval.Compare: -1 a is left of b, 1 a is right of b, 0 they overlap (as etcd decides it). */
export function compareInterval(a: Interval, b: Interval): number {
  if (compareBound(a.begin, b.begin) < 0 && compareBound(a.end, b.begin) <= 0) return -1;
  if (compareBound(a.begin, b.end) >= 0) return 1;
  return 0;
}

const RED = true;
const BLACK = false;

interface Node {
  ivl: Interval;
  max: Buffer;
  left: Node;
  right: Node;
  parent: Node;
  red: boolean;
}

export class IntervalTree {
  private readonly nil: Node;
  private root: Node;
  private count = 0;

  constructor() {
    const nil = { red: BLACK } as Node;
    nil.left = nil;
    nil.right = nil;
    nil.parent = nil;
    this.nil = nil;
    this.root = nil;
  }

  get size(): number {
    return this.count;
  }

  insert(ivl: Interval): void {
    const nil = this.nil;
    const z: Node = { ivl, max: ivl.end, left: nil, right: nil, parent: nil, red: RED };
    let y = nil;
    let x = this.root;
    while (x !== nil) {
      y = x;
      x = compareBound(ivl.begin, x.ivl.begin) < 0 ? x.left : x.right;
    }
    z.parent = y;
    if (y === nil) this.root = z;
    else {
      if (compareBound(ivl.begin, y.ivl.begin) < 0) y.left = z;
      else y.right = z;
      this.updateMax(y);
    }
    this.insertFixup(z);
    this.count++;
  }

  /** Calls fn on every node overlapping q (compareInterval(q, node) === 0), in begin order, as etcd's search prunes. */
  visit(q: Interval, fn: (ivl: Interval) => void): void {
    this.visitNode(this.root, q, fn);
  }

  /** Whether some interval overlaps q (etcd's Intersects: one path down the tree). */
  intersects(q: Interval): boolean {
    const nil = this.nil;
    let x = this.root;
    while (x !== nil && compareInterval(q, x.ivl) !== 0) {
      x = x.left !== nil && compareBound(x.left.max, q.begin) > 0 ? x.left : x.right;
    }
    return x !== nil;
  }

  /**
   * Whether the intervals cover q (etcd's Contains): those the search visits leave no gap and
   * reach from at or below q's begin to at or above its end.
   */
  contains(q: Interval): boolean {
    let minBegin: Buffer | undefined;
    let maxEnd: Buffer | undefined;
    let contiguous = true;
    this.visit(q, (ivl) => {
      if (minBegin === undefined || maxEnd === undefined) {
        minBegin = ivl.begin;
        maxEnd = ivl.end;
        return;
      }
      if (compareBound(maxEnd, ivl.begin) < 0) contiguous = false;
      if (compareBound(ivl.end, maxEnd) > 0) maxEnd = ivl.end;
    });
    if (!contiguous || minBegin === undefined || maxEnd === undefined) return false;
    return compareBound(maxEnd, q.end) >= 0 && compareBound(minBegin, q.begin) <= 0;
  }

  private visitNode(x: Node, q: Interval, fn: (ivl: Interval) => void): void {
    if (x === this.nil) return;
    const v = compareInterval(q, x.ivl);
    if (v < 0) this.visitNode(x.left, q, fn);
    else if (v > 0) {
      if (compareInterval({ begin: x.ivl.begin, end: x.max }, q) === 0) {
        this.visitNode(x.left, q, fn);
        this.visitNode(x.right, q, fn);
      }
    } else {
      this.visitNode(x.left, q, fn);
      fn(x.ivl);
      this.visitNode(x.right, q, fn);
    }
  }

  /** Recomputes the max of x and its ancestors, stopping where a max is unchanged (as etcd). */
  private updateMax(node: Node): void {
    const nil = this.nil;
    let x = node;
    while (x !== nil) {
      let max = x.ivl.end;
      if (x.left !== nil && compareBound(x.left.max, max) > 0) max = x.left.max;
      if (x.right !== nil && compareBound(x.right.max, max) > 0) max = x.right.max;
      if (compareBound(x.max, max) === 0) break;
      x.max = max;
      x = x.parent;
    }
  }

  private insertFixup(node: Node): void {
    let z = node;
    while (z.parent.red) {
      const grand = z.parent.parent;
      if (z.parent === grand.left) {
        const uncle = grand.right;
        if (uncle.red) {
          uncle.red = BLACK;
          z.parent.red = BLACK;
          grand.red = RED;
          z = grand;
        } else {
          if (z === z.parent.right) {
            z = z.parent;
            this.rotateLeft(z);
          }
          z.parent.red = BLACK;
          z.parent.parent.red = RED;
          this.rotateRight(z.parent.parent);
        }
      } else {
        const uncle = grand.left;
        if (uncle.red) {
          uncle.red = BLACK;
          z.parent.red = BLACK;
          grand.red = RED;
          z = grand;
        } else {
          if (z === z.parent.left) {
            z = z.parent;
            this.rotateRight(z);
          }
          z.parent.red = BLACK;
          z.parent.parent.red = RED;
          this.rotateLeft(z.parent.parent);
        }
      }
    }
    this.root.red = BLACK;
  }

  // The maxima are refreshed at the same points as etcd's rotations refresh them.
  private rotateLeft(x: Node): void {
    const nil = this.nil;
    if (x.right === nil) return;
    const y = x.right;
    x.right = y.left;
    if (y.left !== nil) y.left.parent = x;
    this.updateMax(x);
    this.replaceParent(x, y);
    y.left = x;
    this.updateMax(y);
  }

  private rotateRight(x: Node): void {
    const nil = this.nil;
    if (x.left === nil) return;
    const y = x.left;
    x.left = y.right;
    if (y.right !== nil) y.right.parent = x;
    this.updateMax(x);
    this.replaceParent(x, y);
    y.right = x;
    this.updateMax(y);
  }

  private replaceParent(x: Node, y: Node): void {
    y.parent = x.parent;
    if (x.parent === this.nil) this.root = y;
    else {
      if (x === x.parent.left) x.parent.left = y;
      else x.parent.right = y;
      this.updateMax(x.parent);
    }
    x.parent = y;
  }
}
