// Auth in a 3-member cluster with simple tokens (issue 14): every member registers a token when
// it applies the Authenticate entry, so a token from one member works on every other; and a
// member caught up by a Raft snapshot (it was stopped while the others compacted their log) gets
// the auth state with it: users, roles and enabled, usable at once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { leaderEndpoint, startCluster, type Cluster } from './helpers/cluster';
import { b } from './helpers/grpc-client';
import { clients, enableWithRoot, login, READ, READWRITE, tcall, tcallError, type Clients } from './helpers/auth-client';

const WRITES = 600;

describe('simple tokens in a 3-member cluster', () => {
  let cluster: Cluster;
  let cs: Clients[] = [];
  let root = '';
  before(async () => {
    cluster = await startCluster(3, ['--snapshot-count', '100', '--log-level', 'info']);
    const leader = await leaderEndpoint(cluster.endpoints());
    cs = cluster.endpoints().map(clients);
    root = await enableWithRoot(cs[cluster.endpoints().indexOf(leader)].auth);
  });
  after(async () => {
    for (const c of cs) c.close();
    await cluster?.cleanup();
  });

  test('a token from Authenticate on one member works on the others', async () => {
    const [c1, c2, c3] = cs;
    await tcall(c2.auth, 'RoleAdd', { name: 'r' }, root);
    await tcall(c2.auth, 'RoleGrantPermission', { name: 'r', perm: { permType: READWRITE, key: b('k/'), range_end: b('k0') } }, root);
    await tcall(c3.auth, 'UserAdd', { name: 'u', password: 'p' }, root);
    await tcall(c3.auth, 'UserGrantRole', { user: 'u', role: 'r' }, root);
    for (const [i, c] of cs.entries()) {
      const token = await login(c.auth, 'u', 'p');
      assert.match(token, /^[a-zA-Z]{16}\.\d+$/, 'etcd\'s simple token');
      for (const other of [c1, c2, c3]) {
        await tcall(other.kv, 'Put', { key: b(`k/${i}`), value: b(token) }, token);
        // A serializable read right after: the member waits until it applied the token's entry.
        const r = await tcall(other.kv, 'Range', { key: b(`k/${i}`), serializable: true }, token);
        assert.equal(r.kvs[0].value.toString(), token);
        assert.equal(await tcallError(other.kv, 'Range', { key: b('x') }, token), 'PERMISSION_DENIED etcdserver: permission denied');
      }
    }
  });

  test('a member caught up by a snapshot knows the users, roles and permissions made meanwhile', async () => {
    const leader = await leaderEndpoint(cluster.endpoints());
    const li = cluster.endpoints().indexOf(leader);
    const fi = (li + 1) % 3;
    const follower = cluster.members[fi].process;
    assert.ok(follower !== undefined);
    const lc = cs[li];
    follower.proc.kill('SIGSTOP');
    try {
      await tcall(lc.auth, 'RoleAdd', { name: 'late' }, root);
      await tcall(lc.auth, 'RoleGrantPermission', { name: 'late', perm: { permType: READ, key: b('late/'), range_end: b('late0') } }, root);
      await tcall(lc.auth, 'UserAdd', { name: 'newcomer', password: 'np' }, root);
      await tcall(lc.auth, 'UserGrantRole', { user: 'newcomer', role: 'late' }, root);
      // One at a time, so that each is its own message to the stopped follower: past raft's 256
      // in flight the leader holds the rest back, and past --snapshot-count it compacts them away.
      for (let i = 0; i < WRITES; i++) await tcall(lc.kv, 'Put', { key: b(`late/${i}`), value: b('x') }, root);
    } finally {
      follower.proc.kill('SIGCONT');
    }
    const fc = cs[fi];
    const deadline = Date.now() + 20_000;
    for (;;) {
      const r = await tcall(fc.kv, 'Range', { key: b('late/'), range_end: b('late0'), serializable: true, count_only: true }, root).catch(() => undefined);
      if (Number(r?.count) === WRITES) break;
      assert.ok(Date.now() < deadline, 'the follower caught up');
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.match(follower.stderr(), /applying snapshot/, 'it caught up from a snapshot');
    const token = await login(fc.auth, 'newcomer', 'np');
    const r = await tcall(fc.kv, 'Range', { key: b('late/'), range_end: b('late0'), serializable: true, count_only: true }, token);
    assert.equal(Number(r.count), WRITES);
    assert.equal(await tcallError(fc.kv, 'Put', { key: b('late/1'), value: b('y') }, token), 'PERMISSION_DENIED etcdserver: permission denied');
    const st = await tcall(fc.auth, 'AuthStatus', {}, root);
    assert.equal(st.enabled, true);
    const users = await tcall(fc.auth, 'UserList', {}, root);
    assert.deepEqual(users.users, ['newcomer', 'root', 'u']);
  });
});
