// JWT tokens across a cluster (issue 14): three members started with
// `--auth-token jwt,pub-key=…,priv-key=…,sign-method=RS256` (an RSA key pair made here with
// node's crypto). A token from Authenticate on one member is a signed JWT that every member
// verifies; it names the auth revision it was issued at, so after any auth change it is refused
// everywhere with "revision of auth store is old" (admin calls excepted: etcd does not compare
// the revision there), as real etcd 3.4 answers the same calls with the same key.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, waitForLeader, type Cluster } from './helpers/cluster';
import { b } from './helpers/grpc-client';
import { clients, enableWithRoot, login, READWRITE, tcall, tcallError, type Clients } from './helpers/auth-client';

const OLD = 'INVALID_ARGUMENT etcdserver: revision of auth store is old';

describe('JWT tokens in a 3-member cluster', () => {
  let cluster: Cluster;
  let dir = '';
  let cs: Clients[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'etcd-ts-jwt-'));
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, 'pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(join(dir, 'priv.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    cluster = await startCluster(3, ['--auth-token', `jwt,pub-key=${join(dir, 'pub.pem')},priv-key=${join(dir, 'priv.pem')},sign-method=RS256,ttl=10m`]);
    await waitForLeader(cluster.endpoints());
    cs = cluster.endpoints().map(clients);
  });
  after(async () => {
    for (const c of cs) c.close();
    await cluster?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a token from one member is accepted by the others until the auth revision moves', async () => {
    const [c1, c2, c3] = cs;
    const root = await enableWithRoot(c1.auth);
    await tcall(c1.auth, 'RoleAdd', { name: 'r' }, root);
    await tcall(c1.auth, 'RoleGrantPermission', { name: 'r', perm: { permType: READWRITE, key: b('k/'), range_end: b('k0') } }, root);
    await tcall(c1.auth, 'UserAdd', { name: 'u', password: 'p' }, root);
    await tcall(c1.auth, 'UserGrantRole', { user: 'u', role: 'r' }, root);

    const token = await login(c2.auth, 'u', 'p');
    const parts = token.split('.');
    assert.equal(parts.length, 3, 'a JWT');
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(claims), ['exp', 'revision', 'username']);
    assert.equal(claims.username, 'u');

    await tcall(c1.kv, 'Put', { key: b('k/1'), value: b('one') }, token);
    await tcall(c3.kv, 'Put', { key: b('k/2'), value: b('two') }, token);
    for (const c of cs) {
      const r = await tcall(c.kv, 'Range', { key: b('k/'), range_end: b('k0') }, token);
      assert.deepEqual(r.kvs.map((kv: { key: Buffer }) => kv.key.toString()), ['k/1', 'k/2']);
      assert.equal(await tcallError(c.kv, 'Range', { key: b('other') }, token), 'PERMISSION_DENIED etcdserver: permission denied');
    }
    // A token signed with another key is not a token.
    assert.equal(await tcallError(c1.kv, 'Range', { key: b('k/1') }, `${parts[0]}.${parts[1]}.${parts[2].slice(0, -4)}AAAA`), 'UNAUTHENTICATED etcdserver: invalid auth token');

    // Any auth change moves the revision: the old token is refused on every member (a
    // linearizable read and a write both see the change first).
    await tcall(c3.auth, 'RoleAdd', { name: 'unrelated' }, root);
    for (const c of cs) {
      assert.equal(await tcallError(c.kv, 'Range', { key: b('k/1') }, token), OLD);
      assert.equal(await tcallError(c.kv, 'Put', { key: b('k/1'), value: b('x') }, token), OLD);
    }
    // Root's old token still passes the admin check (which does not compare revisions).
    await tcall(c2.auth, 'UserList', {}, root);
    const fresh = await login(c3.auth, 'u', 'p');
    for (const c of cs) await tcall(c.kv, 'Range', { key: b('k/1') }, fresh);
  });
});
