// The auth store (src/auth/auth-store.ts) on a real LMDB backend: every operation's etcd error
// (message and gRPC code), the auth revision, permission merging and revoking, persistence across
// a reopen, etcd's bucket bytes for snapshots, and password hashing before proposing.
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backend } from '../../src/backend/backend';
import { Code, EtcdError } from '../../src/errors';
import { AuthStore, type AuthStoreListener } from '../../src/auth/auth-store';
import { marshalRole, marshalUser, PermType, unmarshalRole, unmarshalUser, type Permission } from '../../src/auth/auth-record';
import { bcryptHash, normalizeBcryptCost, PasswordHasher } from '../../src/auth/password';
import { authBucketsFrom } from '../../src/auth/auth-tables';
import { writeBboltFile } from '../../src/snapshot/bbolt-writer';
import { BboltReader } from '../../src/snapshot/bbolt-reader';

const dirs: string[] = [];
const backends: Backend[] = [];
const hashers: PasswordHasher[] = [];

afterEach(async () => {
  for (const h of hashers.splice(0)) await h.close();
  for (const be of backends.splice(0)) await be.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function openBackend(dir?: string): { backend: Backend; dir: string } {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'auth-store-test-'));
  if (dir === undefined) dirs.push(d);
  const backend = new Backend({ dir: d, mapSizeBytes: 64 * 1024 * 1024 });
  backends.push(backend);
  return { backend, dir: d };
}

interface Opened {
  store: AuthStore;
  backend: Backend;
  dir: string;
  events: string[];
  /** Runs an apply method inside a write transaction, as the apply loop does. */
  apply<T>(fn: (s: AuthStore) => T): T;
}

function open(dir?: string): Opened {
  const { backend, dir: d } = openBackend(dir);
  const events: string[] = [];
  const listener: AuthStoreListener = {
    enable: () => events.push('enable'),
    disable: () => events.push('disable'),
    invalidateUser: (u) => events.push(`invalidate:${u}`),
  };
  const store = new AuthStore(backend, listener);
  return { store, backend, dir: d, events, apply: (fn) => backend.transaction(() => fn(store)) };
}

const b = (s: string): Buffer => Buffer.from(s);
const hashed = (pw: string): string => Buffer.from(bcryptHash(pw, 4)).toString('base64');
const perm = (permType: PermType, key: string, rangeEnd = ''): Permission => ({ permType, key: b(key), range_end: b(rangeEnd) });

/** Asserts fn throws etcd's error: this message and gRPC code. */
function throwsEtcd(fn: () => unknown, message: string, code: Code): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof EtcdError, `not an EtcdError: ${String(err)}`);
    assert.equal(err.message, message);
    assert.equal(err.code, code);
    return true;
  });
}

/** A store with a root user holding the root role, auth enabled. */
function withRoot(o: Opened): void {
  o.apply((s) => {
    s.userAdd({ name: 'root', hashedPassword: hashed('rootpw') });
    s.userGrantRole('root', 'root');
    s.authEnable();
  });
}

