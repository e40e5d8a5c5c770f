// The auth store (etcd 3.5's server/auth/store.go): whether auth is enabled, the auth revision,
// users and roles, and the permission checks over them. It knows nothing of gRPC or Raft.
//
// The state is in the member's backend (auth-tables.ts: etcd's authUsers/authRoles records byte for
// byte), written only by the apply methods below, which run inside the apply transaction and are
// deterministic (no clock, no randomness, no bcrypt: a password arrives hashed, see password.ts).
// The auth revision moves with every change, as etcd's commitRevision (not with AuthEnable: etcd
// 3.5 does not move it there). A copy is kept in memory (auth state is small) so checks never
// touch LMDB; each user's merged permissions are cached, and the cache dropped on every change.
//
// Integration (where etcd calls what):
// - Apply of each Auth* request kind (etcd's applierV3backend): authEnable, authDisable,
//   authStatus, authenticate (then TokenProvider.assign), userAdd, userDelete, ... roleList.
//   Errors are thrown as EtcdErrors (errors.ts); nothing is changed when one is thrown.
// - The apply chain's auth layer (etcd's authApplierV3): isAdminPermitted for every Auth* request
//   but Authenticate (and userGet of oneself / roleGet of an own role: see hasRole), isPutPermitted,
//   isRangePermitted, isDeleteRangePermitted for KV ops, with the AuthInfo the request was admitted
//   under (the token's {username, revision}).
// - Serializable reads: the same checks at the member, then etcd re-checks the revision after the
//   read (doSerialize: a changed revision fails the read with authOldRevision).
// - Authenticate, before proposing: checkPassword (returns the revision it checked at; etcd
//   retries the whole Authenticate if the revision moved by the time the entry applied).
// - Snapshots: exportBuckets/restoreBuckets (etcd's bbolt buckets auth, authUsers, authRoles) and
//   exportJson/restoreJson (the same rows, for our member-to-member snapshot header).
import type { Backend, ReadView } from '../backend/backend';
import { goSort } from '../apply/go-sort';
import { compareNames, PermType, type Permission, type Role, type User } from './auth-record';
import { AuthTables, authBucketsFromJson, authBucketsToJson, type AuthBuckets } from './auth-tables';
import { AuthErrors } from './errors';
import { isRangeOpPermitted, isValidPermissionRange, unifyPerms, type UnifiedPerms } from './range-perms';

/** An empty range end: the one key (a put's range). */
const ONE_KEY = Buffer.alloc(0);

export const ROOT_USER = 'root';
export const ROOT_ROLE = 'root';

/** Who a request runs as: the token's user and the auth revision the token was checked at. */
export interface AuthInfo {
  username: string;
  revision: number;
}

/** What the store tells the token provider (etcd's TokenProvider enable/disable/invalidateUser). */
export interface AuthStoreListener {
  enable(): void;
  disable(): void;
  /** The user was deleted or its password changed: its simple tokens stop working. */
  invalidateUser(username: string): void;
}

/** The password hashing the store needs before proposing (password.ts' PasswordHasher). */
export interface PasswordChecker {
  compare(password: string, hash: Buffer): Promise<boolean>;
}

// Request shapes as protobufjs decodes etcdserverpb (keepCase), so decoded requests pass as is.
export interface UserAddRequest {
  name: string;
  password?: string;
  /** base64 of the bcrypt hash (PasswordHasher.hashForRequest). */
  hashedPassword?: string;
  options?: { no_password?: boolean } | null;
}
export interface UserChangePasswordRequest {
  name: string;
  password?: string;
  hashedPassword?: string;
}

export type { AuthBuckets } from './auth-tables';

export class AuthStore {
  private readonly tables: AuthTables;
  private enabled = false;
  private rev = 0;
  private readonly users = new Map<string, User>();
  private readonly roles = new Map<string, Role>();
  /** username -> merged permissions; dropped whole on every change (etcd's refreshRangePermCache). */
  private readonly permCache = new Map<string, UnifiedPerms>();

  constructor(
    backend: Backend,
    private readonly listener?: AuthStoreListener,
  ) {
    this.tables = new AuthTables(backend);
    this.load();
    if (this.enabled) this.listener?.enable();
  }

  isEnabled(): boolean {
    return this.enabled;
  }

  revision(): number {
    return this.rev;
  }

  // ---- apply: deterministic, inside the apply transaction -------------------------------------

