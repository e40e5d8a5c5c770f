// The member's side of auth (etcd 3.5's v3_server.go Auth* calls, AuthInfoFromCtx, doSerialize,
// checkLeaseTimeToLive, and the admin checks of its maintenance and cluster servers): owns the
// auth store, the token provider, the password hasher and Authenticate's rate limit, and serves
// the Auth service's typed calls. server.ts only wires it; what a call checks is decided here (at
// the member) or in apply/auth-layer.ts (at apply, on every member, with the entry's header).
//   Authenticate   read barrier, rate limit, CheckPassword (bcrypt off the event loop), propose
//                  {name, token prefix}, again when the auth revision moved meanwhile (etcd's loop)
//   UserAdd / UserChangePassword   the password hashed here, only the hash proposed (as 3.5)
//   every other Auth* call   proposed with the caller's identity; the auth layer checks it
//   reads (Range, read-only Txn)   serialize(): check, read, then refuse if the auth revision moved
// Callers get EtcdErrors only. A bad --auth-token is refused earlier, by tokenProviderFor.
import type { Logger } from 'pino';
import type { Applied, AuthApplied } from '../apply/applied';
import { NO_AUTH_INFO } from '../apply/applied';
import type { LeaseKeys } from '../apply/auth-layer';
import type { AuthApi } from '../api/member-api';
import { AuthStore, ROOT_USER, type AuthInfo } from '../auth/auth-store';
import { AuthErrors, untranslated } from '../auth/errors';
import { normalizeBcryptCost, PasswordHasher } from '../auth/password';
import { AuthRateLimiter } from '../auth/rate-limit';
import { newTokenProvider, type TokenProvider } from '../auth/token';
import type { Backend } from '../backend/backend';
import { Code, EtcdError, Errors } from '../errors';
import type * as pb from '../pb/types';
import type { ServerConfig } from '../server/config';
import type { Caller, IdentitySource } from './pipeline';

/**
 * The provider for --auth-token, made before anything else of the member: a bad value throws
 * AuthConfigError ("auth: invalid auth options", a key file's error) and the member does not
 * start, as etcd's NewServer. Simple tokens wait for their Authenticate entry with waitApplied.
 */
export function tokenProviderFor(config: Pick<ServerConfig, 'authToken' | 'authTokenTtlSec'>, waitApplied: (index: number) => Promise<void>): TokenProvider {
  return newTokenProvider(config.authToken, { ttlSec: config.authTokenTtlSec, waitApplied });
}

type Propose = <T>(req: pb.InternalRequest, pick: (a: Applied) => T | undefined, caller?: Caller) => Promise<T>;

export interface AuthServiceDeps {
  backend: Backend;
  config: Pick<ServerConfig, 'bcryptCost' | 'clientCertAuth'>;
  /** The --auth-token provider (tokenProviderFor); its simple tokens wait on waitApplied(). */
  tokens: TokenProvider;
  /** Proposes through Raft with the caller's identity in the header (proposer.ts). */
  propose: Propose;
  /** etcd's linearizableReadNotify (Authenticate reads the store as of now). */
  readBarrier: () => Promise<void>;
  /** This member's applied index, and what resolves when it (or leadership) moves, or after ms. */
  appliedIndex: () => number;
  progress: (ms: number) => Promise<void>;
  /** How long a simple token's lookup waits for this member to apply its Authenticate. */
  requestTimeoutMs: number;
  /** Which keys a lease holds (LeaseTimeToLive with keys). */
  leases: LeaseKeys;
  log: Logger;
}

const EMPTY = Buffer.alloc(0);

/** Go's codes.Code names, for the text of a refused watch (a gRPC status error's Error()). */
const GO_CODE_NAMES: Partial<Record<Code, string>> = {
  [Code.INVALID_ARGUMENT]: 'InvalidArgument',
  [Code.PERMISSION_DENIED]: 'PermissionDenied',
  [Code.UNAUTHENTICATED]: 'Unauthenticated',
};

