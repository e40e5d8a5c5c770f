// The apply chain's auth layer (etcd's authApplierV3, server/etcdserver/apply_auth.go): every
// request is checked against the user and auth revision it was admitted under (the entry's
// header, ApplyContext.authInfo), on every member, in apply order, so a role change committed
// before the request is always seen. The same key checks serve the member's reads
// (checkTxnAuth, for a read-only txn served without Raft, as etcd's doSerialize).
//   Auth* requests   root role needed, but Authenticate; UserGet of oneself and RoleGet of an own
//                    role pass too (etcd's Apply + UserGet/RoleGet overrides)
//   Put              WRITE on the key; WRITE on every key the lease holds (root passes); READ on
//                    the key with prev_kv
//   DeleteRange      WRITE on the range; READ with prev_kv
//   Txn              READ on every compare; each op of both branches as above; nested txns too
//                    (etcd 3.5.28+ and 3.6; 3.5.17 skipped nested txns and a txn put's lease and
//                    prev_kv checks, which let a user write or read around its permissions)
//   LeaseRevoke      WRITE on every key the lease holds (root passes)
// Compaction, LeaseGrant, Alarm and member attributes pass unchecked, as in etcd 3.5.17.
import type { AuthInfo, AuthStore } from '../auth/auth-store';
import { FROM_KEY } from '../pb/fast-codec';
import type { DeleteRangeRequest, DeleteRangeResponse, LeaseRevokeRequest, LeaseRevokeResponse, PutRequest, PutResponse, RequestOp, TxnRequest, TxnResponse } from '../pb/types';
import type { ApplyContext, AuthApplied } from './applied';
import { ApplierLayer, type ApplierV3 } from './applier-v3';
import { needsAdmin, type AuthOp } from './auth-ops';

/** The lessor as the checks see it: whether a lease exists and the keys it holds. */
export interface LeaseKeys {
  leaseExists(id: bigint): boolean;
  keysOf(id: bigint): Buffer[];
}

const EMPTY = Buffer.alloc(0);

/**
 * A range end as etcd's checks see it. A Range or read-only Txn that sent an empty range_end is
 * decoded to FROM_KEY (Go keeps an empty slice apart from none, and serves it as "from key on");
 * etcd's permission check only looks at the length, so for it that range is the one key.
 */
export function checkedRangeEnd(end: Buffer | undefined | null): Buffer {
  return end === undefined || end === null || end === FROM_KEY ? EMPTY : end;
}

export class AuthLayer extends ApplierLayer {
  constructor(
    next: ApplierV3,
    private readonly store: AuthStore,
    private readonly leases: LeaseKeys,
  ) {
    super(next);
  }

  override auth(op: AuthOp, ctx: ApplyContext): AuthApplied {
    const ai = ctx.authInfo;
    if (needsAdmin(op)) this.store.isAdminPermitted(ai);
    else if (op.kind === 'auth_user_get' && op.req.name !== ai.username) this.store.isAdminPermitted(ai);
    else if (op.kind === 'auth_role_get' && !this.store.hasRole(ai.username, op.req.role)) this.store.isAdminPermitted(ai);
    return super.auth(op, ctx);
  }

  // With auth disabled (the common case) every KV check is skipped here, on each applied entry.
  override put(req: PutRequest, ctx: ApplyContext): PutResponse {
    if (this.store.isEnabled()) checkPutAuth(this.store, this.leases, ctx.authInfo, req);
    return super.put(req, ctx);
  }

  override deleteRange(req: DeleteRangeRequest, ctx: ApplyContext): DeleteRangeResponse {
    if (this.store.isEnabled()) {
      const end = checkedRangeEnd(req.range_end);
      this.store.isDeleteRangePermitted(ctx.authInfo, req.key, end);
      if (req.prev_kv) this.store.isRangePermitted(ctx.authInfo, req.key, end);
    }
    return super.deleteRange(req, ctx);
  }

  override txn(req: TxnRequest, ctx: ApplyContext): TxnResponse {
    checkTxnAuth(this.store, this.leases, ctx.authInfo, req);
    return super.txn(req, ctx);
  }

  override leaseRevoke(req: LeaseRevokeRequest, ctx: ApplyContext): LeaseRevokeResponse {
    if (this.store.isEnabled()) checkLeasePuts(this.store, this.leases, ctx.authInfo, BigInt(req.ID));
    return super.leaseRevoke(req, ctx);
  }
}

/** etcd's checkTxnAuth: every compare, then every op of the success and the failure branch. */
export function checkTxnAuth(store: AuthStore, leases: LeaseKeys, ai: AuthInfo, t: TxnRequest): void {
  if (!store.isEnabled()) return;
  for (const c of t.compare) store.isRangePermitted(ai, c.key, checkedRangeEnd(c.range_end));
  checkOps(store, leases, ai, t.success);
  checkOps(store, leases, ai, t.failure);
}

function checkOps(store: AuthStore, leases: LeaseKeys, ai: AuthInfo, ops: RequestOp[]): void {
  for (const op of ops) {
    if (op.request_range) store.isRangePermitted(ai, op.request_range.key, checkedRangeEnd(op.request_range.range_end));
    else if (op.request_put) checkPutAuth(store, leases, ai, op.request_put);
    else if (op.request_delete_range) {
      const d = op.request_delete_range;
      const end = checkedRangeEnd(d.range_end);
      if (d.prev_kv) store.isRangePermitted(ai, d.key, end);
      store.isDeleteRangePermitted(ai, d.key, end);
    } else if (op.request_txn) checkTxnAuth(store, leases, ai, op.request_txn);
  }
}

/** etcd's checkPutAuth: the key, the keys of the lease it attaches to, and READ for prev_kv. */
function checkPutAuth(store: AuthStore, leases: LeaseKeys, ai: AuthInfo, p: PutRequest): void {
  store.isPutPermitted(ai, p.key);
  checkLeasePuts(store, leases, ai, BigInt(p.lease ?? 0));
  if (p.prev_kv) store.isRangePermitted(ai, p.key, EMPTY);
}

/**
 * etcd's checkLeasePuts: who may not write every key a lease holds may neither revoke it nor
 * attach another key to it (which would let it revoke them). Root passes without looking.
 */
function checkLeasePuts(store: AuthStore, leases: LeaseKeys, ai: AuthInfo, id: bigint): void {
  if (!leases.leaseExists(id)) return;
  try {
    store.isAdminPermitted(ai);
    return;
  } catch {
    // not root: every key is checked
  }
  for (const key of leases.keysOf(id)) store.isPutPermitted(ai, key);
}
