// Go's sort.Sort as etcd 3.4 is built with it (Go 1.19: pattern-defeating quicksort). The sort is
// not stable, and the order it leaves equal elements in is part of etcd's answer: a Range sorted
// by version, create or mod revision or value lists keys with equal values in the order this
// algorithm leaves them, which is key order only for 12 keys or fewer (insertion sort). Clients
// that page through such a listing see etcd's order, so we sort the same way, step for step.
// Written from the algorithm's description (Peters' pdqsort paper and Go's sort package docs).

type Less = (i: number, j: number) => boolean;

const enum Hint {
  Unknown,
  Increasing,
  Decreasing,
}

/** Sorts xs in place with `less` exactly as Go's sort.Sort does with the same Less. */
export function goSort<T>(xs: T[], less: (a: T, b: T) => boolean): void {
  const n = xs.length;
  if (n <= 1) return;
  const s = new Sorter(xs, less);
  s.pdqsort(0, n, bitLength(n));
}

function bitLength(n: number): number {
  return n === 0 ? 0 : Math.floor(Math.log2(n)) + 1;
}

class Sorter<T> {
  constructor(
    private readonly xs: T[],
    private readonly lessThan: (a: T, b: T) => boolean,
  ) {}

  private readonly less: Less = (i, j) => this.lessThan(this.xs[i], this.xs[j]);

  private swap(i: number, j: number): void {
    const t = this.xs[i];
    this.xs[i] = this.xs[j];
    this.xs[j] = t;
  }

  pdqsort(a0: number, b0: number, limit0: number): void {
    const MAX_INSERTION = 12;
    let [a, b, limit] = [a0, b0, limit0];
    let wasBalanced = true;
    let wasPartitioned = true;
    for (;;) {
      const length = b - a;
      if (length <= MAX_INSERTION) {
        this.insertionSort(a, b);
        return;
      }
      if (limit === 0) {
        this.heapSort(a, b);
        return;
      }
      if (!wasBalanced) {
        this.breakPatterns(a, b);
        limit--;
      }
      let [pivot, hint] = this.choosePivot(a, b);
      if (hint === Hint.Decreasing) {
        this.reverseRange(a, b);
        pivot = b - 1 - (pivot - a);
        hint = Hint.Increasing;
      }
      if (wasBalanced && wasPartitioned && hint === Hint.Increasing && this.partialInsertionSort(a, b)) return;
      // Many equal elements: everything equal to the pivot goes left, and only the rest remains.
      if (a > 0 && !this.less(a - 1, pivot)) {
        a = this.partitionEqual(a, b, pivot);
        continue;
      }
      const [mid, alreadyPartitioned] = this.partition(a, b, pivot);
      wasPartitioned = alreadyPartitioned;
      const [left, right] = [mid - a, b - mid];
      const threshold = Math.trunc(length / 8);
      if (left < right) {
        wasBalanced = left >= threshold;
        this.pdqsort(a, mid, limit);
        a = mid + 1;
      } else {
        wasBalanced = right >= threshold;
        this.pdqsort(mid + 1, b, limit);
        b = mid;
      }
    }
  }

  private insertionSort(a: number, b: number): void {
    for (let i = a + 1; i < b; i++) for (let j = i; j > a && this.less(j, j - 1); j--) this.swap(j, j - 1);
  }

  private siftDown(lo: number, hi: number, first: number): void {
    let root = lo;
    for (;;) {
      let child = 2 * root + 1;
      if (child >= hi) return;
      if (child + 1 < hi && this.less(first + child, first + child + 1)) child++;
      if (!this.less(first + root, first + child)) return;
      this.swap(first + root, first + child);
      root = child;
    }
  }

  private heapSort(a: number, b: number): void {
    const hi = b - a;
    for (let i = Math.trunc((hi - 1) / 2); i >= 0; i--) this.siftDown(i, hi, a);
    for (let i = hi - 1; i >= 0; i--) {
      this.swap(a, a + i);
      this.siftDown(0, i, a);
    }
  }

