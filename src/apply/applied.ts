// What applying one request produced, tagged by the request's kind, so that the member that
// proposed it hands each caller the response type it asked for (etcdserver/proposals.ts) without
// casting an untyped result.
import type { AuthInfo } from '../auth/auth-store';
import type { Permission } from '../auth/auth-record';
import type { EtcdError } from '../errors';
import type { MemberInfo } from '../membership/membership';
import type { AlarmResponse, CompactionResponse, DeleteRangeResponse, LeaseGrantResponse, LeaseRevokeResponse, PutResponse, TxnResponse } from '../pb/types';

/** What an Auth* request applied to (auth-ops.ts); the kinds that return nothing but success share one shape. */
export type AuthApplied =
  | {
      kind:
        | 'auth_enable'
        | 'auth_disable'
        | 'auth_user_add'
        | 'auth_user_delete'
        | 'auth_user_change_password'
        | 'auth_user_grant_role'
        | 'auth_user_revoke_role'
        | 'auth_role_add'
        | 'auth_role_delete'
        | 'auth_role_grant_permission'
        | 'auth_role_revoke_permission';
    }
  | { kind: 'auth_status'; enabled: boolean; authRevision: number }
  /**
   * The token the provider assigned at apply (a simple token is registered on every member in
   * apply order; only the proposer's caller gets this). A rejection (no provider, a verify-only
   * JWT key) is the Authenticate's error; it is marked handled, so members that drop it are fine.
   */
  | { kind: 'authenticate'; token: Promise<string> }
  | { kind: 'auth_user_get'; roles: string[] }
  | { kind: 'auth_user_list'; users: string[] }
  | { kind: 'auth_role_get'; perm: Permission[] }
  | { kind: 'auth_role_list'; roles: string[] };

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
  | AuthApplied
  /** An entry with no request this version knows (applied as a no-op, as etcd skips it). */
  | { kind: 'none' };

export type ApplyResult = { ok: true; applied: Applied } | { ok: false; error: EtcdError };

/** The identity of an entry without a header: etcd's empty AuthInfo (every check then says "user name is empty"). */
export const NO_AUTH_INFO: AuthInfo = Object.freeze({ username: '', revision: 0 });

/**
 * Where and for whom the request being applied runs: the proposer and request ID (our fixed
 * entry header), the entry's Raft index (simple tokens are named after it), and the user and auth
 * revision the request was admitted under (etcd's RequestHeader username / auth_revision), which
 * the auth layer checks.
 */
export interface ApplyContext {
  member: bigint;
  id: bigint;
  index: number;
  authInfo: AuthInfo;
}
