// A member's state as etcd's own bbolt buckets, so that a snapshot of etcd-ts is a file etcd's
// tools read (`etcdctl snapshot status`) and etcd restores (`etcdctl snapshot restore`):
//   key              revision key (17 bytes, 18 with 't' for a tombstone) -> mvccpb.KeyValue
//   meta             consistent_index -> u64 BE; finishedCompactRev/scheduledCompactRev ->
//                    revision key of the compacted revision (only once something was compacted)
//   lease            lease ID as u64 BE -> leasepb.Lease{ID, TTL} (RemainingTTL 0: no checkpoints)
//   alarm            marshalled etcdserverpb.AlarmMember -> empty
//   members          member ID in hex -> JSON of membership.Member ({"id":..,"peerURLs":[..],..})
//   members_removed  (empty: we keep no record of removed IDs)
//   cluster          clusterVersion -> "3.5.0"; downgrade -> {"target-version":"3.4.0","enabled":true}
//                    once a downgrade was ever enabled (after a cancel: "" and false, as etcd 3.5)
//   auth             authEnabled -> 1 byte (once auth was ever enabled or disabled), authRevision
//                    -> u64 BE; authUsers name -> authpb.User; authRoles name -> authpb.Role: the
//                    auth store's rows as they are (auth/auth-tables.ts keeps etcd's records)
// Sources read: etcd v3.4 mvcc/kvstore.go, kv_txn, revision.go; lease/lessor.go persistTo and
// leasepb/lease.proto; etcdserver/api/v3alarm/alarms.go; etcdserver/api/membership/store.go
// (mustSaveMemberToBackend, backendMemberKey, mustSaveClusterVersionToBackend; etcd v3.5's
// mustSaveDowngradeToBackend and backendDowngradeKey); auth/store.go
// (commitRevision); clientv3/snapshot/v3_snapshot.go (what restore reads: key, meta, lease; it
// rebuilds members from its flags, so the membership buckets only inform `snapshot status`).
// Everything is read from ONE pinned view and each bucket's entries() can be called again with
// the same result (the writer's two passes). Never writes.
import type { AuthBuckets } from '../auth/auth-store';
import type { ReadView } from '../backend/backend';
import type { MvccStore } from '../mvcc/store';
import { keyBucketEntry, revisionKey } from '../mvcc/hash';
import type { BboltBucketSource } from './bbolt-writer';
import { CLUSTER_VERSION } from '../server/version';
import { etcdDowngradeJson, parseDowngradeInfo } from '../membership/downgrade';

/** What the layout reads of the member, each from the same view. */
export interface EtcdLayoutSources {
  mvcc: MvccStore;
  lessor: { exportLeases(view: ReadView): [string, number][] };
  alarms: { exportJson(view: ReadView): string };
  membership: { storedJson(view?: ReadView): string };
  auth: { exportBuckets(view: ReadView): AuthBuckets };
  appliedIndex(view: ReadView): number;
}

export interface EtcdLayout {
  buckets: BboltBucketSource[];
  /** The store's revision in the view (what `snapshot status` should report, given history). */
  revision: number;
  compacted: number;
}

interface StoredMember {
  id: string;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

const u64 = (n: bigint | number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt.asUintN(64, BigInt(n)));
  return b;
};

const fixed = (name: string, rows: [Buffer, Buffer][]): BboltBucketSource => {
  // bbolt wants keys in byte order; callers build small lists, sorting them here keeps each honest.
  const sorted = [...rows].sort((a, b) => Buffer.compare(a[0], b[0]));
  return { name: Buffer.from(name), entries: () => sorted };
};

/** The etcd buckets of the state in `view` (which the caller keeps open while they are read). */
export function etcdLayout(src: EtcdLayoutSources, view: ReadView): EtcdLayout {
  const { revision, compacted } = src.mvcc.stateRevisions(view);
  const meta: [Buffer, Buffer][] = [[Buffer.from('consistent_index'), u64(src.appliedIndex(view))]];
  if (compacted >= 0) {
    // etcd writes scheduledCompactRev at Compact and finishedCompactRev when its deletion is done;
    // the key bucket below holds only what the compaction keeps, so both are the compacted rev.
    meta.push([Buffer.from('scheduledCompactRev'), revisionKey(compacted, 0, false)]);
    meta.push([Buffer.from('finishedCompactRev'), revisionKey(compacted, 0, false)]);
  }
  const leases = src.lessor.exportLeases(view).map(([id, ttl]): [Buffer, Buffer] => [u64(BigInt(id)), marshalLease(BigInt(id), ttl)]);
  const alarms = parseAlarms(src.alarms.exportJson(view)).map(([member, alarm]): [Buffer, Buffer] => [marshalAlarmMember(member, alarm), Buffer.alloc(0)]);
  const membership = JSON.parse(src.membership.storedJson(view)) as { members?: unknown; downgrade?: unknown };
  const members = storedMembers(membership.members).map((m): [Buffer, Buffer] => [Buffer.from(BigInt(m.id).toString(16)), Buffer.from(memberJson(m))]);
  const cluster: [Buffer, Buffer][] = [[Buffer.from('clusterVersion'), Buffer.from(CLUSTER_VERSION)]];
  const downgrade = parseDowngradeInfo(membership.downgrade);
  if (downgrade !== undefined) cluster.push([Buffer.from('downgrade'), Buffer.from(etcdDowngradeJson(downgrade))]);
  const keyBucket: BboltBucketSource = {
    name: Buffer.from('key'),
    *entries() {
      for (const { key, value } of src.mvcc.keptHistoryRows(view)) {
        const e = keyBucketEntry(key[0], key[1], value);
        yield [e.key, e.value] as const;
      }
    },
  };
  const auth = src.auth.exportBuckets(view);
  const buckets = [
    fixed('alarm', alarms),
    fixed('auth', auth.auth),
    fixed('authRoles', auth.authRoles),
    fixed('authUsers', auth.authUsers),
    fixed('cluster', cluster),
    keyBucket,
    fixed('lease', leases),
    fixed('members', members),
    fixed('members_removed', []),
    fixed('meta', meta),
  ];
  return { buckets, revision, compacted };
}

