// The apply chain: each request kind is applied by a stack of layers with one responsibility
// each, as etcd stacks its auth applier over its quota applier over the backend applier. A layer
// extends ApplierLayer, overrides the kinds it checks and calls on to `next`; BackendApplier at
// the bottom changes the state. Layers run inside the apply transaction: deterministic only.
import type { Event, MvccStore, WriteTxn } from '../mvcc/store';
import { Errors } from '../errors';
import type { AlarmStore } from '../alarm/alarm-store';
import {
  AlarmAction,
  AlarmType,
  type AlarmRequest,
  type AlarmResponse,
  type CompactionRequest,
  type CompactionResponse,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type DowngradeInfo,
  type DowngradeInfoSetRequest,
  type LeaseGrantRequest,
  type LeaseGrantResponse,
  type LeaseRevokeRequest,
  type LeaseRevokeResponse,
  type MemberAttributes,
  type PutRequest,
  type PutResponse,
  type TxnRequest,
  type TxnResponse,
} from '../pb/types';
import type { ApplyContext, AuthApplied } from './applied';
import { applyAuthOp, type AuthApplyDeps, type AuthOp } from './auth-ops';
import { mvccCall } from './range';
import { deleteRange, put, txn, type LeaseLookup } from './txn';

/** etcd's applierV3: one method per request kind a Raft entry can carry. */
export interface ApplierV3 {
  put(req: PutRequest, ctx: ApplyContext): PutResponse;
  deleteRange(req: DeleteRangeRequest, ctx: ApplyContext): DeleteRangeResponse;
  txn(req: TxnRequest, ctx: ApplyContext): TxnResponse;
  compaction(req: CompactionRequest, ctx: ApplyContext): CompactionResponse;
  leaseGrant(req: LeaseGrantRequest, ctx: ApplyContext): LeaseGrantResponse;
  leaseRevoke(req: LeaseRevokeRequest, ctx: ApplyContext): LeaseRevokeResponse;
  memberAttributes(req: MemberAttributes, ctx: ApplyContext): void;
  alarm(req: AlarmRequest, ctx: ApplyContext): AlarmResponse;
  /** etcd applies it outside its auth and quota appliers: a layer has nothing to refuse here. */
  downgradeInfoSet(req: DowngradeInfoSetRequest, ctx: ApplyContext): void;
  /** Every Auth* request (etcd's AuthEnable ... RoleList methods, as one typed union). */
  auth(op: AuthOp, ctx: ApplyContext): AuthApplied;
}

/** A layer that passes everything on; subclasses override what they check. */
export class ApplierLayer implements ApplierV3 {
  constructor(protected readonly next: ApplierV3) {}
  put(req: PutRequest, ctx: ApplyContext): PutResponse {
    return this.next.put(req, ctx);
  }
  deleteRange(req: DeleteRangeRequest, ctx: ApplyContext): DeleteRangeResponse {
    return this.next.deleteRange(req, ctx);
  }
  txn(req: TxnRequest, ctx: ApplyContext): TxnResponse {
    return this.next.txn(req, ctx);
  }
  compaction(req: CompactionRequest, ctx: ApplyContext): CompactionResponse {
    return this.next.compaction(req, ctx);
  }
  leaseGrant(req: LeaseGrantRequest, ctx: ApplyContext): LeaseGrantResponse {
    return this.next.leaseGrant(req, ctx);
  }
  leaseRevoke(req: LeaseRevokeRequest, ctx: ApplyContext): LeaseRevokeResponse {
    return this.next.leaseRevoke(req, ctx);
  }
  memberAttributes(req: MemberAttributes, ctx: ApplyContext): void {
    this.next.memberAttributes(req, ctx);
  }
  alarm(req: AlarmRequest, ctx: ApplyContext): AlarmResponse {
    return this.next.alarm(req, ctx);
  }
  downgradeInfoSet(req: DowngradeInfoSetRequest, ctx: ApplyContext): void {
    this.next.downgradeInfoSet(req, ctx);
  }
  auth(op: AuthOp, ctx: ApplyContext): AuthApplied {
    return this.next.auth(op, ctx);
  }
}

/** A layer's constructor: given the layer below, the layer above it. */
export type LayerFactory = (next: ApplierV3) => ApplierV3;

/** Stacks layers over the base: the first factory is the outermost layer. */
export function applyChain(base: ApplierV3, layers: LayerFactory[]): ApplierV3 {
  return layers.reduceRight<ApplierV3>((next, make) => make(next), base);
}

/** What applying needs of the lessor (lease/lessor.ts); all of it runs inside the transaction. */
export interface LeaseApply extends LeaseLookup {
  grant(id: bigint, ttlSec: number): number;
  revoke(id: bigint, w: WriteTxn): void;
  onEvents(events: Event[]): void;
}