describe('auth enable / disable / status', () => {
  test('a new store: disabled, revision 1, no users or roles', () => {
    const { store } = open();
    assert.deepEqual(store.authStatus(), { enabled: false, authRevision: 1 });
    assert.deepEqual(store.userList(), []);
    assert.deepEqual(store.roleList(), []);
  });

  test('enable refuses without root user, then without root role; succeeds with both', () => {
    const o = open();
    throwsEtcd(() => o.apply((s) => s.authEnable()), 'etcdserver: root user does not exist', Code.FAILED_PRECONDITION);
    o.apply((s) => s.userAdd({ name: 'root', hashedPassword: hashed('x') }));
    throwsEtcd(() => o.apply((s) => s.authEnable()), 'etcdserver: root user does not have root role', Code.FAILED_PRECONDITION);
    o.apply((s) => s.userGrantRole('root', 'root'));
    const rev = o.store.revision();
    o.apply((s) => s.authEnable());
    // etcd 3.5 does not move the revision on enable.
    assert.deepEqual(o.store.authStatus(), { enabled: true, authRevision: rev });
    assert.deepEqual(o.events, ['enable']);
    // Twice: nothing happens.
    o.apply((s) => s.authEnable());
    assert.deepEqual(o.events, ['enable']);
  });

  test('disable bumps the revision and tells the listener; disabling twice is a no-op', () => {
    const o = open();
    withRoot(o);
    const rev = o.store.revision();
    o.apply((s) => s.authDisable());
    assert.deepEqual(o.store.authStatus(), { enabled: false, authRevision: rev + 1 });
    o.apply((s) => s.authDisable());
    assert.equal(o.store.revision(), rev + 1);
    assert.deepEqual(o.events, ['enable', 'disable']);
  });

  test('state survives a reopen, and an enabled store enables its listener at start', async () => {
    const o = open();
    withRoot(o);
    o.apply((s) => {
      s.roleAdd('r');
      s.roleGrantPermission('r', perm(PermType.READ, 'a', 'b'));
      s.userAdd({ name: 'u', hashedPassword: hashed('pw') });
      s.userGrantRole('u', 'r');
    });
    const rev = o.store.revision();
    await o.backend.close();
    backends.splice(backends.indexOf(o.backend), 1);
    const again = open(o.dir);
    assert.deepEqual(again.store.authStatus(), { enabled: true, authRevision: rev });
    assert.deepEqual(again.events, ['enable']);
    assert.deepEqual(again.store.userList(), ['root', 'u']);
    assert.deepEqual(again.store.userGet('u'), ['r']);
    assert.deepEqual(again.store.roleGet('r'), [perm(PermType.READ, 'a', 'b')]);
    again.store.isRangePermitted({ username: 'u', revision: rev }, b('a'), Buffer.alloc(0));
  });
});

