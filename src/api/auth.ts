// etcdserverpb.Auth: every method of etcd's AuthServer as a plain handler over the member's typed
// auth calls (etcdserver/auth-service.ts), then the header. Who may call what is decided there
// and in the apply chain's auth layer, as in etcd; nothing is checked here.
import type * as pb from '../pb/types';
import { withHeader, type Unary } from './handler';
import type { MemberApi } from './member-api';

type Empty = Record<string, never>;

export interface AuthHandlers {
  AuthEnable: Unary<Empty, pb.AuthHeaderResponse>;
  AuthDisable: Unary<Empty, pb.AuthHeaderResponse>;
  AuthStatus: Unary<Empty, pb.AuthStatusResponse>;
  Authenticate: Unary<pb.AuthenticateRequest, pb.AuthenticateResponse>;
  UserAdd: Unary<pb.AuthUserAddRequest, pb.AuthHeaderResponse>;
  UserGet: Unary<pb.AuthUserGetRequest, pb.AuthUserGetResponse>;
  UserList: Unary<Empty, pb.AuthUserListResponse>;
  UserDelete: Unary<pb.AuthUserDeleteRequest, pb.AuthHeaderResponse>;
  UserChangePassword: Unary<pb.AuthUserChangePasswordRequest, pb.AuthHeaderResponse>;
  UserGrantRole: Unary<pb.AuthUserGrantRoleRequest, pb.AuthHeaderResponse>;
  UserRevokeRole: Unary<pb.AuthUserRevokeRoleRequest, pb.AuthHeaderResponse>;
  RoleAdd: Unary<pb.AuthRoleAddRequest, pb.AuthHeaderResponse>;
  RoleGet: Unary<pb.AuthRoleGetRequest, pb.AuthRoleGetResponse>;
  RoleList: Unary<Empty, pb.AuthRoleListResponse>;
  RoleDelete: Unary<pb.AuthRoleDeleteRequest, pb.AuthHeaderResponse>;
  RoleGrantPermission: Unary<pb.AuthRoleGrantPermissionRequest, pb.AuthHeaderResponse>;
  RoleRevokePermission: Unary<pb.AuthRoleRevokePermissionRequest, pb.AuthHeaderResponse>;
}

export function authHandlers(member: MemberApi): AuthHandlers {
  const a = member.auth;
  /** A call whose answer is its header only. */
  const done = async (p: Promise<void>): Promise<pb.AuthHeaderResponse> => {
    await p;
    return withHeader(member, {});
  };
  return {
    AuthEnable: (_req, ctx) => done(a.authEnable(ctx)),
    AuthDisable: (_req, ctx) => done(a.authDisable(ctx)),
    AuthStatus: async (_req, ctx) => withHeader<pb.AuthStatusResponse>(member, await a.authStatus(ctx)),
    Authenticate: async (req) => withHeader<pb.AuthenticateResponse>(member, { token: await a.authenticate(req) }),
    UserAdd: (req, ctx) => done(a.userAdd(req, ctx)),
    UserGet: async (req, ctx) => withHeader<pb.AuthUserGetResponse>(member, { roles: await a.userGet(req, ctx) }),
    UserList: async (_req, ctx) => withHeader<pb.AuthUserListResponse>(member, { users: await a.userList(ctx) }),
    UserDelete: (req, ctx) => done(a.userDelete(req, ctx)),
    UserChangePassword: (req, ctx) => done(a.userChangePassword(req, ctx)),
    UserGrantRole: (req, ctx) => done(a.userGrantRole(req, ctx)),
    UserRevokeRole: (req, ctx) => done(a.userRevokeRole(req, ctx)),
    RoleAdd: (req, ctx) => done(a.roleAdd(req, ctx)),
    RoleGet: async (req, ctx) => withHeader<pb.AuthRoleGetResponse>(member, { perm: await a.roleGet(req, ctx) }),
    RoleList: async (_req, ctx) => withHeader<pb.AuthRoleListResponse>(member, { roles: await a.roleList(ctx) }),
    RoleDelete: (req, ctx) => done(a.roleDelete(req, ctx)),
    RoleGrantPermission: (req, ctx) => done(a.roleGrantPermission(req, ctx)),
    RoleRevokePermission: (req, ctx) => done(a.roleRevokePermission(req, ctx)),
  };
}