export class AuthService implements AuthApi, IdentitySource {
  readonly store: AuthStore;
  readonly tokens: TokenProvider;
  readonly clientCertAuth: boolean;
  private readonly hasher: PasswordHasher;
  private readonly limiter = new AuthRateLimiter();
  private closed = false;

  constructor(private readonly d: AuthServiceDeps) {
    const { config } = d;
    this.tokens = d.tokens;
    this.store = new AuthStore(d.backend, this.tokens);
    const cost = normalizeBcryptCost(config.bcryptCost);
    if (cost.replaced) d.log.warn({ 'min-cost': 4, 'max-cost': 31, 'default-cost': cost.cost, 'given-cost': config.bcryptCost }, 'use default cost since the given cost is out of range');
    this.hasher = new PasswordHasher({ cost: cost.cost });
    this.clientCertAuth = config.clientCertAuth;
  }

  // ---- identity (the request pipeline's IdentitySource) ----------------------------------------

  enabled(): boolean {
    return this.store.isEnabled();
  }

  revision(): number {
    return this.store.revision();
  }

  fromToken(token: string): Promise<AuthInfo | undefined> {
    return this.tokens.info(token, this.store.revision());
  }

  /**
   * Who the leader's lease expiry revokes as: root at the current revision (etcd's WithRoot), so
   * a lease holding keys no user may write still expires.
   */
  readonly lessorCaller: Caller = {
    authInfo: async () => (this.store.isEnabled() ? { username: ROOT_USER, revision: this.store.revision() } : undefined),
  };

  // ---- checks at the member -----------------------------------------------------------------

  /**
   * etcd's doSerialize: `chk` with the caller's identity (none: etcd's empty AuthInfo), then the
   * read, then a refusal if the auth store moved past the identity's revision meanwhile. Without
   * a caller (the member's own reads: /health) nothing is checked, as etcd's health check lets
   * the auth errors of its own read pass.
   */
  async serialize<T>(caller: Caller | undefined, chk: (ai: AuthInfo) => void, get: () => T): Promise<T> {
    // Auth disabled: etcd finds no identity and every check passes.
    if (caller === undefined || !this.store.isEnabled()) return get();
    const ai = (await caller.authInfo()) ?? NO_AUTH_INFO;
    chk(ai);
    const out = get();
    if (ai.revision !== 0 && ai.revision !== this.store.revision()) throw AuthErrors.authOldRevision();
    return out;
  }

  /** Root role needed (etcd's checkMembershipOperationPermission). */
  async requireAdmin(caller: Caller): Promise<void> {
    this.store.isAdminPermitted(await caller.authInfo());
  }

  /**
   * The same for Defragment, Snapshot, Hash and HashKV (etcd's authMaintenanceServer), whose
   * refusals etcd 3.5.17 sends untranslated: Unknown, "auth: permission denied".
   */
  async requireMaintenanceAdmin(caller: Caller): Promise<void> {
    try {
      await this.requireAdmin(caller);
    } catch (err) {
      throw untranslated(err);
    }
  }

  /**
   * etcd's checkLeaseTimeToLive (before a LeaseTimeToLive with keys): READ on every key of the
   * lease. Returns the auth revision to compare after the answer (afterLeaseTimeToLive).
   */
  async checkLeaseTimeToLive(caller: Caller, id: bigint): Promise<number> {
    const rev = this.store.revision();
    if (!this.store.isEnabled()) return rev;
    const ai = await caller.authInfo();
    if (ai === undefined) throw AuthErrors.userEmpty();
    if (this.d.leases.leaseExists(id)) for (const key of this.d.leases.keysOf(id)) this.store.isRangePermitted(ai, key, EMPTY);
    return rev;
  }

  afterLeaseTimeToLive(rev: number): void {
    if (this.store.isEnabled() && rev !== this.store.revision()) throw AuthErrors.authOldRevision();
  }