  /** etcd's AuthEnable: needs a root user holding the root role; enabling twice is a no-op. */
  authEnable(): void {
    if (this.enabled) return;
    const root = this.users.get(ROOT_USER);
    if (root === undefined) throw AuthErrors.rootUserNotExist();
    if (!hasRootRole(root)) throw AuthErrors.rootRoleNotExist();
    this.tables.putEnabled(true);
    this.enabled = true;
    this.permCache.clear();
    this.listener?.enable();
  }

  /** etcd's AuthDisable: bumps the revision; disabling twice is a no-op. Tokens are dropped. */
  authDisable(): void {
    if (!this.enabled) return;
    this.tables.putEnabled(false);
    this.commitRevision();
    this.enabled = false;
    this.listener?.disable();
  }

  authStatus(): { enabled: boolean; authRevision: number } {
    return { enabled: this.enabled, authRevision: this.rev };
  }

  /**
   * The apply of Authenticate (the password was checked before proposing): the AuthInfo to give
   * TokenProvider.assign.
   */
  authenticate(name: string): AuthInfo {
    if (!this.enabled) throw AuthErrors.authNotEnabled();
    const user = this.users.get(name);
    if (user === undefined || user.options?.noPassword === true) throw AuthErrors.authFailed();
    return { username: name, revision: this.rev };
  }

  userAdd(req: UserAddRequest): void {
    if (req.name.length === 0) throw AuthErrors.userEmpty();
    if (this.users.has(req.name)) throw AuthErrors.userAlreadyExist();
    const noPassword = req.options?.no_password === true;
    const password = noPassword ? Buffer.alloc(0) : selectPassword(req.password ?? '', req.hashedPassword ?? '');
    this.putUser({ name: req.name, password, roles: [], options: { noPassword } });
    this.changed();
  }

  userDelete(name: string): void {
    if (this.enabled && name === ROOT_USER) throw AuthErrors.invalidAuthMgmt();
    if (!this.users.has(name)) throw AuthErrors.userNotFound();
    this.tables.deleteUser(name);
    this.users.delete(name);
    this.changed();
    this.listener?.invalidateUser(name);
  }

  /** A user without a password (options.noPassword) keeps none, but the revision still moves. */
  userChangePassword(req: UserChangePasswordRequest): void {
    const user = this.users.get(req.name);
    if (user === undefined) throw AuthErrors.userNotFound();
    const password = user.options?.noPassword === true ? Buffer.alloc(0) : selectPassword(req.password ?? '', req.hashedPassword ?? '');
    this.putUser({ ...user, password });
    this.changed();
    this.listener?.invalidateUser(req.name);
  }

  /** Granting a role twice is a no-op; the root role need not exist as a role. */
  userGrantRole(username: string, role: string): void {
    const user = this.users.get(username);
    if (user === undefined) throw AuthErrors.userNotFound();
    if (role !== ROOT_ROLE && !this.roles.has(role)) throw AuthErrors.roleNotFound();
    if (user.roles.includes(role)) return;
    this.putUser({ ...user, roles: [...user.roles, role].sort(compareNames) });
    this.changed();
  }

  userRevokeRole(username: string, role: string): void {
    if (this.enabled && username === ROOT_USER && role === ROOT_ROLE) throw AuthErrors.invalidAuthMgmt();
    const user = this.users.get(username);
    if (user === undefined) throw AuthErrors.userNotFound();
    const roles = user.roles.filter((r) => r !== role);
    if (roles.length === user.roles.length) throw AuthErrors.roleNotGranted();
    this.putUser({ ...user, roles });
    this.changed();
  }

  /** The user's roles (etcd's UserGet). */
  userGet(name: string): string[] {
    const user = this.users.get(name);
    if (user === undefined) throw AuthErrors.userNotFound();
    return [...user.roles];
  }

  /** Every user name, in byte order. */
  userList(): string[] {
    return [...this.users.keys()].sort(compareNames);
  }

  roleAdd(name: string): void {
    if (name.length === 0) throw AuthErrors.roleEmpty();
    if (this.roles.has(name)) throw AuthErrors.roleAlreadyExist();
    this.putRole({ name, keyPermission: [] });
    this.changed();
  }

  /** The role's permissions (etcd's RoleGet), sorted by key. */
  roleGet(name: string): Permission[] {
    const role = this.roles.get(name);
    if (role === undefined) throw AuthErrors.roleNotFound();
    return role.keyPermission.map(copyPermission);
  }

  /** Every role name, in byte order. */
  roleList(): string[] {
    return [...this.roles.keys()].sort(compareNames);
  }

