// The member calls the lock and election logic makes, and the requests they carry, written out
// whole (every field, as a decoded request has them): clientv3's Get/Txn/Delete options as
// etcd's concurrency package uses them (WithFirstCreate, WithLastCreate, WithMaxCreateRev).
import type { Caller } from '../etcdserver/pipeline';
import * as pb from '../pb/types';
import type { WatchableStore } from '../watch/watchable-store';

/** What the lock and election logic needs of the member (api/member-api.ts's MemberApi has it). */
export interface KvMember {
  readonly watchable: WatchableStore;
  range(req: pb.RangeRequest, caller: Caller): Promise<pb.RangeResponse>;
  txn(req: pb.TxnRequest, caller: Caller): Promise<pb.TxnResponse>;
  deleteRange(req: pb.DeleteRangeRequest, caller: Caller): Promise<pb.DeleteRangeResponse>;
  leaseGrant(req: pb.LeaseGrantRequest, caller: Caller): Promise<pb.LeaseGrantResponse>;
}

/** concurrency.defaultSessionTTL: a lock or campaign without a lease gets one of this TTL. */
export const DEFAULT_SESSION_TTL_S = 60;

/** clientv3.GetPrefixRangeEnd: the first key after every key with the prefix ("\0" = to the end). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** `<prefix><lease in hex>`, as Go's fmt.Sprintf("%s%x", pfx, leaseID). */
export function sessionKey(prefix: Buffer, lease: bigint): Buffer {
  const hex = lease < 0n ? `-${(-lease).toString(16)}` : lease.toString(16);
  return Buffer.concat([prefix, Buffer.from(hex)]);
}

export function rangeReq(key: Buffer, o: Partial<pb.RangeRequest> = {}): pb.RangeRequest {
  return {
    key, range_end: Buffer.alloc(0), limit: 0, revision: 0, sort_order: pb.SortOrder.NONE, sort_target: pb.SortTarget.KEY,
    serializable: false, keys_only: false, count_only: false, min_mod_revision: 0, max_mod_revision: 0, min_create_revision: 0, max_create_revision: 0, ...o,
  };
}

/** WithFirstCreate (descend = false) or WithLastCreate over a prefix, optionally WithMaxCreateRev. */
export function topByCreate(prefix: Buffer, descend: boolean, maxCreateRevision = 0): pb.RangeRequest {
  return rangeReq(prefix, {
    range_end: prefixEnd(prefix), limit: 1, sort_target: pb.SortTarget.CREATE,
    sort_order: descend ? pb.SortOrder.DESCEND : pb.SortOrder.ASCEND, max_create_revision: maxCreateRevision,
  });
}

export function putReq(key: Buffer, value: Buffer, lease: bigint): pb.PutRequest {
  return { key, value, lease: lease.toString(), prev_kv: false, ignore_value: false, ignore_lease: false };
}

export function deleteReq(key: Buffer): pb.DeleteRangeRequest {
  return { key, range_end: Buffer.alloc(0), prev_kv: false };
}

/** Compare(CreateRevision(key), "=", rev). */
export function createRevisionIs(key: Buffer, rev: number): pb.Compare {
  return { result: pb.CompareResult.EQUAL, target: pb.CompareTarget.CREATE, key, target_union: 'create_revision', create_revision: rev, range_end: Buffer.alloc(0) };
}

export const opRange = (r: pb.RangeRequest): pb.RequestOp => ({ request: 'request_range', request_range: r });
export const opPut = (r: pb.PutRequest): pb.RequestOp => ({ request: 'request_put', request_put: r });
export const opDelete = (r: pb.DeleteRangeRequest): pb.RequestOp => ({ request: 'request_delete_range', request_delete_range: r });

/** The kvs of the i-th response of a txn (a range). */
export function rangeKvs(resp: pb.TxnResponse, i: number): pb.KeyValuePb[] {
  return resp.responses[i]?.response_range?.kvs ?? [];
}

export function headerRevision(h: { header?: Partial<pb.ResponseHeader> }): number {
  return Number(h.header?.revision ?? 0);
}