describe('users', () => {
  test('add: empty name, existing name; the revision moves once per change', () => {
    const o = open();
    throwsEtcd(() => o.apply((s) => s.userAdd({ name: '', hashedPassword: hashed('x') })), 'etcdserver: user name is empty', Code.INVALID_ARGUMENT);
    o.apply((s) => s.userAdd({ name: 'u', hashedPassword: hashed('x') }));
    assert.equal(o.store.revision(), 2);
    throwsEtcd(() => o.apply((s) => s.userAdd({ name: 'u', hashedPassword: hashed('y') })), 'etcdserver: user name already exists', Code.FAILED_PRECONDITION);
    assert.equal(o.store.revision(), 2);
  });

  test('add: a hashedPassword that is not base64 is etcd\'s no-password error (codes.Unknown)', () => {
    const o = open();
    throwsEtcd(() => o.apply((s) => s.userAdd({ name: 'u', hashedPassword: 'not base64!' })), 'auth: authentication failed, password was given for no password user', Code.UNKNOWN);
    assert.deepEqual(o.store.userList(), []);
  });

  test('add: a plain password is refused at apply (it must be hashed before proposing)', () => {
    const o = open();
    assert.throws(() => o.apply((s) => s.userAdd({ name: 'u', password: 'plain' })), /hashed before it is proposed/);
    assert.deepEqual(o.store.userList(), []);
  });

  test('the stored record is the bcrypt text, options always written', () => {
    const o = open();
    const hash = bcryptHash('pw', 4);
    o.apply((s) => {
      s.userAdd({ name: 'u', hashedPassword: Buffer.from(hash).toString('base64') });
      s.userAdd({ name: 'np', password: 'ignored', options: { no_password: true } });
    });
    const view = o.backend.readView();
    try {
      const rows = new Map(o.store.exportBuckets(view).authUsers.map(([k, v]) => [k.toString(), v]));
      const u = unmarshalUser(rows.get('u') ?? Buffer.alloc(0));
      assert.equal(u.password.toString(), hash);
      assert.deepEqual(u.options, { noPassword: false });
      // gogoproto: name, password, then an empty options message (tag 0x22, length 0).
      assert.deepEqual(rows.get('u'), Buffer.concat([b('\x0a\x01u\x12'), Buffer.from([hash.length]), b(hash), Buffer.from([0x22, 0x00])]));
      assert.deepEqual(rows.get('np'), Buffer.from([0x0a, 0x02, 0x6e, 0x70, 0x22, 0x02, 0x08, 0x01]));
    } finally {
      view.done();
    }
  });

  test('delete: not found; root while enabled is invalid auth management; tokens invalidated', () => {
    const o = open();
    throwsEtcd(() => o.apply((s) => s.userDelete('nobody')), 'etcdserver: user name not found', Code.FAILED_PRECONDITION);
    withRoot(o);
    throwsEtcd(() => o.apply((s) => s.userDelete('root')), 'etcdserver: invalid auth management', Code.INVALID_ARGUMENT);
    o.apply((s) => s.userAdd({ name: 'u', hashedPassword: hashed('x') }));
    const rev = o.store.revision();
    o.apply((s) => s.userDelete('u'));
    assert.equal(o.store.revision(), rev + 1);
    assert.deepEqual(o.store.userList(), ['root']);
    assert.ok(o.events.includes('invalidate:u'));
    o.apply((s) => s.authDisable());
    o.apply((s) => s.userDelete('root'));
    assert.deepEqual(o.store.userList(), []);
  });

  test('change password: not found; new hash stored; tokens invalidated; no-password user keeps none', async () => {
    const o = open();
    throwsEtcd(() => o.apply((s) => s.userChangePassword({ name: 'nobody', hashedPassword: hashed('x') })), 'etcdserver: user name not found', Code.FAILED_PRECONDITION);
    withRoot(o);
    const hasher = new PasswordHasher({ cost: 4, inline: true });
    o.apply((s) => s.userAdd({ name: 'u', hashedPassword: hashed('old') }));
    await o.store.checkPassword('u', 'old', hasher);
    const rev = o.store.revision();
    o.apply((s) => s.userChangePassword({ name: 'u', hashedPassword: hashed('new') }));
    assert.equal(o.store.revision(), rev + 1);
    assert.ok(o.events.includes('invalidate:u'));
    await assert.rejects(o.store.checkPassword('u', 'old', hasher), { message: 'etcdserver: authentication failed, invalid user ID or password' });
    assert.equal(await o.store.checkPassword('u', 'new', hasher), rev + 1);
    o.apply((s) => s.userAdd({ name: 'np', options: { no_password: true } }));
    o.apply((s) => s.userChangePassword({ name: 'np', hashedPassword: hashed('p') }));
    await assert.rejects(o.store.checkPassword('np', 'p', hasher), { message: 'auth: authentication failed, password was given for no password user' });
  });

  test('grant role: user not found, role not found; root needs no role; twice is a no-op; sorted', () => {
    const o = open();
    o.apply((s) => s.roleAdd('r'));
    throwsEtcd(() => o.apply((s) => s.userGrantRole('nobody', 'r')), 'etcdserver: user name not found', Code.FAILED_PRECONDITION);
    o.apply((s) => s.userAdd({ name: 'u', hashedPassword: hashed('x') }));
    throwsEtcd(() => o.apply((s) => s.userGrantRole('u', 'missing')), 'etcdserver: role name not found', Code.FAILED_PRECONDITION);
    o.apply((s) => {
      s.roleAdd('b');
      s.roleAdd('a');
      s.userGrantRole('u', 'r');
      s.userGrantRole('u', 'root');
      s.userGrantRole('u', 'b');
      s.userGrantRole('u', 'a');
    });
    const rev = o.store.revision();
    o.apply((s) => s.userGrantRole('u', 'a'));
    assert.equal(o.store.revision(), rev);
    assert.deepEqual(o.store.userGet('u'), ['a', 'b', 'r', 'root']);
  });

  test('revoke role: not found, not granted, root/root while enabled', () => {
    const o = open();
    throwsEtcd(() => o.apply((s) => s.userRevokeRole('nobody', 'r')), 'etcdserver: user name not found', Code.FAILED_PRECONDITION);
    o.apply((s) => {
      s.roleAdd('r');
      s.userAdd({ name: 'u', hashedPassword: hashed('x') });
    });
    throwsEtcd(() => o.apply((s) => s.userRevokeRole('u', 'r')), 'etcdserver: role is not granted to the user', Code.FAILED_PRECONDITION);
    o.apply((s) => s.userGrantRole('u', 'r'));
    o.apply((s) => s.userRevokeRole('u', 'r'));
    assert.deepEqual(o.store.userGet('u'), []);
    withRoot(o);
    throwsEtcd(() => o.apply((s) => s.userRevokeRole('root', 'root')), 'etcdserver: invalid auth management', Code.INVALID_ARGUMENT);
  });

  test('get and list: not found; names in byte order', () => {
    const o = open();
    throwsEtcd(() => o.store.userGet('nobody'), 'etcdserver: user name not found', Code.FAILED_PRECONDITION);
    o.apply((s) => {
      for (const n of ['b', 'é', 'a', 'Z', '\u{1F600}', '\uFFFD']) s.userAdd({ name: n, hashedPassword: hashed('x') });
    });
    // UTF-8 byte order (Go's, bbolt's), not JavaScript's UTF-16 order.
    assert.deepEqual(o.store.userList(), ['Z', 'a', 'b', 'é', '\uFFFD', '\u{1F600}']);
  });
});

