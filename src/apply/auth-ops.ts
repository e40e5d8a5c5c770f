// The Auth* requests a Raft entry can carry, as one typed union (etcd's InternalRaftRequest
// auth_* members), and their apply against the auth store (etcd's applierV3backend Auth*
// methods, server/etcdserver/apply.go). The checks of who may run them are the auth layer's
// (auth-layer.ts). Runs inside the apply transaction: deterministic, no bcrypt, no clock (a JWT's
// signing time is in the token only, never in the state).
import type { AuthStore } from '../auth/auth-store';
import type { TokenProvider } from '../auth/token';
import type {
  AuthRoleAddRequest,
  AuthRoleDeleteRequest,
  AuthRoleGetRequest,
  AuthRoleGrantPermissionRequest,
  AuthRoleRevokePermissionRequest,
  AuthUserAddRequest,
  AuthUserChangePasswordRequest,
  AuthUserDeleteRequest,
  AuthUserGetRequest,
  AuthUserGrantRoleRequest,
  AuthUserRevokeRoleRequest,
  InternalAuthenticateRequest,
  InternalRequest,
} from '../pb/types';
import type { ApplyContext, AuthApplied } from './applied';

export type AuthOp =
  | { kind: 'auth_enable' }
  | { kind: 'auth_disable' }
  | { kind: 'auth_status' }
  | { kind: 'authenticate'; req: InternalAuthenticateRequest }
  | { kind: 'auth_user_add'; req: AuthUserAddRequest }
  | { kind: 'auth_user_delete'; req: AuthUserDeleteRequest }
  | { kind: 'auth_user_change_password'; req: AuthUserChangePasswordRequest }
  | { kind: 'auth_user_grant_role'; req: AuthUserGrantRoleRequest }
  | { kind: 'auth_user_get'; req: AuthUserGetRequest }
  | { kind: 'auth_user_revoke_role'; req: AuthUserRevokeRoleRequest }
  | { kind: 'auth_user_list' }
  | { kind: 'auth_role_add'; req: AuthRoleAddRequest }
  | { kind: 'auth_role_get'; req: AuthRoleGetRequest }
  | { kind: 'auth_role_grant_permission'; req: AuthRoleGrantPermissionRequest }
  | { kind: 'auth_role_revoke_permission'; req: AuthRoleRevokePermissionRequest }
  | { kind: 'auth_role_delete'; req: AuthRoleDeleteRequest }
  | { kind: 'auth_role_list' };

/** The Auth* request an entry carries, if any. */
export function authOpOf(r: InternalRequest): AuthOp | undefined {
  if (r.auth_enable) return { kind: 'auth_enable' };
  if (r.auth_disable) return { kind: 'auth_disable' };
  if (r.auth_status) return { kind: 'auth_status' };
  if (r.authenticate) return { kind: 'authenticate', req: r.authenticate };
  if (r.auth_user_add) return { kind: 'auth_user_add', req: r.auth_user_add };
  if (r.auth_user_delete) return { kind: 'auth_user_delete', req: r.auth_user_delete };
  if (r.auth_user_change_password) return { kind: 'auth_user_change_password', req: r.auth_user_change_password };
  if (r.auth_user_grant_role) return { kind: 'auth_user_grant_role', req: r.auth_user_grant_role };
  if (r.auth_user_get) return { kind: 'auth_user_get', req: r.auth_user_get };
  if (r.auth_user_revoke_role) return { kind: 'auth_user_revoke_role', req: r.auth_user_revoke_role };
  if (r.auth_user_list) return { kind: 'auth_user_list' };
  if (r.auth_role_add) return { kind: 'auth_role_add', req: r.auth_role_add };
  if (r.auth_role_get) return { kind: 'auth_role_get', req: r.auth_role_get };
  if (r.auth_role_grant_permission) return { kind: 'auth_role_grant_permission', req: r.auth_role_grant_permission };
  if (r.auth_role_revoke_permission) return { kind: 'auth_role_revoke_permission', req: r.auth_role_revoke_permission };
  if (r.auth_role_delete) return { kind: 'auth_role_delete', req: r.auth_role_delete };
  if (r.auth_role_list) return { kind: 'auth_role_list' };
  return undefined;
}

/**
 * etcd's needAdminPermission (apply_auth.go): every Auth* request but Authenticate, UserGet and
 * RoleGet needs the root role (those two are checked by the layer against the caller's own name
 * and roles). AuthStatus is in the list from 3.5 on.
 */
export function needsAdmin(op: AuthOp): boolean {
  return op.kind !== 'authenticate' && op.kind !== 'auth_user_get' && op.kind !== 'auth_role_get';
}

export interface AuthApplyDeps {
  store: AuthStore;
  tokens: TokenProvider;
}

/** etcd's applierV3backend Auth* methods: the store changes (or answers), errors are EtcdErrors. */
export function applyAuthOp(d: AuthApplyDeps, op: AuthOp, ctx: ApplyContext): AuthApplied {
  const { store } = d;
  switch (op.kind) {
    case 'auth_enable':
      store.authEnable();
      return { kind: op.kind };
    case 'auth_disable':
      store.authDisable();
      return { kind: op.kind };
    case 'auth_status':
      return { kind: op.kind, ...store.authStatus() };
    case 'authenticate': {
      // Every member assigns, in apply order: a simple token is registered everywhere at once.
      const info = store.authenticate(op.req.name);
      const token = d.tokens.assign(info, { index: ctx.index, prefix: op.req.simple_token });
      token.catch(() => undefined);
      return { kind: op.kind, token };
    }
    case 'auth_user_add':
      store.userAdd(op.req);
      return { kind: op.kind };
    case 'auth_user_delete':
      store.userDelete(op.req.name);
      return { kind: op.kind };
    case 'auth_user_change_password':
      store.userChangePassword(op.req);
      return { kind: op.kind };
    case 'auth_user_grant_role':
      store.userGrantRole(op.req.user, op.req.role);
      return { kind: op.kind };
    case 'auth_user_get':
      return { kind: op.kind, roles: store.userGet(op.req.name) };
    case 'auth_user_revoke_role':
      store.userRevokeRole(op.req.name, op.req.role);
      return { kind: op.kind };
    case 'auth_user_list':
      return { kind: op.kind, users: store.userList() };
    case 'auth_role_add':
      store.roleAdd(op.req.name);
      return { kind: op.kind };
    case 'auth_role_get':
      return { kind: op.kind, perm: store.roleGet(op.req.role) };
    case 'auth_role_grant_permission':
      store.roleGrantPermission(op.req.name, op.req.perm);
      return { kind: op.kind };
    case 'auth_role_revoke_permission':
      store.roleRevokePermission(op.req.role, op.req.key ?? Buffer.alloc(0), op.req.range_end ?? Buffer.alloc(0));
      return { kind: op.kind };
    case 'auth_role_delete':
      store.roleDelete(op.req.role);
      return { kind: op.kind };
    case 'auth_role_list':
      return { kind: op.kind, roles: store.roleList() };
  }
}
