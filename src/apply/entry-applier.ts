// The deterministic applier: committed Raft entries in, state changes out. Runs inside the Ready
// transaction, records the applied index in it, and hands each result to the member that
// proposed the request once the transaction is on disk. Each request goes down the apply chain
// (applier-v3.ts). No clocks, no randomness, no unordered iteration: two members that apply the
// same entries end with the same state.
import type { Backend, ReadView } from '../backend/backend';
import type { Event, MvccStore } from '../mvcc/store';
import { EntryType, type ConfChange, type Entry } from '../raft/types';
import type { Applier as RaftApplier } from '../raftnode/node';
import { EtcdError, Errors } from '../errors';
import type { AlarmType, DowngradeInfo, InternalRequest } from '../pb/types';
import type { AlarmStore } from '../alarm/alarm-store';
import { decodeEntryData, entryHeader } from './entry-codec';
import { decodeMemberChange, raftChange, type MemberChange } from '../membership/member-change';
import type { MemberInfo } from '../membership/membership';
import { NO_AUTH_INFO, type ApplyContext, type Applied, type ApplyResult } from './applied';
import { applyChain, BackendApplier, type ApplierV3, type LayerFactory, type LeaseApply } from './applier-v3';
import { authOpOf, type AuthApplyDeps } from './auth-ops';

const META_APPLIED = 'applied-index';

export interface EntryApplierOptions {
  backend: Backend;
  mvcc: MvccStore;
  memberId: bigint;
  leases: LeaseApply;
  /** This member's in-flight proposals by request ID: their decoded requests, to skip decoding. */
  localRequest: (id: bigint) => InternalRequest | undefined;
  /** Cluster membership, changed by applied entries (inside the transaction). */
  members: {
    setAttributes(id: bigint, name: string, clientUrls: string[]): void;
    /** Sets the cluster's downgrade record. */
    setDowngradeInfo(d: DowngradeInfo): void;
    /** Applies a change; throws EtcdError when it is not valid (then raft does not apply it either). */
    applyChange(change: MemberChange): MemberInfo[];
  };
  alarms: AlarmStore;
  /** An alarm type was raised (first member) or cleared (last member), inside the transaction. */
  alarmChanged?: (alarm: AlarmType, raised: boolean, member: bigint) => void;
  /** Layers over the backend applier, outermost first (alarms, auth, quota). */
  layers?: LayerFactory[];
  /** The auth store and token provider the Auth* requests apply to. */
  auth: AuthApplyDeps;
  /** Called once the transaction is on disk, with the results of this member's proposals. */
  deliver: (results: Map<bigint, ApplyResult>) => void;
  /** Called once the transaction is on disk, with every MVCC event it applied (for watchers). */
  notify: (events: Event[], revision: number) => void;
  /**
   * An entry took longer than SLOW_APPLY_MS to apply (etcd_server_slow_apply_total). The only
   * clock read here: it times the apply and never changes what is applied.
   */
  slowApply?: () => void;
  /**
   * Each applied request: etcd's op name for it, whether it succeeded (as etcd counts: a
   * compacted-revision error too), and how long its apply took in seconds
   * (etcd_server_apply_duration_seconds). Clock reads only, as slowApply.
   */
  appliedRequest?: (op: string, success: boolean, seconds: number) => void;
}

/** etcd 3.5's op label of each request kind (applierV3backend.Apply), by our request's field. */
const OP_NAMES: ReadonlyArray<readonly [keyof InternalRequest, string]> = [
  ['put', 'Put'],
  ['delete_range', 'DeleteRange'],
  ['txn', 'Txn'],
  ['compaction', 'Compaction'],
  ['lease_grant', 'LeaseGrant'],
  ['lease_revoke', 'LeaseRevoke'],
  ['alarm', 'Alarm'],
  ['member_attributes', 'ClusterMemberAttrSet'],
  ['downgrade_info_set', 'DowngradeInfoSet'],
  ['authenticate', 'Authenticate'],
  ['auth_enable', 'AuthEnable'],
  ['auth_disable', 'AuthDisable'],
  ['auth_status', 'AuthStatus'],
  ['auth_user_add', 'UserAdd'],
  ['auth_user_delete', 'UserDelete'],
  ['auth_user_change_password', 'UserChangePassword'],
  ['auth_user_grant_role', 'UserGrantRole'],
  ['auth_user_get', 'UserGet'],
  ['auth_user_revoke_role', 'UserRevokeRole'],
  ['auth_user_list', 'UserList'],
  ['auth_role_add', 'RoleAdd'],
  ['auth_role_get', 'RoleGet'],
  ['auth_role_grant_permission', 'RoleGrantPermission'],
  ['auth_role_revoke_permission', 'RoleRevokePermission'],
  ['auth_role_delete', 'RoleDelete'],
  ['auth_role_list', 'RoleList'],
];

/** etcd counts an apply that failed only on a compacted revision as a success. */
const COMPACTED = Errors.compacted().message;

function opName(req: InternalRequest): string {
  for (const [field, op] of OP_NAMES) if (req[field] !== undefined && req[field] !== null) return op;
  return 'unknown';
}

/** etcd's warningApplyDuration. */
const SLOW_APPLY_MS = 100;

export class EntryApplier implements RaftApplier {
  private applied: number;
  /** Events of the batch being applied (handed to watchers once it is on disk). */
  private events: Event[] = [];
  private readonly chain: ApplierV3;