describe('roles and permissions', () => {
  test('add: empty, exists; get: not found; list sorted', () => {
    const o = open();
    throwsEtcd(() => o.apply((s) => s.roleAdd('')), 'etcdserver: role name is empty', Code.INVALID_ARGUMENT);
    o.apply((s) => {
      s.roleAdd('y');
      s.roleAdd('x');
    });
    assert.equal(o.store.revision(), 3);
    throwsEtcd(() => o.apply((s) => s.roleAdd('x')), 'etcdserver: role name already exists', Code.FAILED_PRECONDITION);
    throwsEtcd(() => o.store.roleGet('z'), 'etcdserver: role name not found', Code.FAILED_PRECONDITION);
    assert.deepEqual(o.store.roleList(), ['x', 'y']);
    assert.deepEqual(o.store.roleGet('x'), []);
  });

  test('grant: no permission, invalid ranges, role not found', () => {
    const o = open();
    throwsEtcd(() => o.apply((s) => s.roleGrantPermission('r', undefined)), 'etcdserver: permission not given', Code.INVALID_ARGUMENT);
    for (const [key, end] of [
      ['', ''],
      ['b', 'a'],
      ['b', 'b'],
    ]) {
      throwsEtcd(() => o.apply((s) => s.roleGrantPermission('r', perm(PermType.READ, key, end))), 'etcdserver: invalid auth management', Code.INVALID_ARGUMENT);
    }
    throwsEtcd(() => o.apply((s) => s.roleGrantPermission('r', perm(PermType.READ, 'a'))), 'etcdserver: role name not found', Code.FAILED_PRECONDITION);
    o.apply((s) => s.roleAdd('r'));
    // Valid: one key, a range, from-key ("\0").
    o.apply((s) => {
      s.roleGrantPermission('r', perm(PermType.READ, 'k'));
      s.roleGrantPermission('r', perm(PermType.READ, 'a', 'b'));
      s.roleGrantPermission('r', perm(PermType.READ, 'z', '\0'));
    });
    assert.equal(o.store.roleGet('r').length, 3);
  });

  test('grant merges as etcd: same key and range_end changes the type; others are added sorted by key', () => {
    const o = open();
    o.apply((s) => {
      s.roleAdd('r');
      s.roleGrantPermission('r', perm(PermType.READ, 'm', 'n'));
      s.roleGrantPermission('r', perm(PermType.WRITE, 'c'));
      s.roleGrantPermission('r', perm(PermType.READ, 'x', '\0'));
    });
    assert.deepEqual(o.store.roleGet('r'), [perm(PermType.WRITE, 'c'), perm(PermType.READ, 'm', 'n'), perm(PermType.READ, 'x', '\0')]);
    const rev = o.store.revision();
    o.apply((s) => s.roleGrantPermission('r', perm(PermType.READWRITE, 'm', 'n')));
    assert.equal(o.store.revision(), rev + 1);
    assert.deepEqual(o.store.roleGet('r'), [perm(PermType.WRITE, 'c'), perm(PermType.READWRITE, 'm', 'n'), perm(PermType.READ, 'x', '\0')]);
    // Same key, other range_end: a second permission on that key.
    o.apply((s) => s.roleGrantPermission('r', perm(PermType.READ, 'm')));
    const keys = o.store.roleGet('r').map((p) => `${p.key.toString()}-${p.range_end.toString()}`);
    assert.deepEqual(keys.slice(0, 1), ['c-']);
    assert.deepEqual([...keys.slice(1, 3)].sort(), ['m-', 'm-n']);
    assert.equal(keys[3], 'x-\0');
  });

  test('revoke: role not found, not granted; removes exactly key+range_end', () => {
    const o = open();
    throwsEtcd(() => o.apply((s) => s.roleRevokePermission('r', b('a'), Buffer.alloc(0))), 'etcdserver: role name not found', Code.FAILED_PRECONDITION);
    o.apply((s) => {
      s.roleAdd('r');
      s.roleGrantPermission('r', perm(PermType.READ, 'a', 'b'));
      s.roleGrantPermission('r', perm(PermType.READ, 'a'));
    });
    throwsEtcd(() => o.apply((s) => s.roleRevokePermission('r', b('a'), b('c'))), 'etcdserver: permission is not granted to the role', Code.FAILED_PRECONDITION);
    o.apply((s) => s.roleRevokePermission('r', b('a'), b('b')));
    assert.deepEqual(o.store.roleGet('r'), [perm(PermType.READ, 'a')]);
  });

  test('delete: not found; root role while enabled refused; taken from every user', () => {
    const o = open();
    throwsEtcd(() => o.apply((s) => s.roleDelete('r')), 'etcdserver: role name not found', Code.FAILED_PRECONDITION);
    o.apply((s) => {
      s.roleAdd('root');
      s.roleAdd('r');
      s.roleAdd('q');
      s.userAdd({ name: 'u1', hashedPassword: hashed('x') });
      s.userAdd({ name: 'u2', hashedPassword: hashed('x') });
      s.userGrantRole('u1', 'r');
      s.userGrantRole('u1', 'q');
      s.userGrantRole('u2', 'r');
    });
    withRoot(o);
    throwsEtcd(() => o.apply((s) => s.roleDelete('root')), 'etcdserver: invalid auth management', Code.INVALID_ARGUMENT);
    const rev = o.store.revision();
    o.apply((s) => s.roleDelete('r'));
    assert.equal(o.store.revision(), rev + 1);
    assert.deepEqual(o.store.roleList(), ['q', 'root']);
    assert.deepEqual(o.store.userGet('u1'), ['q']);
    assert.deepEqual(o.store.userGet('u2'), []);
  });
});

