// goSort (src/apply/go-sort.ts) is Go's sort.Sort step for step; the order of equal elements is
// checked against real etcd in etcd-quirks.test.ts. Here: that it sorts, on inputs of the shapes
// its branches are for (short, presorted, reversed, few distinct values, patterns).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { goSort } from '../src/apply/go-sort';

function rng(seed: number): (n: number) => number {
  let s = seed;
  return (n) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % n;
  };
}

test('goSort sorts random, sorted, reversed, few-valued and organ-pipe inputs of many lengths', () => {
  const r = rng(7);
  const shapes: Record<string, (n: number) => number[]> = {
    random: (n) => Array.from({ length: n }, () => r(1_000_000)),
    fewValues: (n) => Array.from({ length: n }, () => r(3)),
    sorted: (n) => Array.from({ length: n }, (_, i) => i),
    reversed: (n) => Array.from({ length: n }, (_, i) => n - i),
    organPipe: (n) => Array.from({ length: n }, (_, i) => Math.min(i, n - i)),
    nearlySorted: (n) => Array.from({ length: n }, (_, i) => (i % 97 === 0 ? r(n) : i)),
  };
  for (const [name, make] of Object.entries(shapes))
    for (const n of [0, 1, 2, 5, 12, 13, 49, 50, 51, 200, 1000, 5000]) {
      const xs = make(n);
      const want = [...xs].sort((a, b) => a - b);
      goSort(xs, (a, b) => a < b);
      assert.deepEqual(xs, want, `${name} n=${n}`);
    }
});

test('goSort keeps every element (objects with equal keys are permuted, not lost)', () => {
  const r = rng(11);
  const xs = Array.from({ length: 3000 }, (_, id) => ({ id, k: r(5) }));
  goSort(xs, (a, b) => a.k < b.k);
  for (let i = 1; i < xs.length; i++) assert.ok(xs[i - 1].k <= xs[i].k);
  assert.deepEqual(xs.map((x) => x.id).sort((a, b) => a - b), Array.from({ length: 3000 }, (_, i) => i));
  // Unstable: equal elements do not all keep their input order.
  assert.ok(xs.some((x, i) => i > 0 && xs[i - 1].k === x.k && xs[i - 1].id > x.id));
});