  constructor(private readonly o: EntryApplierOptions) {
    this.applied = o.backend.getMetaNumber(META_APPLIED) ?? 0;
    const base = new BackendApplier({
      mvcc: o.mvcc,
      leases: o.leases,
      members: o.members,
      alarms: o.alarms,
      alarmChanged: o.alarmChanged,
      auth: o.auth,
      written: (events) => {
        for (const ev of events) this.events.push(ev);
      },
    });
    this.chain = applyChain(base, o.layers ?? []);
  }

  appliedIndex(): number {
    return this.applied;
  }

  applyEntries(entries: Entry[]): { release: () => void; confChanges: ConfChange[] } {
    const results = new Map<bigint, ApplyResult>();
    const confChanges: ConfChange[] = [];
    const slowApply = this.o.slowApply;
    // One clock read per entry: each entry's end is the next one's start.
    let startMs = slowApply === undefined ? 0 : performance.now();
    for (const entry of entries) {
      if (entry.index <= this.applied) continue; // already in the state (replayed after restart)
      if (entry.type === EntryType.Normal && entry.data.length > 0) this.applyEntry(entry.index, entry.data, results);
      else if (entry.type === EntryType.ConfChange) {
        const cc = this.applyMemberChange(entry.data, results);
        if (cc !== undefined) confChanges.push(cc);
      }
      this.applied = entry.index;
      if (slowApply !== undefined) {
        const endMs = performance.now();
        if (endMs - startMs > SLOW_APPLY_MS) slowApply();
        startMs = endMs;
      }
    }
    this.o.backend.putMetaNumber(META_APPLIED, this.applied);
    const events = this.events;
    this.events = [];
    const revision = this.o.mvcc.writeRevision();
    return {
      release: () => {
        if (events.length > 0) this.o.notify(events, revision);
        if (results.size > 0) this.o.deliver(results);
      },
      confChanges,
    };
  }

  /** The applied index as committed to disk (what a snapshot taken now stands at). */
  storedAppliedIndex(view?: ReadView): number {
    return this.o.backend.getMetaNumber(META_APPLIED, view) ?? 0;
  }

  restore(index: number): void {
    this.applied = index;
    this.o.backend.putMetaNumber(META_APPLIED, index);
  }

  private applyMemberChange(data: Buffer, results: Map<bigint, ApplyResult>): ConfChange | undefined {
    const ctx = entryHeader(data);
    const change = decodeMemberChange(data);
    let cc: ConfChange | undefined;
    const result = settle(() => {
      const members = this.o.members.applyChange(change);
      cc = raftChange(change);
      return { kind: 'member_change', members };
    });
    if (ctx.member === this.o.memberId) results.set(ctx.id, result);
    return cc;
  }

  private applyEntry(index: number, data: Buffer, results: Map<bigint, ApplyResult>): void {
    const { member, id } = entryHeader(data);
    const mine = member === this.o.memberId;
    const req = (mine ? this.o.localRequest(id) : undefined) ?? decodeEntryData(data);
    const h = req.header;
    const authInfo = h !== undefined && h !== null ? { username: h.username, revision: Number(h.auth_revision) } : NO_AUTH_INFO;
    const ctx: ApplyContext = { member, id, index, authInfo };
    const timed = this.o.appliedRequest;
    const startMs = timed === undefined ? 0 : performance.now();
    const result = settle(() => this.applyRequest(req, ctx));
    if (timed !== undefined) timed(opName(req), result.ok || result.error.message === COMPACTED, (performance.now() - startMs) / 1000);
    if (mine) results.set(ctx.id, result);
  }

  /** etcd's applyV3Request: the one place a request kind picks its method of the chain. */
  private applyRequest(req: InternalRequest, ctx: ApplyContext): Applied {
    const c = this.chain;
    if (req.put) return { kind: 'put', response: c.put(req.put, ctx) };
    if (req.delete_range) return { kind: 'delete_range', response: c.deleteRange(req.delete_range, ctx) };
    if (req.txn) return { kind: 'txn', response: c.txn(req.txn, ctx) };
    if (req.compaction) return { kind: 'compaction', response: c.compaction(req.compaction, ctx) };
    if (req.lease_grant) return { kind: 'lease_grant', response: c.leaseGrant(req.lease_grant, ctx) };
    if (req.lease_revoke) return { kind: 'lease_revoke', response: c.leaseRevoke(req.lease_revoke, ctx) };
    if (req.alarm) return { kind: 'alarm', response: c.alarm(req.alarm, ctx) };
    if (req.member_attributes) {
      c.memberAttributes(req.member_attributes, ctx);
      return { kind: 'member_attributes' };
    }
    if (req.downgrade_info_set) {
      c.downgradeInfoSet(req.downgrade_info_set, ctx);
      return { kind: 'downgrade_info_set' };
    }
    const auth = authOpOf(req);
    if (auth !== undefined) return c.auth(auth, ctx);
    return { kind: 'none' };
  }
}

/**
 * Client errors are results; anything else is a bug that must stop the member before it diverges
 * from the others, so it is thrown on.
 */
function settle(fn: () => Applied): ApplyResult {
  try {
    return { ok: true, applied: fn() };
  } catch (err) {
    if (!(err instanceof EtcdError)) throw err;
    return { ok: false, error: err };
  }
}