describe('authenticate and checkPassword', () => {
  test('not enabled; unknown user; no-password user; wrong and right password', async () => {
    const o = open();
    const hasher = new PasswordHasher({ cost: 4, inline: true });
    await assert.rejects(o.store.checkPassword('root', 'rootpw', hasher), { message: 'etcdserver: authentication is not enabled', code: Code.FAILED_PRECONDITION });
    throwsEtcd(() => o.store.authenticate('root'), 'etcdserver: authentication is not enabled', Code.FAILED_PRECONDITION);
    withRoot(o);
    o.apply((s) => s.userAdd({ name: 'np', options: { no_password: true } }));
    await assert.rejects(o.store.checkPassword('nobody', 'x', hasher), { message: 'etcdserver: authentication failed, invalid user ID or password', code: Code.INVALID_ARGUMENT });
    await assert.rejects(o.store.checkPassword('root', 'wrong', hasher), { message: 'etcdserver: authentication failed, invalid user ID or password' });
    await assert.rejects(o.store.checkPassword('np', '', hasher), { message: 'auth: authentication failed, password was given for no password user', code: Code.UNKNOWN });
    assert.equal(await o.store.checkPassword('root', 'rootpw', hasher), o.store.revision());
    throwsEtcd(() => o.store.authenticate('nobody'), 'etcdserver: authentication failed, invalid user ID or password', Code.INVALID_ARGUMENT);
    throwsEtcd(() => o.store.authenticate('np'), 'etcdserver: authentication failed, invalid user ID or password', Code.INVALID_ARGUMENT);
    assert.deepEqual(o.store.authenticate('root'), { username: 'root', revision: o.store.revision() });
  });
});

