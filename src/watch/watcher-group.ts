// A set of watchers indexed for "who watches this key": single-key watchers by key in a map,
// range watchers in a list scanned per key. (etcd keeps an interval tree for the ranges; a list is
// fine until many thousands of range watchers share one member.)
import type { Watcher } from './watcher';

export class WatcherGroup {
  private readonly byKey = new Map<string, Set<Watcher>>();
  private readonly ranges = new Set<Watcher>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(w: Watcher): void {
    if (w.isRange) {
      this.ranges.add(w);
    } else {
      const k = w.o.key.toString('latin1');
      let set = this.byKey.get(k);
      if (set === undefined) this.byKey.set(k, (set = new Set()));
      set.add(w);
    }
    this.count++;
  }

  delete(w: Watcher): boolean {
    let removed: boolean;
    if (w.isRange) {
      removed = this.ranges.delete(w);
    } else {
      const k = w.o.key.toString('latin1');
      const set = this.byKey.get(k);
      removed = set?.delete(w) ?? false;
      if (set !== undefined && set.size === 0) this.byKey.delete(k);
    }
    if (removed) this.count--;
    return removed;
  }

  /** Calls fn for every watcher whose range holds key. */
  forKey(key: Buffer, fn: (w: Watcher) => void): void {
    const single = this.byKey.get(key.toString('latin1'));
    if (single !== undefined) for (const w of single) fn(w);
    for (const w of this.ranges) if (w.contains(key)) fn(w);
  }

  /** Whether any watcher's range holds key. */
  watches(key: Buffer): boolean {
    if (this.byKey.has(key.toString('latin1'))) return true;
    for (const w of this.ranges) if (w.contains(key)) return true;
    return false;
  }

  *all(): Generator<Watcher> {
    for (const set of this.byKey.values()) yield* set;
    yield* this.ranges;
  }
}