  /**
   * etcd's isWatchPermitted, on a watch create: undefined when allowed, else the cancel reason
   * etcd sends (its gRPC error's text). The key and range end as etcd's recvLoop leaves them: an
   * empty key is "\0"; a range end of "\0" (from key on) becomes empty, so etcd checks the one key.
   */
  async watchRefusal(caller: Caller, key: Buffer, rangeEnd: Buffer): Promise<string | undefined> {
    try {
      const ai = (await caller.authInfo()) ?? NO_AUTH_INFO;
      const end = rangeEnd.length === 1 && rangeEnd[0] === 0 ? EMPTY : rangeEnd;
      this.store.isRangePermitted(ai, key.length === 0 ? Buffer.from([0]) : key, end);
      return undefined;
    } catch (err) {
      const known = [AuthErrors.invalidAuthToken(), AuthErrors.authOldRevision(), AuthErrors.userEmpty()];
      const e = known.find((k) => err instanceof EtcdError && k.message === err.message) ?? AuthErrors.permissionDenied();
      if (!(err instanceof EtcdError)) this.d.log.error({ err }, 'unexpected error checking a watch');
      return `rpc error: code = ${GO_CODE_NAMES[e.code] ?? 'Unknown'} desc = ${e.message}`;
    }
  }

  // ---- the Auth service ---------------------------------------------------------------------

  async authEnable(caller: Caller): Promise<void> {
    await this.done({ auth_enable: {} }, 'auth_enable', caller);
  }

  async authDisable(caller: Caller): Promise<void> {
    await this.done({ auth_disable: {} }, 'auth_disable', caller);
  }

  authStatus(caller: Caller): Promise<{ enabled: boolean; authRevision: number }> {
    return this.d.propose({ auth_status: {} }, (a) => (a.kind === 'auth_status' ? { enabled: a.enabled, authRevision: a.authRevision } : undefined), caller);
  }

  /**
   * etcd's Authenticate: the password is checked here against the store as of a read barrier,
   * and only {name, token prefix} is proposed; if the auth revision moved between the check and
   * the apply (the password or the user may have changed), the whole check runs again.
   */
  async authenticate(req: pb.AuthenticateRequest): Promise<string> {
    await this.d.readBarrier();
    if (!this.store.isEnabled()) throw AuthErrors.authNotEnabled();
    if (!this.limiter.tryTake(req.name)) throw Errors.tooManyRequests();
    for (;;) {
      let checked: number;
      try {
        checked = await this.store.checkPassword(req.name, req.password, this.hasher);
      } catch (err) {
        if (err instanceof EtcdError && err.message !== AuthErrors.authNotEnabled().message) this.d.log.warn({ user: req.name, error: err.message }, 'invalid authentication was requested');
        throw err;
      }
      const internal: pb.InternalAuthenticateRequest = { name: req.name, simple_token: this.tokens.genTokenPrefix() };
      const token = await this.d.propose({ authenticate: internal }, (a) => (a.kind === 'authenticate' ? a.token : undefined));
      if (checked === this.store.revision()) {
        this.limiter.succeeded(req.name);
        return await token;
      }
      this.d.log.info({ user: req.name }, 'revision when password checked became stale; retrying');
    }
  }

  /** etcd 3.5's UserAdd: a password (unless the user has none) is hashed before proposing. */
  async userAdd(req: pb.AuthUserAddRequest, caller: Caller): Promise<void> {
    const noPassword = req.options?.no_password === true;
    const hashedPassword = noPassword ? '' : await this.hasher.hashForRequest(req.password ?? '');
    const options = req.options === undefined || req.options === null ? null : { no_password: noPassword };
    await this.done({ auth_user_add: { name: req.name, password: '', hashedPassword, options } }, 'auth_user_add', caller);
  }