describe('password hashing', () => {
  test('hash on a worker thread: "$2a$" text at the given cost, compare both ways', async () => {
    const hasher = new PasswordHasher({ cost: 5 });
    hashers.push(hasher);
    const hash = await hasher.hash('s3cret');
    assert.match(hash, /^\$2a\$05\$[./A-Za-z0-9]{53}$/);
    assert.equal(await hasher.compare('s3cret', Buffer.from(hash)), true);
    assert.equal(await hasher.compare('s3cret!', hash), false);
    assert.equal(await hasher.compare('x', Buffer.alloc(0)), false);
    const field = await hasher.hashForRequest('s3cret');
    assert.match(Buffer.from(field, 'base64').toString(), /^\$2a\$05\$/);
  });

  test('a hash etcd (Go x/crypto/bcrypt) wrote verifies', async () => {
    // Written by etcd 3.4.23 (`etcdctl user add u:password` with --bcrypt-cost 4), read from its snapshot.
    const goHash = '$2a$04$3PBuIBiFhtoeDa2slcyjhe6ud/jWmz06rhayiki7dwbNszdIT/zLu';
    const hasher = new PasswordHasher({ cost: 4, inline: true });
    assert.equal(await hasher.compare('password', goHash), true);
    assert.equal(await hasher.compare('Password', goHash), false);
  });

  test('more than 72 bytes refused as Go refuses it; 72 accepted', async () => {
    const hasher = new PasswordHasher({ cost: 4, inline: true });
    await assert.rejects(hasher.hash('x'.repeat(73)), { message: 'bcrypt: password length exceeds 72 bytes', code: Code.UNKNOWN });
    await assert.rejects(hasher.hash('é'.repeat(37)), { message: 'bcrypt: password length exceeds 72 bytes' });
    assert.match(await hasher.hash('x'.repeat(72)), /^\$2a\$04\$/);
  });

  test('--bcrypt-cost outside [4, 31] falls back to 10, as etcd', () => {
    assert.deepEqual(normalizeBcryptCost(3), { cost: 10, replaced: true });
    assert.deepEqual(normalizeBcryptCost(32), { cost: 10, replaced: true });
    assert.deepEqual(normalizeBcryptCost(4), { cost: 4, replaced: false });
    assert.deepEqual(normalizeBcryptCost(31), { cost: 31, replaced: false });
    assert.equal(new PasswordHasher({ cost: 0, inline: true }).cost, 10);
  });

  test('the queue is bounded: past it, "too many requests"', async () => {
    const hasher = new PasswordHasher({ cost: 8, workers: 1, maxQueued: 1 });
    hashers.push(hasher);
    const first = hasher.hash('a');
    const second = hasher.hash('b');
    await assert.rejects(hasher.hash('c'), { message: 'etcdserver: too many requests', code: Code.RESOURCE_EXHAUSTED });
    assert.match(await first, /^\$2a\$08\$/);
    assert.match(await second, /^\$2a\$08\$/);
  });
});

