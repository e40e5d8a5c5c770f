// The apply chain's auth layer (src/apply/auth-layer.ts) and the entry header it reads, without a
// server: each request kind checked as etcd's authApplierV3 checks it, against a real auth store
// on LMDB, and the caller's user and auth revision carried through an entry's bytes (the fast path
// that embeds a request's received bytes, and the generic one) with etcd's size count.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backend } from '../src/backend/backend';
import { EtcdError } from '../src/errors';
import { AuthStore, type AuthInfo } from '../src/auth/auth-store';
import { PermType } from '../src/auth/auth-record';
import { bcryptHash } from '../src/auth/password';
import type { ApplierV3 } from '../src/apply/applier-v3';
import { AuthLayer, checkTxnAuth, type LeaseKeys } from '../src/apply/auth-layer';
import type { ApplyContext } from '../src/apply/applied';
import { decodeEntryData, encodeEntryData, etcdEntryBytes } from '../src/apply/entry-codec';
import { protoType, rawRequestBytes } from '../src/pb/load';
import type { PutRequest, RequestOp, TxnRequest } from '../src/pb/types';

const b = (s: string): Buffer => Buffer.from(s);
const put = (key: string, o: Partial<PutRequest> = {}): PutRequest => ({ key: b(key), value: b('v'), lease: 0, prev_kv: false, ignore_value: false, ignore_lease: false, ...o });
const txn = (success: RequestOp[], failure: RequestOp[] = [], compareKeys: string[] = []): TxnRequest => ({
  compare: compareKeys.map((k) => ({ key: b(k), range_end: b(''), result: 0, target: 0, version: 0 })),
  success,
  failure,
});
const range = (key: string, end = ''): RequestOp => ({ request_range: { key: b(key), range_end: b(end) } as RequestOp['request_range'] });

/** The bottom of the chain: whatever gets through answers an empty result. */
const base = new Proxy({} as ApplierV3, { get: () => () => ({}) });

