// Walks a table of storage keys in etcd key order: long keys share a bucket (see key-codec.ts)
// whose members are sorted here by their full key, and keys outside the user range that a
// truncated bound let in are filtered out.
import { isBucketed, LMDB_KEY_PREFIX_BYTES } from './key-codec';

export interface ScanEntry<T> {
  storage: Buffer;
  item: T;
}

/**
 * Yields items of `entries` (in storage-key order) in user-key order, keeping only keys in
 * [start, end) (end undefined = unbounded). `keyOf` gives an item's full user key.
 */
export function* inKeyOrder<T>(
  entries: Iterable<ScanEntry<T>>,
  keyOf: (item: T) => Buffer,
  start: Buffer,
  end: Buffer | undefined,
  exact: boolean,
): Generator<T> {
  let bucket: T[] = [];
  let bucketPrefix: Buffer | undefined;
  const inRange = (k: Buffer): boolean => Buffer.compare(k, start) >= 0 && (end === undefined || Buffer.compare(k, end) < 0);
  function* flush(): Generator<T> {
    if (bucket.length === 0) return;
    bucket.sort((a, b) => Buffer.compare(keyOf(a), keyOf(b)));
    for (const item of bucket) if (inRange(keyOf(item))) yield item;
    bucket = [];
    bucketPrefix = undefined;
  }
  for (const entry of entries) {
    if (isBucketed(entry.storage)) {
      const prefix = entry.storage.subarray(0, LMDB_KEY_PREFIX_BYTES);
      if (bucketPrefix !== undefined && !prefix.equals(bucketPrefix)) yield* flush();
      bucketPrefix = Buffer.from(prefix);
      bucket.push(entry.item);
      continue;
    }
    yield* flush();
    if (exact || inRange(keyOf(entry.item))) yield entry.item;
  }
  yield* flush();
}
