// The Raft log and hard state, in the member's LMDB environment. Entries are staged in memory as
// soon as the driver takes them from raft (raft reads them from here at once), and written into
// LMDB later, inside the transaction that applies them, once the write-ahead log holds them.
// The newest entries stay in memory after that too: replication reads them most of all.
import type { Database } from 'lmdb';
import { appendSync, type Backend } from '../backend/backend';
import { appendAll, entrySizeBytes, type LogStorage } from '../raft/log';
import { EntryType, type Entry, type HardState } from '../raft/types';
import type { WalPosition, WalRecord } from '../wal/wal';
import { decodeRecordPayload, encodeRecordPayload, PAYLOAD_PREFIX_BYTES, recordPayloadBytes } from '../wal/record-codec';

const META_HARD_STATE = 'raft/hardstate';
const META_FIRST_INDEX = 'raft/first-index';
const META_FIRST_TERM = 'raft/first-term'; // term of the entry just before the first kept one
/** The write-ahead log's mark of the last record whose effects this store holds (see redo). */
const META_WAL_MARK = 'raft/wal-mark';
/**
 * Newest entries kept in memory once durable, by count and by payload bytes (entries not yet
 * durable always stay: the write pipeline's bound keeps those few). A leader's appends read the
 * entries it has just proposed, so a short window serves replication; an older one comes from
 * LMDB. Kept longer, every cached entry outlives two scavenges: V8 promotes it, and it dies in
 * the old generation. 4,096 entries (0.3-0.4 s of a 3-member cluster's writes) meant 24-32
 * mark-compact pauses and marking steps over 1 ms (111-155 ms) over three members in reps 3-5 of
 * cluster put at 50 clients; 512 (~50 ms) gave 6-14 (23-53 ms), with p99 -12% and req/s +5%
 * (4 alternating runs; at 200 clients CPU -6%, req/s +5%).
 */
const MAX_CACHED_ENTRIES = 512;
const MAX_CACHED_BYTES = 64 * 1024 * 1024;
/** The cache may hold this many entries over MAX_CACHED_ENTRIES before it is trimmed. */
const CACHE_TRIM_STEP = 256;

/** Where the record of the store's WAL mark was written (Wal.positionOf), saved with the mark. */
const META_WAL_POSITION = 'raft/wal-position';
const WAL_POSITION_BYTES = 36;
/**
 * The stored hard state is the WAL's hardstate record payload (record-codec.ts; ordinal 0), at
 * most this long. Stores written before it hold JSON, which starts with '{' and is still read.
 */
const HARD_STATE_MAX_BYTES = PAYLOAD_PREFIX_BYTES + 8 + 8 + 1 + 255;
const JSON_OPEN_BRACE = 0x7b;

/** The store's WAL mark (LogStore.walMark), read before the log store exists: the WAL opens first. */
export function storedWalMark(backend: Backend): number {
  return backend.getMetaNumber(META_WAL_MARK) ?? 0;
}

/** Where the WAL wrote the record of the store's mark, if saved with it (WalOptions.heldPosition). */
export function storedWalPosition(backend: Backend): WalPosition | undefined {
  const b = backend.getMetaBuffer(META_WAL_POSITION);
  if (b === undefined || b.length !== WAL_POSITION_BYTES) return undefined;
  return { ordinal: b.readDoubleLE(0), seq: b.readDoubleLE(8), offset: b.readDoubleLE(16), lastIndex: b.readDoubleLE(24), prevCrc: b.readUInt32LE(32) };
}

export class LogStore implements LogStorage {
  private readonly log: Database<Buffer, number>;
  private first: number;
  private last: number;
  private termBeforeFirst: number;
  /** In-memory copies of the newest entries: cache[i] has index cacheStart + i. */
  private cache: Entry[] = [];
  private cacheStart = 1;
  /** Payload bytes held in the cache. */
  private cacheBytes = 0;
  /** Entries up to here are committed to LMDB and may leave the cache. */
  private durable = 0;
  /** The last entry written into LMDB's table (staged ones may follow). */
  private persistedLast: number;
  private readonly positionBuf = Buffer.alloc(WAL_POSITION_BYTES);
  private readonly hardStateBuf = Buffer.alloc(HARD_STATE_MAX_BYTES);

