// Hashes of the store's logical contents, for checking that members agree (etcd's HashKV and
// Hash). They cover what applying the same entries must make identical: the key history, the
// per-key index and the live keys; never file bytes, which differ between members.
import type { RangeIterable } from 'lmdb';

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE), continued from `crc`. */
export function crc32(data: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

const u48 = (n: number): Buffer => {
  const b = Buffer.alloc(6);
  b.writeUIntBE(n, 0, 6);
  return b;
};

/** Folds [main, sub] -> record entries into a CRC. */
export function hashHistory(entries: RangeIterable<{ key: [number, number]; value: Buffer }>, crc = 0): number {
  for (const { key, value } of entries) {
    crc = crc32(u48(key[0]), crc);
    crc = crc32(u48(key[1]), crc);
    crc = crc32(value, crc);
  }
  return crc;
}

/** Folds storage key -> [main, sub, tombstone] entries into a CRC. */
export function hashIndex(entries: RangeIterable<{ key: Buffer; value: [number, number, number] }>, crc = 0): number {
  for (const { key, value } of entries) {
    crc = crc32(key, crc);
    crc = crc32(Buffer.concat([u48(value[0]), u48(value[1]), Buffer.from([value[2]])]), crc);
  }
  return crc;
}

/** Folds storage key -> record entries into a CRC. */
export function hashBinary(entries: RangeIterable<{ key: Buffer; value: Buffer }>, crc = 0): number {
  for (const { key, value } of entries) {
    crc = crc32(key, crc);
    crc = crc32(value, crc);
  }
  return crc;
}

export { u48 };