describe('auth layer', () => {
  let dir = '';
  let backend: Backend;
  let store: AuthStore;
  let layer: ApplierV3;
  const leases = new Map<bigint, Buffer[]>([[7n, [b('no/held')]], [8n, [b('ok/held')]]]);
  const lessor: LeaseKeys = { leaseExists: (id) => leases.has(id), keysOf: (id) => leases.get(id) ?? [] };
  let u: AuthInfo;
  let root: AuthInfo;
  const ctx = (authInfo: AuthInfo): ApplyContext => ({ member: 1n, id: 1n, index: 10, authInfo });
  const refused = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof EtcdError);
      return err.message;
    }
    return 'passed';
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'auth-layer-test-'));
    backend = new Backend({ dir, mapSizeBytes: 64 * 1024 * 1024 });
    store = new AuthStore(backend);
    const hashed = Buffer.from(bcryptHash('x', 4)).toString('base64');
    backend.transaction(() => {
      store.userAdd({ name: 'root', hashedPassword: hashed });
      store.userGrantRole('root', 'root');
      store.roleAdd('rw');
      store.roleGrantPermission('rw', { permType: PermType.READWRITE, key: b('ok/'), range_end: b('ok0') });
      store.roleGrantPermission('rw', { permType: PermType.WRITE, key: b('wo/'), range_end: b('wo0') });
      store.userAdd({ name: 'u', hashedPassword: hashed });
      store.userGrantRole('u', 'rw');
      store.authEnable();
    });
    u = { username: 'u', revision: store.revision() };
    root = { username: 'root', revision: store.revision() };
    layer = new AuthLayer(base, store, lessor);
  });
  after(async () => {
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('put: the key, the lease\'s keys, READ for prev_kv', () => {
    assert.equal(refused(() => layer.put(put('ok/1'), ctx(u))), 'passed');
    assert.equal(refused(() => layer.put(put('no/1'), ctx(u))), 'etcdserver: permission denied');
    assert.equal(refused(() => layer.put(put('ok/1', { lease: '7' }), ctx(u))), 'etcdserver: permission denied');
    assert.equal(refused(() => layer.put(put('ok/1', { lease: '8' }), ctx(u))), 'passed');
    assert.equal(refused(() => layer.put(put('wo/1', { prev_kv: true }), ctx(u))), 'etcdserver: permission denied');
    assert.equal(refused(() => layer.put(put('no/1', { lease: '7' }), ctx(root))), 'passed');
    assert.equal(refused(() => layer.put(put('ok/1'), ctx({ username: '', revision: 0 }))), 'etcdserver: user name is empty');
    assert.equal(refused(() => layer.put(put('ok/1'), ctx({ username: 'u', revision: u.revision - 1 }))), 'etcdserver: revision of auth store is old');
  });

  test('txn: compares, both branches, nested txns, a put\'s prev_kv and lease', () => {
    assert.equal(refused(() => layer.txn(txn([range('ok/1'), { request_put: put('ok/2') }]), ctx(u))), 'passed');
    assert.equal(refused(() => layer.txn(txn([{ request_put: put('ok/2') }], [{ request_put: put('no/2') }]), ctx(u))), 'etcdserver: permission denied');
    assert.equal(refused(() => layer.txn(txn([], [], ['no/c']), ctx(u))), 'etcdserver: permission denied');
    assert.equal(refused(() => layer.txn(txn([{ request_txn: txn([{ request_put: put('no/n') }]) }]), ctx(u))), 'etcdserver: permission denied');
    assert.equal(refused(() => layer.txn(txn([{ request_put: put('wo/p', { prev_kv: true }) }]), ctx(u))), 'etcdserver: permission denied');
    assert.equal(refused(() => layer.txn(txn([{ request_put: put('ok/l', { lease: '7' }) }]), ctx(u))), 'etcdserver: permission denied');
    const del = { request_delete_range: { key: b('wo/'), range_end: b('wo0'), prev_kv: true } };
    assert.equal(refused(() => checkTxnAuth(store, lessor, u, txn([del]))), 'etcdserver: permission denied');
    assert.equal(refused(() => checkTxnAuth(store, lessor, u, txn([{ request_delete_range: { ...del.request_delete_range, prev_kv: false } }]))), 'passed');
  });

  test('lease revoke needs WRITE on every key it holds (root passes); delete_range with prev_kv needs READ', () => {
    assert.equal(refused(() => layer.leaseRevoke({ ID: '7' }, ctx(u))), 'etcdserver: permission denied');
    assert.equal(refused(() => layer.leaseRevoke({ ID: '8' }, ctx(u))), 'passed');
    assert.equal(refused(() => layer.leaseRevoke({ ID: '7' }, ctx(root))), 'passed');
    assert.equal(refused(() => layer.deleteRange({ key: b('wo/'), range_end: b('wo0'), prev_kv: true }, ctx(u))), 'etcdserver: permission denied');
    assert.equal(refused(() => layer.deleteRange({ key: b('wo/'), range_end: b('wo0'), prev_kv: false }, ctx(u))), 'passed');
  });

  test('Auth* requests need root, but Authenticate, UserGet of oneself and RoleGet of an own role', () => {
    assert.equal(refused(() => layer.auth({ kind: 'auth_status' }, ctx(u))), 'etcdserver: permission denied');
    assert.equal(refused(() => layer.auth({ kind: 'auth_user_list' }, ctx({ username: '', revision: 0 }))), 'etcdserver: user name is empty');
    assert.equal(refused(() => layer.auth({ kind: 'auth_user_get', req: { name: 'u' } }, ctx(u))), 'passed');
    assert.equal(refused(() => layer.auth({ kind: 'auth_user_get', req: { name: 'root' } }, ctx(u))), 'etcdserver: permission denied');
    assert.equal(refused(() => layer.auth({ kind: 'auth_role_get', req: { role: 'rw' } }, ctx(u))), 'passed');
    assert.equal(refused(() => layer.auth({ kind: 'auth_role_get', req: { role: 'root' } }, ctx(u))), 'etcdserver: permission denied');
    assert.equal(refused(() => layer.auth({ kind: 'authenticate', req: { name: 'u', simple_token: 'x' } }, ctx({ username: '', revision: 0 }))), 'passed');
    // An old revision does not matter to the admin check (etcd's IsAdminPermitted).
    assert.equal(refused(() => layer.auth({ kind: 'auth_user_list' }, ctx({ username: 'root', revision: 1 }))), 'passed');
  });
});

describe('entry header', () => {
  const header = { username: 'someone', auth_revision: 42 };

  test('a request embedded as its received bytes carries the header after it', () => {
    const req = put('k');
    const type = protoType('etcdserverpb.PutRequest');
    rawRequestBytes.set(req, Buffer.from(type.encode(type.fromObject(req)).finish()));
    const data = encodeEntryData(3n, 9n, { put: req, header });
    const back = decodeEntryData(data);
    assert.equal(back.put?.key.toString(), 'k');
    assert.deepEqual({ username: back.header?.username, auth_revision: Number(back.header?.auth_revision) }, header);
    const plain = decodeEntryData(encodeEntryData(3n, 9n, { put: put('k') }));
    assert.equal(plain.header, null);
  });

  test('an Auth* request goes through the generic encoder, header included', () => {
    const back = decodeEntryData(encodeEntryData(3n, 9n, { auth_enable: {}, header }));
    assert.deepEqual(back.auth_enable, {});
    assert.equal(back.header?.username, 'someone');
  });

  test('etcd\'s size: its header holds the request ID beside the user and revision', () => {
    const data = encodeEntryData(1n, 9n, { put: put('k'), header });
    const plain = encodeEntryData(1n, 9n, { put: put('k') });
    // Ours: field 31 (2-byte tag, length, username 2+7, revision 2) = 14 bytes more than none.
    assert.equal(data.length - plain.length, 14);
    // etcd's field 100 grows by the same user and revision bytes (11) and nothing else.
    assert.equal(etcdEntryBytes(data, 1n, header) - etcdEntryBytes(plain, 1n), 11);
  });
});
