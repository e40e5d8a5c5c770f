// A set of watchers indexed for "who watches this key": single-key watchers by key in a map,
// range watchers by their range, the distinct ranges in a list scanned per key. Clients watch the
// same prefix many times over (one per informer, one per benchmark watcher): each range is
// compared with the key once, not once per watcher. (etcd keeps an interval tree for the ranges;
// a list is fine until many thousands of distinct ranges share one member.)
import type { Watcher } from './watcher';

/** The watchers of one range. */
interface RangeWatchers {
  readonly first: Watcher;
  readonly watchers: Set<Watcher>;
}

export class WatcherGroup {
  private readonly byKey = new Map<string, Set<Watcher>>();
  private readonly ranges = new Map<string, RangeWatchers>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(w: Watcher): void {
    if (w.isRange) {
      const k = rangeId(w);
      const r = this.ranges.get(k);
      if (r === undefined) this.ranges.set(k, { first: w, watchers: new Set([w]) });
      else r.watchers.add(w);
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
      const k = rangeId(w);
      const r = this.ranges.get(k);
      removed = r?.watchers.delete(w) ?? false;
      if (r !== undefined && r.watchers.size === 0) this.ranges.delete(k);
      // `first` stands for the range; once it leaves, another of the same range does.
      else if (r !== undefined && r.first === w) this.ranges.set(k, { first: r.watchers.values().next().value as Watcher, watchers: r.watchers });
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
    for (const r of this.ranges.values()) if (r.first.contains(key)) for (const w of r.watchers) fn(w);
  }

  /** Whether any watcher's range holds key. */
  watches(key: Buffer): boolean {
    if (this.byKey.has(key.toString('latin1'))) return true;
    for (const r of this.ranges.values()) if (r.first.contains(key)) return true;
    return false;
  }

  *all(): Generator<Watcher> {
    for (const set of this.byKey.values()) yield* set;
    for (const r of this.ranges.values()) yield* r.watchers;
  }
}

/** A range's identity: its start's length, then start and end (an empty end: every key from start on). */
function rangeId(w: Watcher): string {
  const { key, end } = w.o;
  return `${key.length}:${key.toString('latin1')}${(end ?? Buffer.alloc(0)).toString('latin1')}`;
}
