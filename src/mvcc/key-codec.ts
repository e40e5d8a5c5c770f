// Maps etcd keys (any length up to the request limit) onto LMDB keys, which LMDB caps near 2 KB.
//
// A key of at most LMDB_KEY_PREFIX_BYTES bytes is stored as itself, so LMDB's byte order is the
// key order. A longer key is stored as its first LMDB_KEY_PREFIX_BYTES bytes followed by a digest
// of the whole key: all long keys that share a prefix form a contiguous "bucket" that sorts right
// after the prefix itself and before every other key, exactly where those keys belong in key
// order. Inside a bucket the digest order is not key order, so readers sort a bucket by the full
// key, which every record carries.
import { createHash } from 'node:crypto';

export const LMDB_KEY_PREFIX_BYTES = 1900;
const DIGEST_BYTES = 20;

export function storageKey(key: Buffer): Buffer {
  if (key.length <= LMDB_KEY_PREFIX_BYTES) return key;
  const digest = createHash('sha256').update(key).digest().subarray(0, DIGEST_BYTES);
  return Buffer.concat([key.subarray(0, LMDB_KEY_PREFIX_BYTES), digest]);
}

export function isBucketed(storage: Buffer): boolean {
  return storage.length > LMDB_KEY_PREFIX_BYTES;
}

/** LMDB bounds that cover every storage key of the user range [start, end); end undefined = no bound. */
export function storageBounds(start: Buffer, end: Buffer | undefined): { lo: Buffer; hi: Buffer | undefined; exact: boolean } {
  let exact = true;
  let lo = start;
  if (start.length > LMDB_KEY_PREFIX_BYTES) {
    lo = start.subarray(0, LMDB_KEY_PREFIX_BYTES);
    exact = false;
  }
  let hi = end;
  if (end !== undefined && end.length > LMDB_KEY_PREFIX_BYTES) {
    // Past every bucket entry of end's prefix; the caller filters by the full key.
    hi = Buffer.concat([end.subarray(0, LMDB_KEY_PREFIX_BYTES), Buffer.alloc(DIGEST_BYTES + 1, 0xff)]);
    exact = false;
  }
  return { lo, hi, exact };
}

