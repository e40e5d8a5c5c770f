// The lessor (etcd's lease package): which leases exist, which keys each one holds, and, on the
// leader only, when each expires.
// - Apply side (deterministic, inside the Ready transaction): grant, revoke (deletes the lease's
//   keys in one revision), and attach/detach of keys as writes change their lease. Leases and
//   their keys live in LMDB so that a restart reads the lease list and nothing else.
// - Leader side (clocks allowed, never persisted): expiry times. Only the primary lessor (on the
//   leader) expires leases, and it does so by proposing revokes through Raft, so every member
//   deletes the same keys at the same revision. A new leader starts every lease afresh with its
//   full TTL plus an election timeout (etcd's promote), so no lease dies because leadership moved.
import type { Backend, BinaryDB, ReadView } from '../backend/backend';
import { Errors } from '../errors';
import type { Event, WriteTxn } from '../mvcc/store';
import { storageKey } from '../mvcc/key-codec';

/** etcd's largest lease TTL in seconds. */
export const MAX_LEASE_TTL_SEC = 9_000_000_000;

interface Lease {
  id: bigint;
  /** Granted TTL in seconds (raised to the minimum). */
  ttl: number;
  /** When it expires (ms, monotonic clock); Infinity when this member is not primary. */
  expiryMs: number;
}

export interface TimeToLive {
  ttl: number;
  grantedTtl: number;
  keys: Buffer[];
}

export class Lessor {
  private readonly leases = new Map<bigint, Lease>();
  /** id (8 bytes) -> granted TTL (8 bytes). */
  private readonly leaseTable: BinaryDB;
  /** id (8 bytes) + storage key -> the user key (the keys a lease holds, in key order). */
  private readonly keyTable: BinaryDB;
  private primary = false;

  constructor(
    backend: Backend,
    /** Shortest TTL granted, in seconds (etcd: 1.5 election timeouts, rounded up). */
    private readonly minTtlSec: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.leaseTable = backend.binaryTable('lease');
    this.keyTable = backend.binaryTable('lease-keys');
    for (const { key, value } of this.leaseTable.getRange({})) {
      const id = BigInt.asIntN(64, key.readBigUInt64BE(0));
      this.leases.set(id, { id, ttl: Number(value.readBigInt64BE(0)), expiryMs: Infinity });
    }
  }

  isPrimary(): boolean {
    return this.primary;
  }

  leaseExists(id: bigint): boolean {
    return this.leases.has(id);
  }

  ids(): bigint[] {
    return [...this.leases.keys()];
  }

  /** Every lease, soonest to expire first (etcd's LeaseLeases order; grant order among equals). */
  idsByExpiry(): bigint[] {
    return [...this.leases.values()].sort((a, b) => a.expiryMs - b.expiryMs || 0).map((l) => l.id);
  }

  // ---- apply side: deterministic, inside the write transaction ------------------------------

  /** Grants a lease; returns the TTL granted. */
  grant(id: bigint, ttlSec: number): number {
    if (this.leases.has(id)) throw Errors.leaseExist();
    const ttl = Math.max(ttlSec, this.minTtlSec);
    this.leases.set(id, { id, ttl, expiryMs: this.primary ? this.now() + ttl * 1000 : Infinity });
    const v = Buffer.allocUnsafe(8);
    v.writeBigInt64BE(BigInt(ttl));
    this.leaseTable.putSync(idBytes(id), v);
    return ttl;
  }

  /** Revokes a lease: its keys are deleted through w (one revision), then the lease is gone. */
  revoke(id: bigint, w: WriteTxn): void {
    if (!this.leases.has(id)) throw Errors.leaseNotFound();
    const rows = this.keyRows(id);
    for (const key of rows.map((r) => r.key).sort(Buffer.compare)) w.deleteRange(key, undefined);
    for (const { row } of rows) this.keyTable.removeSync(row);
    this.leaseTable.removeSync(idBytes(id));
    this.leases.delete(id);
  }

  /** Follows the lease of every key a write touched (attach on put, detach on delete or change). */
  onEvents(events: Event[]): void {
    for (const ev of events) {
      const before = ev.prevKv?.lease ?? 0n;
      const after = ev.type === 'put' ? ev.kv.lease : 0n;
      if (before === after) continue;
      if (before !== 0n) this.keyTable.removeSync(Buffer.concat([idBytes(before), storageKey(ev.kv.key)]));
      if (after !== 0n && this.leases.has(after)) this.keyTable.putSync(Buffer.concat([idBytes(after), storageKey(ev.kv.key)]), Buffer.from(ev.kv.key));
    }
  }