  /** Moves elements < pivot left of it and >= pivot right; returns its new place. */
  private partition(a: number, b: number, pivot: number): [number, boolean] {
    this.swap(a, pivot);
    let i = a + 1;
    let j = b - 1;
    while (i <= j && this.less(i, a)) i++;
    while (i <= j && !this.less(j, a)) j--;
    if (i > j) {
      this.swap(j, a);
      return [j, true];
    }
    this.swap(i, j);
    i++;
    j--;
    for (;;) {
      while (i <= j && this.less(i, a)) i++;
      while (i <= j && !this.less(j, a)) j--;
      if (i > j) break;
      this.swap(i, j);
      i++;
      j--;
    }
    this.swap(j, a);
    return [j, false];
  }

  /** With no element below the pivot: elements equal to it first, then greater ones; returns where those start. */
  private partitionEqual(a: number, b: number, pivot: number): number {
    this.swap(a, pivot);
    let i = a + 1;
    let j = b - 1;
    for (;;) {
      while (i <= j && !this.less(a, i)) i++;
      while (i <= j && this.less(a, j)) j--;
      if (i > j) break;
      this.swap(i, j);
      i++;
      j--;
    }
    return i;
  }

  /** Fixes up to 5 out-of-order neighbours; true if that left [a, b) sorted. */
  private partialInsertionSort(a: number, b: number): boolean {
    const MAX_STEPS = 5;
    const SHORTEST_SHIFTING = 50;
    let i = a + 1;
    for (let step = 0; step < MAX_STEPS; step++) {
      while (i < b && !this.less(i, i - 1)) i++;
      if (i === b) return true;
      if (b - a < SHORTEST_SHIFTING) return false;
      this.swap(i, i - 1);
      // Note the lower bound 1, not a: Go's loop runs down to the slice's start.
      if (i - a >= 2) for (let j = i - 1; j >= 1 && this.less(j, j - 1); j--) this.swap(j, j - 1);
      if (b - i >= 2) for (let j = i + 1; j < b && this.less(j, j - 1); j++) this.swap(j, j - 1);
    }
    return false;
  }

  /** Swaps three elements near the middle with pseudo-random others (a xorshift seeded by the length). */
  private breakPatterns(a: number, b: number): void {
    const length = b - a;
    if (length < 8) return;
    const mask = BigInt(2 ** bitLength(length) - 1);
    let r = BigInt(length);
    const M64 = (1n << 64n) - 1n;
    const next = (): bigint => {
      r ^= (r << 13n) & M64;
      r ^= r >> 17n;
      r ^= (r << 5n) & M64;
      return r;
    };
    const middle = a + Math.trunc(length / 4) * 2;
    for (let idx = middle - 1; idx <= middle + 1; idx++) {
      let other = Number(next() & mask);
      if (other >= length) other -= length;
      this.swap(idx, a + other);
    }
  }

  private choosePivot(a: number, b: number): [number, Hint] {
    const SHORTEST_NINTHER = 50;
    const MAX_SWAPS = 4 * 3;
    const l = b - a;
    const q = Math.trunc(l / 4);
    const swaps = { n: 0 };
    let i = a + q;
    let j = a + q * 2;
    let k = a + q * 3;
    if (l >= 8) {
      if (l >= SHORTEST_NINTHER) {
        i = this.median(i - 1, i, i + 1, swaps);
        j = this.median(j - 1, j, j + 1, swaps);
        k = this.median(k - 1, k, k + 1, swaps);
      }
      j = this.median(i, j, k, swaps);
    }
    if (swaps.n === 0) return [j, Hint.Increasing];
    if (swaps.n === MAX_SWAPS) return [j, Hint.Decreasing];
    return [j, Hint.Unknown];
  }

  /** The index of the median of three, counting the comparisons that found a pair out of order. */
  private median(a0: number, b0: number, c0: number, swaps: { n: number }): number {
    let [a, b, c] = [a0, b0, c0];
    const order = (x: number, y: number): [number, number] => {
      if (this.less(y, x)) {
        swaps.n++;
        return [y, x];
      }
      return [x, y];
    };
    [a, b] = order(a, b);
    [b, c] = order(b, c);
    [a, b] = order(a, b);
    return b;
  }

  private reverseRange(a: number, b: number): void {
    for (let i = a, j = b - 1; i < j; i++, j--) this.swap(i, j);
  }
}
