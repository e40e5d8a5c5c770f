// What applying one request produced, tagged by the request's kind, so that the member that
// proposed it hands each caller the response type it asked for (etcdserver/proposals.ts) without
// casting an untyped result.
import type { EtcdError } from '../errors';
import type { MemberInfo } from '../membership/membership';
import type { AlarmResponse, CompactionResponse, DeleteRangeResponse, LeaseGrantResponse, LeaseRevokeResponse, PutResponse, TxnResponse } from '../pb/types';

export type Applied =
  | { kind: 'put'; response: PutResponse }
  | { kind: 'delete_range'; response: DeleteRangeResponse }
  | { kind: 'txn'; response: TxnResponse }
  | { kind: 'compaction'; response: CompactionResponse }
  | { kind: 'lease_grant'; response: LeaseGrantResponse }
  | { kind: 'lease_revoke'; response: LeaseRevokeResponse }
  | { kind: 'alarm'; response: AlarmResponse }
  | { kind: 'member_attributes' }
  | { kind: 'downgrade_info_set' }
  | { kind: 'member_change'; members: MemberInfo[] }
  /** An entry with no request this version knows (applied as a no-op, as etcd skips it). */
  | { kind: 'none' };

export type ApplyResult = { ok: true; applied: Applied } | { ok: false; error: EtcdError };

/**
 * Who proposed the request being applied (the entry header; etcd's RequestHeader). The auth
 * layer will read the user and the auth revision the request was admitted under from here.
 */
export interface ApplyContext {
  member: bigint;
  id: bigint;
}