// --- protobuf, gogoproto style: fields in number order, zero values left out --------------------

function varint(v: bigint): number[] {
  const out: number[] = [];
  let u = BigInt.asUintN(64, v);
  for (; u >= 0x80n; u >>= 7n) out.push(Number(u & 0x7fn) | 0x80);
  out.push(Number(u));
  return out;
}

function varintFields(fields: [tag: number, v: bigint][]): Buffer {
  const bytes: number[] = [];
  for (const [tag, v] of fields) if (v !== 0n) bytes.push(tag, ...varint(v));
  return Buffer.from(bytes);
}

/** leasepb.Lease{ID: 1, TTL: 2, RemainingTTL: 3}, as etcd's lessor persists a lease. */
export function marshalLease(id: bigint, ttlSec: number): Buffer {
  return varintFields([
    [0x08, id],
    [0x10, BigInt(ttlSec)],
  ]);
}

/** etcdserverpb.AlarmMember{MemberID: 1, Alarm: 2}, the alarm bucket's key. */
export function marshalAlarmMember(member: bigint, alarm: number): Buffer {
  return varintFields([
    [0x08, member],
    [0x10, BigInt(alarm)],
  ]);
}

/**
 * The fields of a protobuf message as Go marshals etcd's small records (Lease, AlarmMember,
 * KeyValue): varints as bigints, length-delimited fields as copies; the last value of a field
 * wins; fixed-width fields are skipped.
 */
export function readProtoFields(buf: Buffer): Map<number, bigint | Buffer> {
  const out = new Map<number, bigint | Buffer>();
  let at = 0;
  const next = (): bigint => {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (at >= buf.length || shift > 63n) throw new Error('protobuf: truncated varint');
      const b = buf[at++];
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v;
    }
  };
  while (at < buf.length) {
    const tag = Number(next());
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === 0) out.set(field, next());
    else if (wire === 2) {
      const len = Number(next());
      if (at + len > buf.length) throw new Error('protobuf: truncated field');
      out.set(field, Buffer.from(buf.subarray(at, at + len)));
      at += len;
    } else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else throw new Error(`protobuf: unsupported wire type ${wire}`);
  }
  return out;
}

/** A varint field (0 when absent or not a varint). */
export function varintField(fields: Map<number, bigint | Buffer>, n: number): bigint {
  const v = fields.get(n);
  return typeof v === 'bigint' ? v : 0n;
}

/** Go's json.Marshal of membership.Member: id, peerURLs, isLearner, name, clientURLs (omitempty). */
function memberJson(m: StoredMember): string {
  // The ID is a uint64 and may not fit a JS number: write its digits ourselves.
  let s = `{"id":${BigInt(m.id).toString()},"peerURLs":${JSON.stringify(m.peerUrls)}`;
  if (m.isLearner) s += ',"isLearner":true';
  if (m.name !== '') s += `,"name":${JSON.stringify(m.name)}`;
  if (m.clientUrls.length > 0) s += `,"clientURLs":${JSON.stringify(m.clientUrls)}`;
  return `${s}}`;
}

function storedMembers(v: unknown): StoredMember[] {
  return Array.isArray(v) ? (v as StoredMember[]) : [];
}

function parseAlarms(json: string): [bigint, number][] {
  const v: unknown = JSON.parse(json);
  if (!Array.isArray(v)) return [];
  const out: [bigint, number][] = [];
  for (const a of v as { member?: unknown; alarm?: unknown }[]) {
    if (typeof a.member === 'string' && typeof a.alarm === 'number') out.push([BigInt(a.member), a.alarm]);
  }
  return out;
}
