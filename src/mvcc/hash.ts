// etcd's hashes of the key space, byte for byte: HashKV (mvcc.HashByRev) and the key-bucket part
// of Hash (backend.Hash). Both are crc32-Castagnoli over what etcd stores in its bbolt `key`
// bucket: per key version the revision key (8-byte big-endian main, '_', 8-byte big-endian sub,
// then 't' for a tombstone) followed by the marshalled mvccpb.KeyValue, in revision order. We
// store versions in our own record layout (kv-record.ts) and rebuild etcd's bytes here, so a
// member of a mixed etcd/etcd-ts cluster compares equal to its etcd peers.
// Sources read: etcd v3.4.23 mvcc/kvstore.go HashByRev, index.go Keep/Compact, key_index.go
// keep/compact/doCompact, revision.go, kvstore_txn.go put/delete, mvccpb/kv.pb.go MarshalTo;
// v3.5.17 server/mvcc/hash.go kvHasher, kvstore_compaction.go.
// Nothing here writes; the caller supplies table iterators from one consistent read.
import { decodeRecord } from './kv-record';

// --- crc32 with the Castagnoli polynomial (Go's crc32.MakeTable(crc32.Castagnoli)) -----------

const CASTAGNOLI_REVERSED = 0x82f63b78;

// Slicing-by-8 tables: HashKV reads every value in the store, so 8 bytes per step instead of 1
// keeps it from being the slowest part of a corruption check.
const TABLES = (() => {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? CASTAGNOLI_REVERSED ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 8; k++) {
      const prev = t[(k - 1) * 256 + n];
      t[k * 256 + n] = ((prev >>> 8) ^ t[prev & 0xff]) >>> 0;
    }
  }
  return t;
})();

/** One slicing-by-8 step: `lo` is the crc xor the next 4 bytes (little-endian), `hi` the 4 after. */
function slice8(t: Uint32Array, lo: number, hi: number): number {
  return (
    t[7 * 256 + (lo & 0xff)] ^
    t[6 * 256 + ((lo >>> 8) & 0xff)] ^
    t[5 * 256 + ((lo >>> 16) & 0xff)] ^
    t[4 * 256 + (lo >>> 24)] ^
    t[3 * 256 + (hi & 0xff)] ^
    t[2 * 256 + ((hi >>> 8) & 0xff)] ^
    t[256 + ((hi >>> 16) & 0xff)] ^
    t[hi >>> 24]
  );
}

