// Where the auth state lives in the member's backend, and its snapshot form. Only storage: what
// the state means is auth-store.ts'.
//   meta  'auth/enabled'   1 byte, 1 or 0; absent (or empty after a restore) until the first
//                          enable or disable, as etcd's authEnabled key
//   meta  'auth/revision'  int64 BE, the auth revision; 1 in a new store (etcd's NewAuthStore)
//   table 'auth-users'     user name -> authpb.User bytes (auth-record.ts): etcd's authUsers bucket
//   table 'auth-roles'     role name -> authpb.Role bytes: etcd's authRoles bucket
// Snapshots carry etcd's three bbolt buckets (etcd's schema, server/auth/store.go):
//   auth       "authEnabled" -> 1 byte (only once set), "authRevision" -> uint64 BE
//   authUsers  name -> authpb.User      authRoles  name -> authpb.Role
// so the rows go to etcd's snapshot file as they are, and come back from one (etcd's or ours).
// Writes happen inside the caller's write transaction.
import type { Backend, BinaryDB, ReadView } from '../backend/backend';
import { marshalRole, marshalUser, unmarshalRole, unmarshalUser, type Role, type User } from './auth-record';

const META_ENABLED = 'auth/enabled';
const META_REVISION = 'auth/revision';
const KEY_ENABLED = 'authEnabled';
const KEY_REVISION = 'authRevision';

/** etcd's bbolt buckets of auth state: [key, value] rows in key byte order. */
export interface AuthBuckets {
  auth: [Buffer, Buffer][];
  authUsers: [Buffer, Buffer][];
  authRoles: [Buffer, Buffer][];
}

export class AuthTables {
  private readonly users: BinaryDB;
  private readonly roles: BinaryDB;

  constructor(private readonly backend: Backend) {
    this.users = backend.binaryTable('auth-users');
    this.roles = backend.binaryTable('auth-roles');
    if (backend.getMetaNumber(META_REVISION) === undefined) backend.transaction(() => backend.putMetaNumber(META_REVISION, 1));
  }

  enabled(): boolean {
    const v = this.backend.getMetaBuffer(META_ENABLED);
    return v !== undefined && v.length === 1 && v[0] === 1;
  }

  revision(): number {
    return this.backend.getMetaNumber(META_REVISION) ?? 1;
  }

  putEnabled(enabled: boolean): void {
    this.backend.putMetaBuffer(META_ENABLED, Buffer.from([enabled ? 1 : 0]));
  }

  putRevision(revision: number): void {
    this.backend.putMetaNumber(META_REVISION, revision);
  }

  *allUsers(): Generator<User> {
    for (const { value } of this.users.getRange({})) yield unmarshalUser(Buffer.from(value));
  }

  *allRoles(): Generator<Role> {
    for (const { value } of this.roles.getRange({})) yield unmarshalRole(Buffer.from(value));
  }

  putUser(u: User): void {
    this.users.putSync(Buffer.from(u.name), marshalUser(u));
  }

  deleteUser(name: string): void {
    this.users.removeSync(Buffer.from(name));
  }

  putRole(r: Role): void {
    this.roles.putSync(Buffer.from(r.name), marshalRole(r));
  }

  deleteRole(name: string): void {
    this.roles.removeSync(Buffer.from(name));
  }

  /** The state of a pinned view as etcd's buckets. */
  exportBuckets(view: ReadView): AuthBuckets {
    const auth: [Buffer, Buffer][] = [];
    const enabled = this.backend.getMetaBuffer(META_ENABLED, view);
    if (enabled !== undefined && enabled.length === 1) auth.push([Buffer.from(KEY_ENABLED), Buffer.from(enabled)]);
    const rev = Buffer.alloc(8);
    rev.writeBigUInt64BE(BigInt(this.backend.getMetaNumber(META_REVISION, view) ?? 1));
    auth.push([Buffer.from(KEY_REVISION), rev]);
    const rows = (t: BinaryDB): [Buffer, Buffer][] => {
      const out: [Buffer, Buffer][] = [];
      for (const { key, value } of t.getRange({ transaction: view.transaction })) out.push([Buffer.from(key), Buffer.from(value)]);
      return out.sort((a, b) => Buffer.compare(a[0], b[0]));
    };
    return { auth, authUsers: rows(this.users), authRoles: rows(this.roles) };
  }

  /**
   * Replaces everything with the buckets' rows (inside the transaction installing a snapshot).
   * Rows that are not authpb records are refused (AuthRecordError) before anything is written.
   */
  replace(b: AuthBuckets): void {
    for (const [, v] of b.authUsers) unmarshalUser(v);
    for (const [, v] of b.authRoles) unmarshalRole(v);
    for (const k of [...this.users.getKeys({})]) this.users.removeSync(Buffer.from(k));
    for (const k of [...this.roles.getKeys({})]) this.roles.removeSync(Buffer.from(k));
    for (const [k, v] of b.authUsers) this.users.putSync(k, v);
    for (const [k, v] of b.authRoles) this.roles.putSync(k, v);
    let enabled = Buffer.alloc(0);
    let revision = 1;
    for (const [k, v] of b.auth) {
      if (k.toString() === KEY_ENABLED && v.length === 1) enabled = Buffer.from(v);
      else if (k.toString() === KEY_REVISION && v.length === 8) revision = Number(v.readBigUInt64BE(0));
    }
    // An empty value stands for "never set" (the backend has no meta delete).
    this.backend.putMetaBuffer(META_ENABLED, enabled);
    this.backend.putMetaNumber(META_REVISION, revision);
  }
}

/** The buckets as JSON (base64 rows), for our member-to-member snapshot header. */
export function authBucketsToJson(b: AuthBuckets): string {
  const enc = (rows: [Buffer, Buffer][]): [string, string][] => rows.map(([k, v]) => [k.toString('base64'), v.toString('base64')]);
  return JSON.stringify({ auth: enc(b.auth), authUsers: enc(b.authUsers), authRoles: enc(b.authRoles) });
}

export function authBucketsFromJson(json: string): AuthBuckets {
  const v = JSON.parse(json) as Partial<Record<keyof AuthBuckets, [string, string][]>>;
  const dec = (rows: [string, string][] | undefined): [Buffer, Buffer][] =>
    (rows ?? []).map(([k, val]): [Buffer, Buffer] => [Buffer.from(k, 'base64'), Buffer.from(val, 'base64')]);
  return { auth: dec(v.auth), authUsers: dec(v.authUsers), authRoles: dec(v.authRoles) };
}

export const AUTH_BUCKET_NAMES = ['auth', 'authRoles', 'authUsers'] as const;

/**
 * The auth buckets of an etcd snapshot file, given how to list one bucket's rows (for restore.ts:
 * `(name) => reader.bucket(name)?.entries()`); a missing bucket is empty. Rows come in bbolt's
 * key order already.
 */
export function authBucketsFrom(rowsOf: (bucket: (typeof AUTH_BUCKET_NAMES)[number]) => Iterable<readonly [Buffer, Buffer]> | undefined): AuthBuckets {
  const rows = (name: (typeof AUTH_BUCKET_NAMES)[number]): [Buffer, Buffer][] => [...(rowsOf(name) ?? [])].map(([k, v]): [Buffer, Buffer] => [Buffer.from(k), Buffer.from(v)]);
  return { auth: rows('auth'), authUsers: rows('authUsers'), authRoles: rows('authRoles') };
}
