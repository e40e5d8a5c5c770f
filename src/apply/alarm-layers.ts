// Apply-chain layers for alarms and the quota (etcd's applierV3Capped, applierV3Corrupt and
// quotaApplierV3). etcd swaps its whole applier when an alarm is raised; here the layer asks the
// alarm store on each request, which is the same decision made from the same applied state.
import type { AlarmStore } from '../alarm/alarm-store';
import { Errors } from '../errors';
import type { BackendQuota } from '../etcdserver/quota';
import { costTxn } from '../etcdserver/quota';
import {
  AlarmType,
  type CompactionRequest,
  type CompactionResponse,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type LeaseGrantRequest,
  type LeaseGrantResponse,
  type LeaseRevokeRequest,
  type LeaseRevokeResponse,
  type PutRequest,
  type PutResponse,
  type TxnRequest,
  type TxnResponse,
} from '../pb/types';
import type { ApplyContext } from './applied';
import { ApplierLayer, type ApplierV3 } from './applier-v3';

/**
 * With CORRUPT raised, every KV and lease change is refused; with NOSPACE, what would grow the
 * store (puts, txns that put, lease grants) is refused while deletes, compaction and revokes —
 * what frees space — still apply. Alarm requests themselves always pass.
 */
export class AlarmLayer extends ApplierLayer {
  constructor(
    next: ApplierV3,
    private readonly alarms: AlarmStore,
  ) {
    super(next);
  }

  override put(req: PutRequest, ctx: ApplyContext): PutResponse {
    this.refuseGrowth();
    return super.put(req, ctx);
  }

  override txn(req: TxnRequest, ctx: ApplyContext): TxnResponse {
    if (costTxn(req) > 0) this.refuseGrowth();
    else this.refuseIfCorrupt();
    return super.txn(req, ctx);
  }

  override leaseGrant(req: LeaseGrantRequest, ctx: ApplyContext): LeaseGrantResponse {
    this.refuseGrowth();
    return super.leaseGrant(req, ctx);
  }

  override deleteRange(req: DeleteRangeRequest, ctx: ApplyContext): DeleteRangeResponse {
    this.refuseIfCorrupt();
    return super.deleteRange(req, ctx);
  }

  override compaction(req: CompactionRequest, ctx: ApplyContext): CompactionResponse {
    this.refuseIfCorrupt();
    return super.compaction(req, ctx);
  }

  override leaseRevoke(req: LeaseRevokeRequest, ctx: ApplyContext): LeaseRevokeResponse {
    this.refuseIfCorrupt();
    return super.leaseRevoke(req, ctx);
  }

  /** For what grows the store: refused under CORRUPT and under NOSPACE. */
  private refuseGrowth(): void {
    this.refuseIfCorrupt();
    if (this.alarms.has(AlarmType.NOSPACE)) throw Errors.noSpace();
  }

  private refuseIfCorrupt(): void {
    if (this.alarms.has(AlarmType.CORRUPT)) throw Errors.corrupt();
  }
}

/**
 * etcd's quotaApplierV3: a write that no longer fits under the quota is still applied (every
 * member applies the same entries), but its proposer is told `database space exceeded`, and the
 * member raises its NOSPACE alarm (`exceeded`, told inside the transaction: the caller proposes
 * the alarm once it is over, as etcd's applyEntryNormal does).
 */
export class QuotaLayer extends ApplierLayer {
  constructor(
    next: ApplierV3,
    private readonly quota: BackendQuota,
    private readonly exceeded: () => void,
  ) {
    super(next);
  }

  private refuse(): never {
    this.exceeded();
    throw Errors.noSpace();
  }

  override put(req: PutRequest, ctx: ApplyContext): PutResponse {
    const fits = this.quota.available({ put: req });
    const resp = super.put(req, ctx);
    if (!fits) this.refuse();
    return resp;
  }

  override txn(req: TxnRequest, ctx: ApplyContext): TxnResponse {
    const fits = this.quota.available({ txn: req });
    const resp = super.txn(req, ctx);
    if (!fits) this.refuse();
    return resp;
  }

  override leaseGrant(req: LeaseGrantRequest, ctx: ApplyContext): LeaseGrantResponse {
    const fits = this.quota.available({ lease_grant: req });
    const resp = super.leaseGrant(req, ctx);
    if (!fits) this.refuse();
    return resp;
  }
}