  async userDelete(req: pb.AuthUserDeleteRequest, caller: Caller): Promise<void> {
    await this.done({ auth_user_delete: { name: req.name } }, 'auth_user_delete', caller);
  }

  /** etcd 3.5's UserChangePassword: hashed before proposing; an empty password is proposed empty. */
  async userChangePassword(req: pb.AuthUserChangePasswordRequest, caller: Caller): Promise<void> {
    const password = req.password ?? '';
    const hashedPassword = password !== '' ? await this.hasher.hashForRequest(password) : (req.hashedPassword ?? '');
    await this.done({ auth_user_change_password: { name: req.name, password: '', hashedPassword } }, 'auth_user_change_password', caller);
  }

  async userGrantRole(req: pb.AuthUserGrantRoleRequest, caller: Caller): Promise<void> {
    await this.done({ auth_user_grant_role: { user: req.user, role: req.role } }, 'auth_user_grant_role', caller);
  }

  userGet(req: pb.AuthUserGetRequest, caller: Caller): Promise<string[]> {
    return this.d.propose({ auth_user_get: { name: req.name } }, (a) => (a.kind === 'auth_user_get' ? a.roles : undefined), caller);
  }

  userList(caller: Caller): Promise<string[]> {
    return this.d.propose({ auth_user_list: {} }, (a) => (a.kind === 'auth_user_list' ? a.users : undefined), caller);
  }

  async userRevokeRole(req: pb.AuthUserRevokeRoleRequest, caller: Caller): Promise<void> {
    await this.done({ auth_user_revoke_role: { name: req.name, role: req.role } }, 'auth_user_revoke_role', caller);
  }

  async roleAdd(req: pb.AuthRoleAddRequest, caller: Caller): Promise<void> {
    await this.done({ auth_role_add: { name: req.name } }, 'auth_role_add', caller);
  }

  roleGet(req: pb.AuthRoleGetRequest, caller: Caller): Promise<pb.PermissionPb[]> {
    return this.d.propose({ auth_role_get: { role: req.role } }, (a) => (a.kind === 'auth_role_get' ? a.perm : undefined), caller);
  }

  roleList(caller: Caller): Promise<string[]> {
    return this.d.propose({ auth_role_list: {} }, (a) => (a.kind === 'auth_role_list' ? a.roles : undefined), caller);
  }

  async roleDelete(req: pb.AuthRoleDeleteRequest, caller: Caller): Promise<void> {
    await this.done({ auth_role_delete: { role: req.role } }, 'auth_role_delete', caller);
  }

  async roleGrantPermission(req: pb.AuthRoleGrantPermissionRequest, caller: Caller): Promise<void> {
    const perm = req.perm === undefined || req.perm === null ? null : { permType: req.perm.permType, key: req.perm.key, range_end: req.perm.range_end };
    await this.done({ auth_role_grant_permission: { name: req.name, perm } }, 'auth_role_grant_permission', caller);
  }

  async roleRevokePermission(req: pb.AuthRoleRevokePermissionRequest, caller: Caller): Promise<void> {
    await this.done({ auth_role_revoke_permission: { role: req.role, key: req.key, range_end: req.range_end } }, 'auth_role_revoke_permission', caller);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.tokens.close();
    await this.hasher.close();
  }

  /** Resolves once this member applied `index` (a simple token's Authenticate entry), within the request timeout. */
  async waitApplied(index: number): Promise<void> {
    const deadline = Date.now() + this.d.requestTimeoutMs;
    while (this.d.appliedIndex() < index) {
      if (this.closed) throw Errors.stopped();
      const left = deadline - Date.now();
      if (left <= 0) throw Errors.timeout();
      await this.d.progress(left);
    }
  }

  /** Proposes an Auth* request whose answer is only its success. */
  private async done(req: pb.InternalRequest, kind: AuthApplied['kind'], caller: Caller): Promise<void> {
    await this.d.propose(req, (a) => (a.kind === kind ? true : undefined), caller);
  }
}