describe('snapshots: etcd buckets', () => {
  test('export: auth bucket keys and values, users and roles as authpb bytes in key order', () => {
    const o = open();
    withRoot(o);
    o.apply((s) => {
      s.roleAdd('r');
      s.roleGrantPermission('r', perm(PermType.READWRITE, 'foo', 'fop'));
      s.roleGrantPermission('r', perm(PermType.READ, 'a'));
    });
    const view = o.backend.readView();
    try {
      const bk = o.store.exportBuckets(view);
      assert.deepEqual(bk.auth, [
        [b('authEnabled'), Buffer.from([1])],
        [b('authRevision'), Buffer.from([0, 0, 0, 0, 0, 0, 0, o.store.revision()])],
      ]);
      assert.deepEqual(
        bk.authUsers.map(([k]) => k.toString()),
        ['root'],
      );
      assert.deepEqual(bk.authRoles, [[b('r'), marshalRole({ name: 'r', keyPermission: [perm(PermType.READ, 'a'), perm(PermType.READWRITE, 'foo', 'fop')] })]]);
      // authpb.Role bytes by hand: name "r"; {key "a"}; {permType 2, key "foo", range_end "fop"}.
      assert.deepEqual(bk.authRoles[0][1], Buffer.from('0a01721203120161120c08021203666f6f1a03666f70', 'hex'));
    } finally {
      view.done();
    }
  });

  test('a new store exports only authRevision = 1 (as a fresh etcd)', () => {
    const o = open();
    const view = o.backend.readView();
    try {
      assert.deepEqual(o.store.exportBuckets(view), { auth: [[b('authRevision'), Buffer.from([0, 0, 0, 0, 0, 0, 0, 1])]], authUsers: [], authRoles: [] });
    } finally {
      view.done();
    }
  });

  test('restore from etcd rows replaces everything; JSON round trip equals the buckets', async () => {
    const hasher = new PasswordHasher({ cost: 4, inline: true });
    const hash = bcryptHash('pw', 4);
    const rows = {
      auth: [
        [b('authEnabled'), Buffer.from([1])],
        [b('authRevision'), Buffer.from([0, 0, 0, 0, 0, 0, 0, 42])],
      ] as [Buffer, Buffer][],
      // A user as etcd before 3.4 wrote it: no options field.
      authUsers: [
        [b('root'), marshalUser({ name: 'root', password: b(hash), roles: ['root'] })],
        [b('u'), marshalUser({ name: 'u', password: b(hash), roles: ['r'], options: { noPassword: false } })],
      ] as [Buffer, Buffer][],
      authRoles: [[b('r'), marshalRole({ name: 'r', keyPermission: [perm(PermType.READ, 'k', 'l')] })]] as [Buffer, Buffer][],
    };
    const o = open();
    o.apply((s) => {
      s.userAdd({ name: 'old', hashedPassword: hashed('x') });
      s.roleAdd('oldrole');
    });
    o.apply((s) => s.restoreBuckets(rows));
    assert.deepEqual(o.store.authStatus(), { enabled: true, authRevision: 42 });
    assert.deepEqual(o.events, ['enable']);
    assert.deepEqual(o.store.userList(), ['root', 'u']);
    assert.deepEqual(o.store.roleList(), ['r']);
    assert.equal(await o.store.checkPassword('u', 'pw', hasher), 42);
    o.store.isRangePermitted({ username: 'u', revision: 42 }, b('k'), Buffer.alloc(0));
    const view = o.backend.readView();
    let json: string;
    try {
      assert.deepEqual(o.store.exportBuckets(view), rows);
      json = o.store.exportJson(view);
    } finally {
      view.done();
    }
    const other = open();
    other.apply((s) => s.restoreJson(json));
    const v2 = other.backend.readView();
    try {
      assert.deepEqual(other.store.exportBuckets(v2), rows);
    } finally {
      v2.done();
    }
  });

  test('through an etcd snapshot file: bbolt buckets written from one store restore another', () => {
    const o = open();
    withRoot(o);
    o.apply((s) => {
      s.roleAdd('r');
      s.roleGrantPermission('r', perm(PermType.READ, 'k', '\0'));
      s.userAdd({ name: 'u', hashedPassword: hashed('pw') });
      s.userGrantRole('u', 'r');
    });
    const view = o.backend.readView();
    let exported;
    try {
      exported = o.store.exportBuckets(view);
    } finally {
      view.done();
    }
    const file = join(o.dir, 'snap.db');
    const e = exported;
    writeBboltFile(file, [
      { name: b('auth'), entries: () => e.auth },
      { name: b('authRoles'), entries: () => e.authRoles },
      { name: b('authUsers'), entries: () => e.authUsers },
    ]);
    const reader = BboltReader.open(file);
    let read;
    try {
      read = authBucketsFrom((name) => reader.bucket(name)?.entries());
    } finally {
      reader.close();
    }
    assert.deepEqual(read, exported);
    const other = open();
    other.apply((s) => s.restoreBuckets(read));
    assert.deepEqual(other.store.authStatus(), o.store.authStatus());
    assert.deepEqual(other.store.userGet('u'), ['r']);
    assert.deepEqual(other.store.roleGet('r'), [perm(PermType.READ, 'k', '\0')]);
    other.store.isRangePermitted({ username: 'u', revision: other.store.revision() }, b('kz'), b('\0'));
    assert.deepEqual(authBucketsFrom(() => undefined), { auth: [], authUsers: [], authRoles: [] });
  });

  test('restore refuses rows that are not authpb records, changing nothing', () => {
    const o = open();
    o.apply((s) => s.userAdd({ name: 'keep', hashedPassword: hashed('x') }));
    assert.throws(() => o.apply((s) => s.restoreBuckets({ auth: [], authUsers: [[b('x'), Buffer.from([0x0a, 0x05, 0x61])]], authRoles: [] })), /truncated/);
    assert.deepEqual(o.store.userList(), ['keep']);
  });

  test('restore of a disabled state tells an enabled listener to disable; authEnabled absent stays absent', () => {
    const o = open();
    withRoot(o);
    o.apply((s) => s.restoreBuckets({ auth: [[b('authRevision'), Buffer.from([0, 0, 0, 0, 0, 0, 0, 7])]], authUsers: [], authRoles: [] }));
    assert.deepEqual(o.store.authStatus(), { enabled: false, authRevision: 7 });
    assert.deepEqual(o.events, ['enable', 'disable']);
    const view = o.backend.readView();
    try {
      assert.deepEqual(o.store.exportBuckets(view).auth, [[b('authRevision'), Buffer.from([0, 0, 0, 0, 0, 0, 0, 7])]]);
    } finally {
      view.done();
    }
  });

  test('rows etcd 3.4.23 wrote (its snapshot\'s authUsers/authRoles) decode and re-marshal byte for byte', () => {
    const users = [
      '0a026e7022020801',
      '0a0175123c24326124303424335042754942694668746f65446132736c63796a68653675642f6a576d7a303672686179696b69376477624e737a6449542f7a4c751a01722200',
    ].map((h) => Buffer.from(h, 'hex'));
    const np = unmarshalUser(users[0]);
    assert.deepEqual(np, { name: 'np', password: Buffer.alloc(0), roles: [], options: { noPassword: true } });
    const u = unmarshalUser(users[1]);
    assert.equal(u.password.toString(), '$2a$04$3PBuIBiFhtoeDa2slcyjhe6ud/jWmz06rhayiki7dwbNszdIT/zLu');
    assert.deepEqual(u.roles, ['r']);
    for (const row of users) assert.deepEqual(marshalUser(unmarshalUser(row)), row);
    // role r: read a; readwrite foo --prefix; write z --from-key.
    const role = Buffer.from('0a01721203120161120c08021203666f6f1a03666f701208080112017a1a0100', 'hex');
    assert.deepEqual(unmarshalRole(role), { name: 'r', keyPermission: [perm(PermType.READ, 'a'), perm(PermType.READWRITE, 'foo', 'fop'), perm(PermType.WRITE, 'z', '\0')] });
    assert.deepEqual(marshalRole(unmarshalRole(role)), role);
  });

  test('authpb round trips, unknown fields skipped', () => {
    const u = { name: 'n', password: b('$2a$...'), roles: ['a', 'b', ''], options: { noPassword: true } };
    assert.deepEqual(unmarshalUser(marshalUser(u)), u);
    const withUnknown = Buffer.concat([marshalUser(u), Buffer.from([0x28, 0x05, 0x3a, 0x01, 0x00])]);
    assert.deepEqual(unmarshalUser(withUnknown), u);
    const r = { name: 'r', keyPermission: [perm(PermType.WRITE, 'a', 'b'), perm(PermType.READ, '\0', '\0')] };
    assert.deepEqual(unmarshalRole(marshalRole(r)), r);
  });
});
