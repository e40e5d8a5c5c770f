// etcd's backend quota: whether a write fits under --quota-backend-bytes, by etcd's cost
// estimate of the request (a key's metadata 256 bytes plus key and value; a txn the dearer of its
// branches' puts; a lease 64 bytes) against the backend's size on disk. A quota of 0 means
// etcd's default (2 GiB); a negative one turns the quota off.
import type { LeaseGrantRequest, PutRequest, TxnRequest } from '../pb/types';

export const DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024;
const KV_OVERHEAD_BYTES = 256;
const LEASE_OVERHEAD_BYTES = 64;

export type QuotaRequest = { put: PutRequest } | { txn: TxnRequest } | { lease_grant: LeaseGrantRequest };

export class BackendQuota {
  private readonly maxBytes: number;

  constructor(
    quotaBackendBytes: number,
    /** The backend's size on disk now (etcd's Backend().Size()). */
    private readonly sizeBytes: () => number,
  ) {
    this.maxBytes = quotaBackendBytes === 0 ? DEFAULT_QUOTA_BYTES : quotaBackendBytes;
  }

  get enabled(): boolean {
    return this.maxBytes > 0;
  }

  get limitBytes(): number {
    return Math.max(0, this.maxBytes);
  }

  available(req: QuotaRequest): boolean {
    if (!this.enabled) return true;
    const bytes = cost(req);
    // A request that adds nothing (a txn of deletes) passes whatever the size, as in etcd.
    if (bytes === 0) return true;
    return this.sizeBytes() + bytes < this.maxBytes;
  }
}

export function cost(req: QuotaRequest): number {
  if ('put' in req) return costPut(req.put);
  if ('txn' in req) return costTxn(req.txn);
  return LEASE_OVERHEAD_BYTES;
}

function costPut(p: PutRequest): number {
  return KV_OVERHEAD_BYTES + p.key.length + p.value.length;
}

/** Only the puts of each branch count (nested txns do not, as in etcd); the dearer branch wins. */
export function costTxn(t: TxnRequest): number {
  const branch = (ops: TxnRequest['success']): number => ops.reduce((n, op) => n + (op.request_put ? costPut(op.request_put) : 0), 0);
  return Math.max(branch(t.success), branch(t.failure));
}