  /** Deletes the role and takes it from every user holding it. */
  roleDelete(name: string): void {
    if (this.enabled && name === ROOT_ROLE) throw AuthErrors.invalidAuthMgmt();
    if (!this.roles.has(name)) throw AuthErrors.roleNotFound();
    this.tables.deleteRole(name);
    this.roles.delete(name);
    for (const username of this.userList()) {
      const user = this.users.get(username);
      if (user === undefined || !user.roles.includes(name)) continue;
      this.putUser({ ...user, roles: user.roles.filter((r) => r !== name) });
    }
    this.changed();
  }

  /**
   * etcd's RoleGrantPermission: a permission with the same key and range_end as the one found by
   * binary search on the key gets the new type; any other is added and the list sorted by key.
   */
  roleGrantPermission(name: string, perm: Permission | null | undefined): void {
    if (perm === null || perm === undefined) throw AuthErrors.permissionNotGiven();
    const key = perm.key ?? Buffer.alloc(0);
    const rangeEnd = perm.range_end ?? Buffer.alloc(0);
    if (!isValidPermissionRange(key, rangeEnd)) throw AuthErrors.invalidAuthMgmt();
    const role = this.roles.get(name);
    if (role === undefined) throw AuthErrors.roleNotFound();
    const perms = role.keyPermission.map(copyPermission);
    const idx = searchKey(perms, key);
    const permType = Number(perm.permType ?? PermType.READ) as PermType;
    if (idx < perms.length && perms[idx].key.equals(key) && perms[idx].range_end.equals(rangeEnd)) {
      perms[idx].permType = permType;
    } else {
      perms.push({ permType, key: Buffer.from(key), range_end: Buffer.from(rangeEnd) });
      goSort(perms, (a, b) => Buffer.compare(a.key, b.key) < 0);
    }
    this.putRole({ name: role.name, keyPermission: perms });
    this.changed();
  }

  /** Removes every permission of the role with exactly this key and range_end. */
  roleRevokePermission(name: string, key: Buffer, rangeEnd: Buffer): void {
    const role = this.roles.get(name);
    if (role === undefined) throw AuthErrors.roleNotFound();
    const kept = role.keyPermission.filter((p) => !p.key.equals(key) || !p.range_end.equals(rangeEnd));
    if (kept.length === role.keyPermission.length) throw AuthErrors.permissionNotGranted();
    this.putRole({ name: role.name, keyPermission: kept });
    this.changed();
  }

  // ---- checks (etcd's Is*Permitted): at the member before proposing, and again at apply -------

  isPutPermitted(ai: AuthInfo, key: Buffer): void {
    this.isOpPermitted(ai, key, ONE_KEY, PermType.WRITE);
  }

  /** rangeEnd empty: the one key; "\0": from key on; else [key, rangeEnd). */
  isRangePermitted(ai: AuthInfo, key: Buffer, rangeEnd: Buffer): void {
    this.isOpPermitted(ai, key, rangeEnd, PermType.READ);
  }

  isDeleteRangePermitted(ai: AuthInfo, key: Buffer, rangeEnd: Buffer): void {
    this.isOpPermitted(ai, key, rangeEnd, PermType.WRITE);
  }

  /** Root role needed; unlike the key checks, the revision is not compared (as etcd). */
  isAdminPermitted(ai: AuthInfo | undefined): void {
    if (!this.enabled) return;
    if (ai === undefined || ai.username.length === 0) throw AuthErrors.userEmpty();
    const user = this.users.get(ai.username);
    if (user === undefined) throw AuthErrors.userNotFound();
    if (!hasRootRole(user)) throw AuthErrors.permissionDenied();
  }

  /** etcd's HasRole (the auth layer lets a user RoleGet a role it holds). */
  hasRole(username: string, role: string): boolean {
    return this.users.get(username)?.roles.includes(role) ?? false;
  }

  /**
   * etcd's CheckPassword, before proposing Authenticate: resolves with the auth revision the
   * password was checked at. The hash comparison runs off the event loop (PasswordHasher).
   */
  async checkPassword(name: string, password: string, hasher: PasswordChecker): Promise<number> {
    if (!this.enabled) throw AuthErrors.authNotEnabled();
    const user = this.users.get(name);
    if (user === undefined) throw AuthErrors.authFailed();
    if (user.options?.noPassword === true) throw AuthErrors.noPasswordUser();
    const revision = this.rev;
    if (!(await hasher.compare(password, user.password))) throw AuthErrors.authFailed();
    return revision;
  }

