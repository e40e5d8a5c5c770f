// Users and roles with their permissions, read-only, for root (the server refuses the lists to
// anyone else).
import { useEffect, useState } from 'preact/hooks';
import { fromBase64, prefixEnd } from '../lib/bytes.js';
import type { PermissionJson } from '../lib/etcd-types.js';
import { call, errorText } from '../lib/gateway.js';
import { equal } from '../lib/bytes.js';
import { ErrorLine, keyText } from './common.js';

interface UserRow {
  name: string;
  roles: string[];
}

interface RoleRow {
  name: string;
  perms: PermissionJson[];
}

/** A permission's range as etcdctl words it: a key, a prefix, or [key, end). */
function describe(p: PermissionJson): string {
  const key = fromBase64(p.key);
  const end = fromBase64(p.range_end);
  if (end.length === 0) return keyText(key);
  if (end.length === 1 && end[0] === 0) return `${keyText(key)} and every key after it`;
  if (equal(prefixEnd(key), end)) return `${keyText(key)}* (prefix)`;
  return `[${keyText(key)}, ${keyText(end)})`;
}

export function UsersPage() {
  const [users, setUsers] = useState<UserRow[] | undefined>();
  const [roles, setRoles] = useState<RoleRow[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    (async () => {
      const u = await call<{ users?: string[] }>('auth/user/list', {});
      const userRows = await Promise.all((u.users ?? []).map(async (name) => ({ name, roles: (await call<{ roles?: string[] }>('auth/user/get', { name })).roles ?? [] })));
      const r = await call<{ roles?: string[] }>('auth/role/list', {});
      const roleRows = await Promise.all((r.roles ?? []).map(async (name) => ({ name, perms: (await call<{ perm?: PermissionJson[] }>('auth/role/get', { role: name })).perm ?? [] })));
      setUsers(userRows);
      setRoles(roleRows);
    })().catch((err: unknown) => setError(errorText(err)));
  }, []);
  return (
    <section aria-labelledby="users-title">
      <h1 id="users-title">Users and roles</h1>
      <ErrorLine error={error} />
      {users !== undefined && (
        <div class="table-wrap card">
          <table aria-label="Users">
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Roles</th>
              </tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr key={u.name}>
                  <td>{u.name}</td>
                  <td>{u.roles.join(', ') || 'none'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {roles !== undefined && (
        <div class="table-wrap card">
          <table aria-label="Roles">
            <thead>
              <tr>
                <th scope="col">Role</th>
                <th scope="col">Permissions</th>
              </tr>
            </thead>
            <tbody>
              {roles.map((r) => (
                <tr key={r.name}>
                  <td>{r.name}</td>
                  <td>
                    {r.name === 'root' ? 'everything' : r.perms.length === 0 ? 'none' : r.perms.map((p, i) => <div key={i}>{`${p.permType ?? 'READ'} ${describe(p)}`}</div>)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
