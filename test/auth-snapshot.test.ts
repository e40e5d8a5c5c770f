// Auth state in etcd's snapshot files, both ways (issue 14): the auth, authUsers and authRoles
// buckets carry users (with their bcrypt hashes), roles and enabled, so
//  a) an etcd-ts snapshot restored by etcd-ts, and by `etcdctl snapshot restore` for real etcd
//     3.4, serves the same users, passwords and permissions with auth enabled;
//  b) a real etcd snapshot restored by etcd-ts keeps etcd's users: their passwords (hashed by
//     Go's bcrypt) work, their permissions hold.
// Saving a snapshot needs root. Skipped only when etcd or etcdctl is missing.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAIN, startServer, type ServerProcess } from './helpers/server-process';
import { etcdctl, etcdctlMissing, show } from './helpers/etcdctl';
import { b } from './helpers/grpc-client';
import { clients, enableWithRoot, login, READWRITE, tcall, tcallError } from './helpers/auth-client';

const etcdMissing: string | false = spawnSync('etcd', ['--version']).status === 0 ? false : 'etcd is not installed';
const skip = etcdMissing || etcdctlMissing;
const RESTORE_FLAGS = ['--name', 'default', '--initial-cluster', 'default=http://localhost:2380', '--initial-advertise-peer-urls', 'http://localhost:2380', '--initial-cluster-token', 'etcd-cluster'];

/** Root, a role rw on ok/ and user u in it, a key, auth enabled. */
async function populate(s: ServerProcess): Promise<void> {
  const c = clients(s.endpoint);
  try {
    await tcall(c.kv, 'Put', { key: b('ok/1'), value: b('one') });
    await tcall(c.kv, 'Put', { key: b('no/1'), value: b('secret') });
    await tcall(c.auth, 'RoleAdd', { name: 'rw' });
    await tcall(c.auth, 'RoleGrantPermission', { name: 'rw', perm: { permType: READWRITE, key: b('ok/'), range_end: b('ok0') } });
    await tcall(c.auth, 'UserAdd', { name: 'u', password: 'upw' });
    await tcall(c.auth, 'UserGrantRole', { user: 'u', role: 'rw' });
    await enableWithRoot(c.auth);
  } finally {
    c.close();
  }
}

/** What a restored member must serve: auth on, u's password and permissions, root's role. */
async function check(s: ServerProcess, what: string): Promise<void> {
  const c = clients(s.endpoint);
  try {
    assert.equal(await tcallError(c.kv, 'Range', { key: b('ok/1') }), 'INVALID_ARGUMENT etcdserver: user name is empty', what);
    const u = await login(c.auth, 'u', 'upw');
    const r = await tcall(c.kv, 'Range', { key: b('ok/1') }, u);
    assert.equal(r.kvs[0].value.toString(), 'one', what);
    assert.equal(await tcallError(c.kv, 'Range', { key: b('no/1') }, u), 'PERMISSION_DENIED etcdserver: permission denied', what);
    assert.equal(await tcallError(c.auth, 'Authenticate', { name: 'u', password: 'wrong' }), 'INVALID_ARGUMENT etcdserver: authentication failed, invalid user ID or password', what);
    const root = await login(c.auth, 'root', 'rootpw');
    assert.deepEqual((await tcall(c.auth, 'UserList', {}, root)).users, ['root', 'u'], what);
    assert.equal((await tcall(c.kv, 'Range', { key: b('no/1') }, root)).kvs[0].value.toString(), 'secret', what);
  } finally {
    c.close();
  }
}

/** Without root the stream is refused, with etcd 3.5.17's untranslated error; etcdctl exits 5. */
async function saveRefused(s: ServerProcess, file: string): Promise<void> {
  const denied = await etcdctl(s.endpoint, ['snapshot', 'save', file]);
  assert.equal(denied.code, 5, show(['snapshot', 'save'], denied));
  assert.match(denied.stderr, /\nError: rpc error: code = Unknown desc = auth: user name is empty\n$/);
}

describe('auth in snapshot files', { skip }, () => {
  const work = mkdtempSync(join(tmpdir(), 'etcd-ts-auth-snap-'));
  const servers: ServerProcess[] = [];
  after(async () => {
    for (const s of servers) await s.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  test('an etcd-ts snapshot keeps users, roles and enabled for etcd-ts and for real etcd', async () => {
    const ts = await startServer({ impl: 'etcd-ts' });
    servers.push(ts);
    await populate(ts);
    const file = join(work, 'from-ts.db');
    await saveRefused(ts, file);
    const saved = await etcdctl(ts.endpoint, ['--user', 'root:rootpw', 'snapshot', 'save', file]);
    assert.equal(saved.code, 0, show(['snapshot', 'save'], saved));

    const tsDir = join(work, 'ts-restored');
    const r = spawnSync(process.execPath, [MAIN, 'snapshot', 'restore', file, '--data-dir', tsDir, ...RESTORE_FLAGS], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const tsRestored = await startServer({ dataDir: tsDir, impl: 'etcd-ts' });
    servers.push(tsRestored);
    await check(tsRestored, 'etcd-ts from etcd-ts');

    const etDir = join(work, 'etcd-restored');
    const er = await etcdctl('127.0.0.1:1', ['snapshot', 'restore', file, '--data-dir', etDir, ...RESTORE_FLAGS]);
    assert.equal(er.code, 0, show(['snapshot', 'restore'], er));
    const etRestored = await startServer({ dataDir: etDir, impl: 'etcd' });
    servers.push(etRestored);
    await check(etRestored, 'etcd from etcd-ts');
  });

  test('a real etcd snapshot restored by etcd-ts keeps etcd\'s users and their passwords', async () => {
    const et = await startServer({ impl: 'etcd' });
    servers.push(et);
    await populate(et);
    const file = join(work, 'from-etcd.db');
    await saveRefused(et, file);
    const saved = await etcdctl(et.endpoint, ['--user', 'root:rootpw', 'snapshot', 'save', file]);
    assert.equal(saved.code, 0, show(['snapshot', 'save'], saved));
    const dir = join(work, 'ts-from-etcd');
    const r = spawnSync(process.execPath, [MAIN, 'snapshot', 'restore', file, '--data-dir', dir, ...RESTORE_FLAGS], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const restored = await startServer({ dataDir: dir, impl: 'etcd-ts' });
    servers.push(restored);
    await check(restored, 'etcd-ts from etcd');
  });
});