  private isOpPermitted(ai: AuthInfo, key: Buffer, rangeEnd: Buffer, permType: PermType.READ | PermType.WRITE): void {
    if (!this.enabled) return;
    // Revision 0 only comes with no user at all (no token).
    if (ai.revision === 0) throw AuthErrors.userEmpty();
    if (ai.revision < this.rev) throw AuthErrors.authOldRevision();
    const user = this.users.get(ai.username);
    if (user === undefined) throw AuthErrors.permissionDenied();
    if (hasRootRole(user)) return;
    if (!isRangeOpPermitted(this.permsOf(user), key, rangeEnd, permType)) throw AuthErrors.permissionDenied();
  }

  private permsOf(user: User): UnifiedPerms {
    const cached = this.permCache.get(user.name);
    if (cached !== undefined) return cached;
    const perms: Permission[] = [];
    // One push per permission, not a spread: a role may hold more than fit as call arguments.
    for (const r of user.roles) for (const p of this.roles.get(r)?.keyPermission ?? []) perms.push(p);
    const unified = unifyPerms(perms);
    this.permCache.set(user.name, unified);
    return unified;
  }

  // ---- snapshots ------------------------------------------------------------------------------

  /** The auth state of a pinned view as etcd's three bbolt buckets (for etcd-layout.ts). */
  exportBuckets(view: ReadView): AuthBuckets {
    return this.tables.exportBuckets(view);
  }

  /**
   * Inside the transaction that installs a snapshot (restore.ts, or one from the leader): the
   * whole auth state becomes the buckets'. Rows that are not authpb records are refused first.
   */
  restoreBuckets(b: AuthBuckets): void {
    const wasEnabled = this.enabled;
    this.tables.replace(b);
    this.load();
    if (this.enabled) this.listener?.enable();
    else if (wasEnabled) this.listener?.disable();
  }

  /** The buckets as JSON, for our member-to-member snapshot header. */
  exportJson(view: ReadView): string {
    return authBucketsToJson(this.tables.exportBuckets(view));
  }

  restoreJson(json: string): void {
    this.restoreBuckets(authBucketsFromJson(json));
  }

  // ---- internals ------------------------------------------------------------------------------

  private load(): void {
    this.enabled = this.tables.enabled();
    this.rev = this.tables.revision();
    this.users.clear();
    this.roles.clear();
    this.permCache.clear();
    for (const u of this.tables.allUsers()) this.users.set(u.name, u);
    for (const r of this.tables.allRoles()) this.roles.set(r.name, r);
  }

  // Written before the memory copy changes: if LMDB refuses (a name past its key size), nothing changed.
  private putUser(u: User): void {
    this.tables.putUser(u);
    this.users.set(u.name, u);
  }

  private putRole(r: Role): void {
    this.tables.putRole(r);
    this.roles.set(r.name, r);
  }

  /** A change to users or roles: the revision moves and every cached permission set is dropped. */
  private changed(): void {
    this.commitRevision();
    this.permCache.clear();
  }

  private commitRevision(): void {
    this.tables.putRevision(this.rev + 1);
    this.rev += 1;
  }
}

function hasRootRole(u: User): boolean {
  return u.roles.includes(ROOT_ROLE);
}

function copyPermission(p: Permission): Permission {
  return { permType: p.permType, key: Buffer.from(p.key), range_end: Buffer.from(p.range_end) };
}

/** sort.Search: the first permission whose key is >= key. */
function searchKey(perms: Permission[], key: Buffer): number {
  let lo = 0;
  let hi = perms.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (Buffer.compare(perms[mid].key, key) >= 0) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * etcd's selectPassword: the request's hashedPassword (base64 of the bcrypt text), decoded as
 * Go's base64.StdEncoding decodes (padding required; CR and LF ignored). A request with a plain
 * password and no hash comes only from etcd before 3.5, which hashed at apply; we never propose
 * one, and refuse to hash inside apply.
 */
function selectPassword(password: string, hashedPassword: string): Buffer {
  if (password !== '' && hashedPassword === '') {
    throw new Error('auth: a password must be hashed before it is proposed (PasswordHasher.hashForRequest)');
  }
  const text = hashedPassword.replace(/[\r\n]/g, '');
  if (!STRICT_BASE64.test(text)) throw AuthErrors.noPasswordUser();
  return Buffer.from(text, 'base64');
}