  /** The user keys a lease holds. */
  keysOf(id: bigint): Buffer[] {
    return this.keyRows(id).map((r) => r.key);
  }

  /** The lease-keys rows of a lease: table key and user key (copied: LMDB reuses its buffers). */
  private keyRows(id: bigint): { row: Buffer; key: Buffer }[] {
    const prefix = idBytes(id);
    const rows: { row: Buffer; key: Buffer }[] = [];
    for (const { key, value } of this.keyTable.getRange({ start: prefix })) {
      if (key.length < 8 || !key.subarray(0, 8).equals(prefix)) break;
      rows.push({ row: Buffer.from(key), key: Buffer.from(value) });
    }
    return rows;
  }

  // ---- snapshots -----------------------------------------------------------------------------

  /** The leases of a pinned read view, for a snapshot: [id, ttl] pairs. */
  exportLeases(view: ReadView): [string, number][] {
    const out: [string, number][] = [];
    for (const { key, value } of this.leaseTable.getRange({ transaction: view.transaction })) {
      out.push([BigInt.asIntN(64, key.readBigUInt64BE(0)).toString(), Number(value.readBigInt64BE(0))]);
    }
    return out;
  }

  /**
   * Inside the snapshot's install transaction: replaces every lease, and rebuilds which keys
   * each holds from the installed live keys.
   */
  importState(leases: [string, number][], liveKeys: Iterable<{ key: Buffer; lease: bigint }>): void {
    for (const k of [...this.leaseTable.getKeys({})]) this.leaseTable.removeSync(Buffer.from(k));
    for (const k of [...this.keyTable.getKeys({})]) this.keyTable.removeSync(Buffer.from(k));
    this.leases.clear();
    for (const [id, ttl] of leases) this.grant(BigInt(id), ttl);
    for (const { key, lease } of liveKeys) {
      if (lease !== 0n && this.leases.has(lease)) this.keyTable.putSync(Buffer.concat([idBytes(lease), storageKey(key)]), Buffer.from(key));
    }
  }

  // ---- leader side ---------------------------------------------------------------------------

  /** This member leads now: every lease runs afresh for its TTL plus extendMs (etcd's promote). */
  promote(extendMs: number): void {
    this.primary = true;
    const now = this.now();
    for (const l of this.leases.values()) l.expiryMs = now + extendMs + l.ttl * 1000;
  }

  demote(): void {
    this.primary = false;
    for (const l of this.leases.values()) l.expiryMs = Infinity;
  }

  /** Renews a lease (primary only); returns its TTL, or -1 when it does not exist or has expired. */
  renew(id: bigint): number {
    if (!this.primary) throw Errors.notLeader();
    const l = this.leases.get(id);
    if (l === undefined || l.expiryMs <= this.now()) return -1;
    l.expiryMs = this.now() + l.ttl * 1000;
    return l.ttl;
  }

  /** Remaining TTL in whole seconds as etcd reports it (truncated), or undefined when unknown. */
  timeToLive(id: bigint, withKeys: boolean): TimeToLive | undefined {
    const l = this.leases.get(id);
    if (l === undefined) return undefined;
    const remainingMs = l.expiryMs === Infinity ? l.ttl * 1000 : Math.max(0, l.expiryMs - this.now());
    return { ttl: Math.floor(remainingMs / 1000), grantedTtl: l.ttl, keys: withKeys ? this.keysOf(id) : [] };
  }

  /** Up to limit leases past their expiry, soonest first (primary only). */
  expired(limit: number): bigint[] {
    if (!this.primary) return [];
    const now = this.now();
    const out: Lease[] = [];
    for (const l of this.leases.values()) if (l.expiryMs <= now) out.push(l);
    out.sort((a, b) => a.expiryMs - b.expiryMs);
    return out.slice(0, limit).map((l) => l.id);
  }

  /** Pushes an expired lease's expiry forward while its revoke is in flight (retried after). */
  postpone(id: bigint, ms: number): void {
    const l = this.leases.get(id);
    if (l !== undefined) l.expiryMs = this.now() + ms;
  }
}

/** A lease ID as a table key (two's complement: any int64 fits). */
function idBytes(id: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt.asUintN(64, id));
  return b;
}