  constructor(private readonly backend: Backend) {
    this.log = backend.orderedTable<Buffer, number>('raft-log', { keys: 'ordered-binary', values: 'binary' });
    this.first = backend.getMetaNumber(META_FIRST_INDEX) ?? 1;
    this.termBeforeFirst = backend.getMetaNumber(META_FIRST_TERM) ?? 0;
    let last = this.first - 1;
    for (const k of this.log.getKeys({ reverse: true, limit: 1 })) last = k;
    this.last = last;
    this.persistedLast = last;
    this.cacheStart = last + 1;
    this.durable = last;
  }

  firstIndex(): number {
    return this.first;
  }

  lastIndex(): number {
    return this.last;
  }

  term(i: number): number {
    if (i === this.first - 1) return this.termBeforeFirst;
    const cached = this.cached(i);
    if (cached !== undefined) return cached.term;
    const raw = this.log.get(i);
    if (raw === undefined) throw new Error(`raftnode: log entry ${i} is not stored (first ${this.first}, last ${this.last})`);
    return raw.readUIntBE(0, 6);
  }

  /** Entries [lo, hi); past maxBytes it stops after the entry that crossed it (raft cuts that one). */
  entries(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    if (maxBytes === Infinity && lo >= this.cacheStart && hi <= this.cacheStart + this.cache.length) return this.cache.slice(lo - this.cacheStart, hi - this.cacheStart);
    const out: Entry[] = [];
    let bytes = 0;
    const take = (e: Entry): boolean => {
      out.push(e);
      bytes += entrySizeBytes(e);
      return bytes <= maxBytes;
    };
    let more = true;
    if (lo < this.cacheStart) {
      for (const { key, value } of this.log.getRange({ start: lo, end: Math.min(hi, this.cacheStart) })) {
        more = take(decodeEntry(key, value));
        if (!more) break;
      }
    }
    for (let i = Math.max(lo, this.cacheStart); more && i < hi; i++) {
      const e = this.cached(i);
      if (e === undefined) break;
      more = take(e);
    }
    if (more && out.length !== Math.max(0, hi - lo)) throw new Error(`raftnode: log entries [${lo}, ${hi}) are not all stored`);
    // Stopped early: the entries taken must still be lo, lo+1, ... with none missing.
    if (out.length > 0 && out[out.length - 1].index !== lo + out.length - 1) throw new Error(`raftnode: log entries [${lo}, ${hi}) are not all stored`);
    return out;
  }

  hardState(): HardState {
    const raw = this.backend.getMetaBuffer(META_HARD_STATE);
    if (raw === undefined) return { term: 0, vote: '', commit: 0 };
    return decodeHardState(raw);
  }

  /** Inside a transaction: appends entries, dropping any stored suffix they replace. */
  append(entries: Entry[]): void {
    this.stage(entries);
    this.persist(entries);
  }