export interface BackendApplierDeps {
  mvcc: MvccStore;
  leases: LeaseApply;
  members: {
    setAttributes(id: bigint, name: string, clientUrls: string[]): void;
    setDowngradeInfo(d: DowngradeInfo): void;
  };
  alarms: AlarmStore;
  /** An alarm was raised or disarmed cluster-wide (first of its type / last of its type). */
  alarmChanged?: (alarm: AlarmType, raised: boolean, member: bigint) => void;
  /** Every MVCC event written, in order (for watchers, once the batch is on disk). */
  written: (events: Event[]) => void;
  /** The auth store and the token provider (Authenticate assigns its token at apply). */
  auth: AuthApplyDeps;
}

/** The bottom of the chain (etcd's applierV3backend): requests become MVCC, lease and member changes. */
export class BackendApplier implements ApplierV3 {
  constructor(private readonly d: BackendApplierDeps) {}

  put(req: PutRequest): PutResponse {
    return this.write((w) => put(w, req, this.d.leases));
  }

  deleteRange(req: DeleteRangeRequest): DeleteRangeResponse {
    return this.write((w) => deleteRange(w, req));
  }

  txn(req: TxnRequest): TxnResponse {
    return this.write((w) => txn(w, req, this.d.leases));
  }

  compaction(req: CompactionRequest): CompactionResponse {
    const { mvcc } = this.d;
    const rev = Number(req.revision);
    if (rev <= mvcc.writeCompactRevision()) throw Errors.compacted();
    if (rev > mvcc.writeRevision()) throw Errors.futureRev();
    // Only records the compaction (etcd's updateCompactRev): reads below rev fail from this entry
    // on, on every member; the history is deleted afterwards, off the apply path, in batches.
    mvccCall(() => mvcc.compact(rev));
    return { header: { revision: mvcc.writeRevision() } };
  }

  leaseGrant(req: LeaseGrantRequest): LeaseGrantResponse {
    const ttl = this.d.leases.grant(BigInt(req.ID), Number(req.TTL));
    return { header: { revision: this.d.mvcc.writeRevision() }, ID: String(req.ID), TTL: ttl, error: '' };
  }

  leaseRevoke(req: LeaseRevokeRequest): LeaseRevokeResponse {
    const id = BigInt(req.ID);
    this.write((w) => this.d.leases.revoke(id, w));
    return { header: { revision: this.d.mvcc.writeRevision() } };
  }

  memberAttributes(req: MemberAttributes): void {
    this.d.members.setAttributes(BigInt(req.id), req.name, req.client_urls);
  }

  /** etcd's applierV3backend.DowngradeInfoSet: a cancel keeps the record, disabled, with no target. */
  downgradeInfoSet(req: DowngradeInfoSetRequest): void {
    this.d.members.setDowngradeInfo(req.enabled ? { enabled: true, targetVersion: req.ver } : { enabled: false, targetVersion: '' });
  }

  auth(op: AuthOp, ctx: ApplyContext): AuthApplied {
    return applyAuthOp(this.d.auth, op, ctx);
  }

  /** etcd's applierV3backend.Alarm: GET lists, ACTIVATE/DEACTIVATE answer with what changed. */
  alarm(req: AlarmRequest): AlarmResponse {
    const { alarms } = this.d;
    const member = BigInt(req.memberID);
    const before = alarms.get(req.alarm).length;
    switch (req.action) {
      case AlarmAction.GET:
        return { alarms: alarms.get(req.alarm) };
      case AlarmAction.ACTIVATE: {
        const m = alarms.activate(member, req.alarm);
        if (m === undefined) return { alarms: [] };
        if (before === 0) this.d.alarmChanged?.(req.alarm, true, member);
        return { alarms: [m] };
      }
      case AlarmAction.DEACTIVATE: {
        const m = alarms.deactivate(member, req.alarm);
        if (m === undefined) return { alarms: [] };
        if (before > 0 && alarms.get(req.alarm).length === 0) this.d.alarmChanged?.(req.alarm, false, member);
        return { alarms: [m] };
      }
      default:
        return { alarms: [] };
    }
  }

  private write<T>(fn: (w: WriteTxn) => T): T {
    const w = this.d.mvcc.write();
    try {
      return fn(w);
    } catch (err) {
      // Requests are checked before anything is written; an error after a write is a bug.
      if (w.events.length > 0) throw new Error(`apply: request failed after writing: ${String(err)}`);
      throw err;
    } finally {
      if (w.events.length > 0) {
        w.end();
        this.d.leases.onEvents(w.events);
        this.d.written(w.events);
      }
    }
  }
}
