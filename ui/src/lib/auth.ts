// What the logged-in user may do, from the auth API: whether auth is on, the user's roles and
// their permissions (a user may read its own user and roles), and whether root is logged in.
// The server decides every request; this only lets the views hide what would be refused and say
// why a form is read-only.
import { compareBytes } from './tree.js';
import { fromBase64 } from './bytes.js';
import type { PermissionJson } from './etcd-types.js';
import { call } from './gateway.js';
import { session, setSession } from './session.js';

export async function authEnabled(): Promise<boolean> {
  const r = await call<{ enabled?: boolean }>('auth/status', {});
  return r.enabled === true;
}

export async function login(user: string, password: string): Promise<void> {
  const r = await call<{ token?: string }>('auth/authenticate', { name: user, password });
  if (r.token === undefined) throw new Error('the server answered without a token');
  setSession({ user, token: r.token });
}

export const logout = (): void => setSession(undefined);

export interface Permission {
  type: 'READ' | 'WRITE' | 'READWRITE';
  key: Uint8Array;
  /** Empty: the key alone; [0]: every key from `key` on. */
  rangeEnd: Uint8Array;
}

export interface Rights {
  /** Auth is off: everything is allowed. */
  all: boolean;
  root: boolean;
  user: string;
  roles: string[];
  permissions: Permission[];
}

export const EVERYTHING: Rights = { all: true, root: true, user: '', roles: [], permissions: [] };

export async function loadRights(): Promise<Rights> {
  const s = session();
  if (s === undefined) return { all: false, root: false, user: '', roles: [], permissions: [] };
  const u = await call<{ roles?: string[] }>('auth/user/get', { name: s.user });
  const roles = u.roles ?? [];
  const permissions: Permission[] = [];
  for (const role of roles) {
    const r = await call<{ perm?: PermissionJson[] }>('auth/role/get', { role });
    for (const p of r.perm ?? []) permissions.push({ type: p.permType ?? 'READ', key: fromBase64(p.key), rangeEnd: fromBase64(p.range_end) });
  }
  return { all: false, root: roles.includes('root'), user: s.user, roles, permissions };
}

function covers(p: Permission, key: Uint8Array): boolean {
  if (p.rangeEnd.length === 0) return compareBytes(p.key, key) === 0;
  if (compareBytes(key, p.key) < 0) return false;
  return (p.rangeEnd.length === 1 && p.rangeEnd[0] === 0) || compareBytes(key, p.rangeEnd) < 0;
}

export function mayWrite(r: Rights, key: Uint8Array): boolean {
  return r.all || r.root || r.permissions.some((p) => p.type !== 'READ' && covers(p, key));
}

export function mayRead(r: Rights, key: Uint8Array): boolean {
  return r.all || r.root || r.permissions.some((p) => p.type !== 'WRITE' && covers(p, key));
}

/** The prefixes the user may read, as places to start browsing when the whole key space is refused. */
export function readablePrefixes(r: Rights): Uint8Array[] {
  return r.permissions.filter((p) => p.type !== 'WRITE').map((p) => p.key);
}