  /**
   * Appends entries in memory only (raft reads them from here from now on), replacing any suffix
   * they overwrite; persist() writes them into LMDB later, in the same order.
   */
  stage(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0].index;
    this.last = entries[entries.length - 1].index;
    if (first < this.cacheStart || first > this.cacheStart + this.cache.length) {
      this.dropCache(first);
    } else {
      for (let i = first - this.cacheStart; i < this.cache.length; i++) this.cacheBytes -= this.cache[i].data.length;
      this.cache.length = first - this.cacheStart;
    }
    for (const e of entries) this.cacheBytes += e.data.length;
    appendAll(this.cache, entries);
    this.durable = Math.min(this.durable, first - 1);
  }

  /** Inside a transaction: writes staged entries into LMDB, dropping the stored suffix they replace. */
  persist(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0].index;
    for (let i = first; i <= this.persistedLast; i++) this.log.removeSync(i);
    // Past the last stored index (the suffix they replace was removed above).
    for (const e of entries) appendSync(this.log, e.index, encodeEntry(e));
    this.persistedLast = entries[entries.length - 1].index;
  }

  /** The transaction holding entries up to index is on disk: the cache may let them go. */
  markDurable(index: number): void {
    this.durable = Math.max(this.durable, Math.min(index, this.last));
    // Trimmed in steps of CACHE_TRIM_STEP entries: each splice moves the whole array, and once
    // per Ready that showed in profiles (~1.4% of a 3-member leader's time).
    if (this.cache.length <= MAX_CACHED_ENTRIES + CACHE_TRIM_STEP && this.cacheBytes <= MAX_CACHED_BYTES) return;
    let drop = 0;
    const durableCached = this.durable - this.cacheStart + 1;
    while (drop < durableCached && (this.cache.length - drop > MAX_CACHED_ENTRIES || this.cacheBytes > MAX_CACHED_BYTES)) {
      this.cacheBytes -= this.cache[drop].data.length;
      drop++;
    }
    if (drop === 0) return;
    this.cache.splice(0, drop);
    this.cacheStart += drop;
  }

  /** Empties the cache; it restarts at index `start`. */
  private dropCache(start: number): void {
    this.cache = [];
    this.cacheBytes = 0;
    this.cacheStart = start;
  }

  private cached(i: number): Entry | undefined {
    return i >= this.cacheStart ? this.cache[i - this.cacheStart] : undefined;
  }

  /**
   * Inside a transaction that also applies them: records entries as appended and at once
   * compacted, without writing them. For a member that is the only voter, the applied state is
   * the whole log: no peer will ever ask for the entries.
   */
  appendApplied(entries: Entry[]): void {
    this.stageApplied(entries);
    this.persistApplied(entries);
  }

  /** In memory: entries appended and at once compacted (see appendApplied); persistApplied() follows. */
  stageApplied(entries: Entry[]): void {
    if (entries.length === 0) return;
    const last = entries[entries.length - 1];
    this.first = last.index + 1;
    this.last = last.index;
    this.termBeforeFirst = last.term;
    this.dropCache(this.first);
  }

  /**
   * Inside a transaction: the log starts after these entries (staged with stageApplied). From
   * the entries, not from memory: later entries may be staged already, but this transaction
   * holds the state up to these only.
   */
  persistApplied(entries: Entry[]): void {
    if (entries.length === 0) return;
    const last = entries[entries.length - 1];
    if (this.persistedLast >= 0) {
      const doomed = [...this.log.getKeys({})];
      for (const k of doomed) this.log.removeSync(k);
    }
    this.persistedLast = -1;
    this.backend.putMetaNumber(META_FIRST_INDEX, last.index + 1);
    this.backend.putMetaNumber(META_FIRST_TERM, last.term);
  }

  /** Inside a transaction: the log now starts after a snapshot at (index, term); drops all entries. */
  resetTo(index: number, term: number): void {
    const doomed = [...this.log.getKeys({})];
    for (const k of doomed) this.log.removeSync(k);
    this.first = index + 1;
    this.last = index;
    this.termBeforeFirst = term;
    this.dropCache(index + 1);
    this.durable = index;
    this.persistedLast = index;
    this.backend.putMetaNumber(META_FIRST_INDEX, this.first);
    this.backend.putMetaNumber(META_FIRST_TERM, term);
  }

  /** The write-ahead log mark recorded with the store's state (0: none yet). */
  walMark(): number {
    return storedWalMark(this.backend);
  }

  /**
   * Inside the transaction that holds the effects of every WAL record up to mark; with where
   * that record was written, when known (the next start reads the WAL from there).
   */
  setWalMark(mark: number, position?: WalPosition): void {
    this.backend.putMetaNumber(META_WAL_MARK, mark);
    // One buffer reused for every apply batch: LMDB copies the value as it is put.
    const b = this.positionBuf.fill(0);
    if (position !== undefined && position.ordinal === mark) {
      b.writeDoubleLE(position.ordinal, 0);
      b.writeDoubleLE(position.seq, 8);
      b.writeDoubleLE(position.offset, 16);
      b.writeDoubleLE(position.lastIndex, 24);
      b.writeUInt32LE(position.prevCrc >>> 0, 32);
    }
    // Zeros (ordinal 0) when unknown: no mark is 0 once records exist, so it is never used.
    this.backend.putMetaBuffer(META_WAL_POSITION, b);
  }

  /**
   * At start-up, inside a transaction: redoes the write-ahead log's records that came after the
   * store's mark (the store opened at its last checkpoint, which may stand before the log's
   * end). Entries are appended as they were (the newer replacing a suffix), hard states set;
   * committed entries not yet applied are then applied by raft as usual. A snapshot record the
   * store is past already is skipped (its install was checkpointed before the record was written).
   */
  redo(records: WalRecord[]): void {
    for (const r of records) {
      if (r.kind === 'hardstate') {
        this.setHardState(r.hardState);
        continue;
      }
      if (r.kind === 'snapshot') {
        if (r.index <= this.first - 1) continue;
        throw new Error(`raftnode: the write-ahead log has a snapshot at ${r.index} that the store never installed (its log starts at ${this.first})`);
      }
      // Entries below the first kept one are applied already (the store compacted them).
      const entries = r.entries.filter((e) => e.index >= this.first);
      if (entries.length === 0) continue;
      if (entries[0].index > this.last + 1) throw new Error(`raftnode: the write-ahead log's entries resume at ${entries[0].index} but the store's log ends at ${this.last}`);
      this.append(entries);
    }
  }

  setHardState(hs: HardState): void {
    // Once per Ready that changes it: into one reused buffer (LMDB copies the value as it is put).
    this.backend.putMetaBuffer(META_HARD_STATE, encodeHardState(hs, this.hardStateBuf));
  }

  /** Inside a transaction: forgets entries before index (they are applied and no peer needs them). */
  compactTo(index: number): void {
    if (index <= this.first) return;
    const termBefore = this.term(index - 1);
    // Collect first: removing under a live cursor may skip keys.
    const doomed = [...this.log.getKeys({ start: this.first, end: index })];
    for (const k of doomed) this.log.removeSync(k);
    this.first = index;
    this.termBeforeFirst = termBefore;
    if (index > this.cacheStart) {
      const gone = this.cache.splice(0, Math.min(this.cache.length, index - this.cacheStart));
      for (const e of gone) this.cacheBytes -= e.data.length;
      this.cacheStart = index;
    }
    this.backend.putMetaNumber(META_FIRST_INDEX, index);
    this.backend.putMetaNumber(META_FIRST_TERM, termBefore);
  }
}

function encodeEntry(e: Entry): Buffer {
  const buf = Buffer.allocUnsafe(7 + e.data.length);
  buf.writeUIntBE(e.term, 0, 6);
  buf[6] = e.type;
  e.data.copy(buf, 7);
  return buf;
}

function decodeEntry(index: number, raw: Buffer): Entry {
  return { index, term: raw.readUIntBE(0, 6), type: raw[6] as EntryType, data: Buffer.from(raw.subarray(7)) };
}

/** The hard state's stored bytes, in `buf` (a view of it is returned). Throws on a vote too long. */
export function encodeHardState(hs: HardState, buf: Buffer): Buffer {
  const record: WalRecord = { kind: 'hardstate', hardState: hs };
  const n = recordPayloadBytes(record);
  encodeRecordPayload(record, 0, buf, 0);
  return buf.subarray(0, n);
}

export function decodeHardState(raw: Buffer): HardState {
  if (raw[0] === JSON_OPEN_BRACE) return JSON.parse(raw.toString('utf8')) as HardState;
  const record = decodeRecordPayload(raw, 0, raw.length);
  if (record.kind !== 'hardstate') throw new Error(`raftnode: the stored hard state is a ${record.kind} record`);
  return record.hardState;
}