/** Whether 32-bit words read from memory are little-endian (Int32Array views read them so). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** crc32-Castagnoli of data, continued from `crc` (as Go's crc32.Update: 0 starts a new sum). */
export function crc32c(data: Uint8Array, crc = 0): number {
  const t = TABLES;
  let c = ~crc >>> 0;
  let i = 0;
  const len = data.length;
  if (LITTLE_ENDIAN) {
    // From the first 4-aligned byte on, two word loads per 8 bytes through an Int32Array view
    // instead of eight byte loads: measured 1.7x faster, cold or warm (the WAL's whole segment
    // is checked at every start, before V8 has optimized anything).
    while (i < len && ((data.byteOffset + i) & 3) !== 0) c = t[(c ^ data[i++]) & 0xff] ^ (c >>> 8);
    const pairs = (len - i) >>> 3;
    if (pairs > 0) {
      const w = new Int32Array(data.buffer, data.byteOffset + i, pairs * 2);
      for (let j = 0; j < w.length; j += 2) c = slice8(t, c ^ w[j], w[j + 1]);
      i += pairs * 8;
    }
  } else {
    const fast = len - (len % 8);
    for (; i < fast; i += 8) {
      const lo = c ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24));
      c = slice8(t, lo, data[i + 4] | (data[i + 5] << 8) | (data[i + 6] << 16) | (data[i + 7] << 24));
    }
  }
  for (; i < len; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

// --- etcd's bytes for one stored version ------------------------------------------------------

const KEY_BUCKET = Buffer.from('key');
const META_BUCKET = Buffer.from('meta');
const TOMBSTONE_MARK = 0x74; // 't', etcd's markTombstone

/** Writes n (0 <= n < 2^53) as 8 bytes big-endian, without a BigInt per call. */
function writeUint64BE(buf: Buffer, n: number, at: number): void {
  buf.writeUInt32BE(Math.floor(n / 0x1_0000_0000), at);
  buf.writeUInt32BE(n % 0x1_0000_0000, at + 4);
}

/** etcd's revToBytes (+ appendMarkTombstone): the version's key in the bbolt `key` bucket. */
export function revisionKey(main: number, sub: number, tombstone: boolean): Buffer {
  const buf = Buffer.alloc(tombstone ? 18 : 17);
  writeUint64BE(buf, main, 0);
  buf[8] = 0x5f; // '_'
  writeUint64BE(buf, sub, 9);
  if (tombstone) buf[17] = TOMBSTONE_MARK;
  return buf;
}

// Varints of int64 fields. Revisions, versions and lengths are non-negative numbers below 2^53
// and take the number path; a lease ID is a bigint and may be negative, which Go encodes as
// uint64(v): ten bytes.
function varintSize(v: number | bigint): number {
  if (typeof v === 'number') {
    let n = 1;
    for (; v >= 0x80; v = Math.floor(v / 0x80)) n++;
    return n;
  }
  let u = BigInt.asUintN(64, v);
  let n = 1;
  for (; u >= 0x80n; u >>= 7n) n++;
  return n;
}

function writeVarint(buf: Buffer, at: number, v: number | bigint): number {
  if (typeof v === 'number') {
    for (; v >= 0x80; v = Math.floor(v / 0x80)) buf[at++] = (v % 0x80) | 0x80;
    buf[at++] = v;
    return at;
  }
  let u = BigInt.asUintN(64, v);
  for (; u >= 0x80n; u >>= 7n) buf[at++] = Number(u & 0x7fn) | 0x80;
  buf[at++] = Number(u);
  return at;
}

/** The fields of an mvccpb.KeyValue as etcd stores them (tombstones: key only). */
export interface StoredKeyValue {
  key: Uint8Array;
  create_revision: number;
  mod_revision: number;
  version: number;
  value: Uint8Array;
  lease: bigint;
}

/**
 * gogoproto's KeyValue.Marshal: fields in number order, zero scalars and empty bytes omitted
 * (so an empty value is no field 5 at all). Hand-written rather than protobufjs, which writes
 * every field that is set, zero or not.
 */
export function marshalKeyValue(kv: StoredKeyValue): Buffer {
  const varints: [tag: number, v: number | bigint][] = [
    [0x10, kv.create_revision],
    [0x18, kv.mod_revision],
    [0x20, kv.version],
  ];
  let size = 0;
  if (kv.key.length > 0) size += 1 + varintSize(kv.key.length) + kv.key.length;
  for (const [, v] of varints) if (v !== 0) size += 1 + varintSize(v);
  if (kv.value.length > 0) size += 1 + varintSize(kv.value.length) + kv.value.length;
  if (kv.lease !== 0n) size += 1 + varintSize(kv.lease);
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  if (kv.key.length > 0) {
    buf[at++] = 0x0a;
    at = writeVarint(buf, at, kv.key.length);
    buf.set(kv.key, at);
    at += kv.key.length;
  }
  for (const [tag, v] of varints) {
    if (v === 0) continue;
    buf[at++] = tag;
    at = writeVarint(buf, at, v);
  }
  if (kv.value.length > 0) {
    buf[at++] = 0x2a;
    at = writeVarint(buf, at, kv.value.length);
    buf.set(kv.value, at);
    at += kv.value.length;
  }
  if (kv.lease !== 0n) {
    buf[at++] = 0x30;
    at = writeVarint(buf, at, kv.lease);
  }
  return buf;
}

/** One history row ([main, sub] -> our record) as etcd's `key` bucket entry. */
export function keyBucketEntry(main: number, sub: number, record: Buffer): { key: Buffer; value: Buffer } {
  const rec = decodeRecord(record);
  // etcd's delete stores mvccpb.KeyValue{Key: key}: no mod_revision, nothing else.
  const kv: StoredKeyValue = rec.tombstone ? { key: rec.key, create_revision: 0, mod_revision: 0, version: 0, value: new Uint8Array(0), lease: 0n } : rec;
  return { key: revisionKey(main, sub, rec.tombstone), value: marshalKeyValue(kv) };
}

// --- HashKV ------------------------------------------------------------------------------------

export type HistoryRows = Iterable<{ key: [number, number]; value: Buffer }>;
/** The index table: storage key -> [main, sub, tombstone 0|1], each key's versions ascending. */
export type IndexRows = Iterable<{ key: Buffer; value: [number, number, number] }>;

const revId = (main: number, sub: number): string => `${main}_${sub}`;

/**
 * Which versions at or below `compacted` etcd's HashByRev(rev) writes into the hash.
 *
 * etcd keeps, at compaction, each key's newest version <= compacted unless it is a tombstone
 * (index.go Compact; from 3.4.34/3.5.16 it keeps a tombstone AT compacted too, but kvHasher
 * skips exactly that one, so the hash is the same either way). HashByRev then writes a version
 * below compacted+1 only if it is in Keep(rev) — each key's newest version <= rev that is not a
 * tombstone — except when Keep(rev) is empty (no key alive at rev): then it writes every version
 * still stored there ("don't skip if there isn't one").
 * We answer from the index, not from what is physically left below compacted, so members that
 * are at different points of deleting compacted history still hash the same (etcd's own answer
 * is racy there; ours equals etcd's once its compaction has finished).
 */
function* hashedBelowCompacted(index: IndexRows, compacted: number, rev: number): Generator<void, Set<string>> {
  const survivors = new Map<string, boolean>(); // rev id -> also in Keep(rev)
  let anyAlive = false;
  let storage: Buffer | undefined;
  let atCompacted: [number, number, number] | undefined;
  let atRev: [number, number, number] | undefined;
  const closeKey = (): void => {
    if (atRev !== undefined && atRev[2] === 0) anyAlive = true;
    if (atCompacted !== undefined && atCompacted[2] === 0) {
      const inKeep = atRev !== undefined && atRev[0] === atCompacted[0] && atRev[1] === atCompacted[1];
      survivors.set(revId(atCompacted[0], atCompacted[1]), inKeep);
    }
    atCompacted = undefined;
    atRev = undefined;
  };
  let rows = 0;
  for (const { key, value } of index) {
    if (++rows % ROWS_PER_STEP === 0) yield;
    if (storage === undefined || !key.equals(storage)) {
      closeKey();
      // LMDB may reuse the key buffer for the next row.
      storage = Buffer.from(key);
    }
    if (value[0] <= compacted) atCompacted = value;
    if (value[0] <= rev) atRev = value;
  }
  closeKey();
  const hashed = new Set<string>();
  for (const [id, inKeep] of survivors) if (inKeep || !anyAlive) hashed.add(id);
  return hashed;
}

/**
 * etcd's HashByRev(rev) once the caller has checked rev: crc32c of "key", then every version
 * with main revision <= rev, those at or below `compacted` filtered as hashedBelowCompacted
 * says. `rev` < 1 hashes no version (etcd passes a negative request revision through as is).
 * `index` is only read when some history can lie at or below `compacted`.
 * etcd 3.5 computes the same value during compaction (kvHasher with the previous compacted
 * revision and the new one) and answers it for HashKV at that revision: here that is
 * hashByRev(history, index, previous, new) taken before the first batch deletes anything.
 */
export function hashByRev(history: HistoryRows, index: () => IndexRows, compacted: number, rev: number): number {
  const steps = hashByRevSteps(history, index, compacted, rev);
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}

/**
 * hashByRev in slices: the event loop gets a turn every ROWS_PER_STEP rows, so hashing a large
 * store (a corruption check, a client's HashKV) does not stall heartbeats and requests. The rows
 * must come from one pinned read view that stays open until this resolves.
 */
export async function hashByRevAsync(history: HistoryRows, index: () => IndexRows, compacted: number, rev: number): Promise<number> {
  const steps = hashByRevSteps(history, index, compacted, rev);
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Rows read between two turns of the event loop (a few milliseconds of hashing). */
const ROWS_PER_STEP = 20_000;

function* hashByRevSteps(history: HistoryRows, index: () => IndexRows, compacted: number, rev: number): Generator<void, number> {
  let crc = crc32c(KEY_BUCKET);
  if (rev < 1) return crc;
  // The first version ever written is at revision 2; below that nothing was kept.
  const hashed = compacted >= 2 ? yield* hashedBelowCompacted(index(), compacted, rev) : undefined;
  let rows = 0;
  for (const { key, value } of history) {
    if (++rows % ROWS_PER_STEP === 0) yield;
    const [main, sub] = key;
    if (main > rev) break;
    if (hashed !== undefined && main <= compacted && !hashed.has(revId(main, sub))) continue;
    const e = keyBucketEntry(main, sub, value);
    crc = crc32c(e.key, crc);
    crc = crc32c(e.value, crc);
  }
  return crc;
}

// --- Hash (the key and meta buckets of etcd's backend.Hash) -----------------------------------

/**
 * The parts of etcd's backend.Hash that the mvcc store owns, in etcd's bucket order: the `key`
 * bucket (the given rows: the caller decides whether compacted rows not yet deleted count),
 * then the `meta` bucket's finishedCompactRev/scheduledCompactRev (revToBytes of the compacted
 * revision, as etcd has them once a compaction has finished; written by the first Compact;
 * consistent_index and term are ignored by etcd too). etcd hashes every bucket of the bbolt
 * file, name then rows, in name order: alarm, auth, authRoles, authUsers, cluster, key, lease,
 * members, members_removed, meta. The other buckets (and meta's confState) belong to other
 * modules and their rows are not kept in etcd's encoding here, so this is not etcd's number; it
 * is equal on members with equal key history and compacted revision, which is what Hash is for.
 */
export function hashKeyAndMetaBuckets(history: HistoryRows, compacted: number): number {
  let crc = crc32c(KEY_BUCKET);
  for (const { key, value } of history) {
    const e = keyBucketEntry(key[0], key[1], value);
    crc = crc32c(e.key, crc);
    crc = crc32c(e.value, crc);
  }
  crc = crc32c(META_BUCKET, crc);
  if (compacted >= 0) {
    // bbolt orders keys bytewise: "finishedCompactRev" < "scheduledCompactRev".
    const rev = revisionKey(compacted, 0, false);
    for (const name of ['finishedCompactRev', 'scheduledCompactRev']) {
      crc = crc32c(Buffer.from(name), crc);
      crc = crc32c(rev, crc);
    }
  }
  return crc;
}
