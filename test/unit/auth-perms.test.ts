// Permission checks (src/auth/range-perms.ts, interval-tree.ts, AuthStore.is*Permitted): etcd's
// interval coverage for single keys, prefixes, from-key ranges and overlapping grants, answers
// recorded from etcd 3.4.23 for ranges whose end sorts below their key, and the store's order
// of checks (disabled, no user, old revision, unknown user, root, ranges, admin).
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backend } from '../../src/backend/backend';
import { Code, EtcdError } from '../../src/errors';
import { AuthStore, type AuthInfo } from '../../src/auth/auth-store';
import { PermType, type Permission } from '../../src/auth/auth-record';
import { isRangeOpPermitted, isValidPermissionRange, unifyPerms } from '../../src/auth/range-perms';
import { compareInterval, IntervalTree, type Interval } from '../../src/auth/interval-tree';
import { bcryptHash } from '../../src/auth/password';

const b = (s: string): Buffer => Buffer.from(s);
const NONE = Buffer.alloc(0);
const perm = (permType: PermType, key: string, rangeEnd = ''): Permission => ({ permType, key: b(key), range_end: b(rangeEnd) });

/** READ check of [key, end) ('' = the one key) against these grants. */
function canRead(perms: Permission[], key: string, end = ''): boolean {
  return isRangeOpPermitted(unifyPerms(perms), b(key), b(end), PermType.READ);
}
function canWrite(perms: Permission[], key: string, end = ''): boolean {
  return isRangeOpPermitted(unifyPerms(perms), b(key), b(end), PermType.WRITE);
}

describe('permission ranges', () => {
  test('valid permission ranges (etcd isValidPermissionRange)', () => {
    assert.equal(isValidPermissionRange(b('a'), NONE), true);
    assert.equal(isValidPermissionRange(b('a'), b('b')), true);
    assert.equal(isValidPermissionRange(b('a'), b('\0')), true);
    assert.equal(isValidPermissionRange(b('\0'), b('\0')), true);
    assert.equal(isValidPermissionRange(NONE, NONE), false);
    assert.equal(isValidPermissionRange(NONE, b('b')), false);
    assert.equal(isValidPermissionRange(b('b'), b('b')), false);
    assert.equal(isValidPermissionRange(b('b'), b('a')), false);
  });

  test('a single-key grant: that key only, and no range, not even [key, key+1)', () => {
    const p = [perm(PermType.READ, 'foo')];
    assert.equal(canRead(p, 'foo'), true);
    assert.equal(canRead(p, 'fo'), false);
    assert.equal(canRead(p, 'foo\0'), false);
    assert.equal(canRead(p, 'foo', 'foo\0'), true);
    assert.equal(canRead(p, 'foo', 'fop'), false);
    assert.equal(canRead(p, 'foo', '\0'), false);
  });

  test('a prefix grant [foo, fop): keys and sub-ranges inside; the end key and beyond outside', () => {
    const p = [perm(PermType.READ, 'foo', 'fop')];
    assert.equal(canRead(p, 'foo'), true);
    assert.equal(canRead(p, 'foo/bar'), true);
    assert.equal(canRead(p, 'foo', 'fop'), true);
    assert.equal(canRead(p, 'foo1', 'foo2'), true);
    assert.equal(canRead(p, 'fop'), false, 'the key at the interval end is outside');
    assert.equal(canRead(p, 'foo', 'fop\0'), false);
    assert.equal(canRead(p, 'fo', 'fop'), false);
    assert.equal(canRead(p, 'fo', 'fp'), false, 'a wider prefix');
    assert.equal(canRead(p, 'foo', '\0'), false, 'from-key is unbounded');
  });

  test('a from-key grant [x, +inf): any key at or after x, any range or from-key starting there', () => {
    const p = [perm(PermType.READ, 'x', '\0')];
    assert.equal(canRead(p, 'x'), true);
    assert.equal(canRead(p, '\xff\xff'), true);
    assert.equal(canRead(p, 'w'), false);
    assert.equal(canRead(p, 'x', '\0'), true);
    assert.equal(canRead(p, 'y', '\0'), true);
    assert.equal(canRead(p, 'w', '\0'), false);
    assert.equal(canRead(p, 'y', 'z'), true);
    // All keys: [\0, +inf).
    assert.equal(canRead([perm(PermType.READ, '\0', '\0')], '\0', '\0'), true);
    assert.equal(canRead([perm(PermType.READ, '\0', '\0')], 'anything'), true);
  });

  test('overlapping and touching grants cover their union; a gap does not', () => {
    const p = [perm(PermType.READ, 'b', 'd'), perm(PermType.READ, 'd', 'f'), perm(PermType.READ, 'h', 'j'), perm(PermType.READ, 'i', 'l')];
    assert.equal(canRead(p, 'b', 'f'), true, 'touching at d');
    assert.equal(canRead(p, 'c', 'e'), true);
    assert.equal(canRead(p, 'h', 'l'), true, 'overlapping');
    assert.equal(canRead(p, 'b', 'g'), false, 'past f');
    assert.equal(canRead(p, 'a', 'c'), false, 'before b');
    assert.equal(canRead(p, 'e', 'i'), false, 'the gap [f, h)');
    assert.equal(canRead(p, 'f'), false);
    assert.equal(canRead(p, 'l'), false);
    // A single-key grant does not fill a gap of more than that key.
    assert.equal(canRead([...p, perm(PermType.READ, 'f')], 'e', 'g'), false);
    assert.equal(canRead([...p, perm(PermType.READ, 'f', 'h')], 'b', 'l'), true);
  });

  test('READWRITE grants both; READ grants no write, WRITE no read', () => {
    const p = [perm(PermType.READ, 'r'), perm(PermType.WRITE, 'w'), perm(PermType.READWRITE, 'rw', 'rx')];
    assert.equal(canRead(p, 'r'), true);
    assert.equal(canWrite(p, 'r'), false);
    assert.equal(canWrite(p, 'w'), true);
    assert.equal(canRead(p, 'w'), false);
    assert.equal(canRead(p, 'rw1'), true);
    assert.equal(canWrite(p, 'rw', 'rx'), true);
    assert.equal(canRead([perm(7 as PermType, 'a')], 'a'), false, 'an unknown type grants nothing');
  });

  test('ranges whose end sorts below their key answer as etcd 3.4.23 answered (its tree decides)', () => {
    // Role r: read a; readwrite foo --prefix; write z --from-key. Role r2: read [b,d) [d,f) [h,j)
    // [i,l) k p [x,+inf). etcdctl get KEY END as that user, against etcd 3.4.23.
    const perms = [
      perm(PermType.READ, 'a'),
      perm(PermType.READWRITE, 'foo', 'fop'),
      perm(PermType.WRITE, 'z', '\0'),
      perm(PermType.READ, 'b', 'd'),
      perm(PermType.READ, 'd', 'f'),
      perm(PermType.READ, 'h', 'j'),
      perm(PermType.READ, 'i', 'l'),
      perm(PermType.READ, 'k'),
      perm(PermType.READ, 'p'),
      perm(PermType.READ, 'x', '\0'),
    ];
    const etcd: [string, string, boolean][] = [
      ['e', 'd', true],
      ['c', 'b', true],
      ['j', 'i', true],
      ['q', 'p', false],
      ['zz', 'a', false],
      ['x', 'b', false],
      // And well-formed ones from the same run.
      ['b', 'f', true],
      ['h', 'm', false],
      ['foo1', 'foo2', true],
      ['a', 'b', false],
    ];
    for (const [k, e, allowed] of etcd) assert.equal(canRead(perms, k, e), allowed, `get ${k} ${e}`);
  });
});

describe('interval tree', () => {
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const key = (): Buffer => b('abcdefgh'[rnd(8)] + (rnd(2) === 0 ? 'abcdefgh'[rnd(8)] : ''));
  const randomInterval = (): Interval => {
    const k = key();
    const kind = rnd(3);
    if (kind === 0) return { begin: k, end: Buffer.concat([k, Buffer.from([0])]) };
    if (kind === 1) return { begin: k, end: NONE };
    return { begin: k, end: Buffer.concat([k, b('z')]) };
  };

  test('for well-formed queries it answers as the plain union of the intervals', () => {
    for (let round = 0; round < 200; round++) {
      const tree = new IntervalTree();
      const list: Interval[] = [];
      const n = 1 + rnd(20);
      for (let i = 0; i < n; i++) {
        const ivl = randomInterval();
        tree.insert(ivl);
        list.push(ivl);
      }
      assert.equal(tree.size, n);
      for (let q = 0; q < 20; q++) {
        const k = key();
        const query: Interval = rnd(2) === 0 ? { begin: k, end: Buffer.concat([k, Buffer.from([0])]) } : { begin: k, end: rnd(3) === 0 ? NONE : Buffer.concat([k, b('m')]) };
        const overlapping = list.filter((x) => compareInterval(query, x) === 0);
        assert.equal(tree.intersects(query), overlapping.length > 0);
        const visited: Interval[] = [];
        tree.visit(query, (x) => visited.push(x));
        assert.equal(visited.length, overlapping.length, 'every overlapping interval is visited');
        for (let i = 1; i < visited.length; i++) assert.ok(Buffer.compare(visited[i - 1].begin, visited[i].begin) <= 0, 'in begin order');
        // Coverage by brute force: walk the sorted overlapping intervals.
        const sorted = [...overlapping].sort((x, y) => Buffer.compare(x.begin, y.begin));
        let covered = sorted.length > 0 && Buffer.compare(sorted[0].begin, query.begin) <= 0;
        let reach = sorted[0]?.end ?? NONE;
        for (const x of sorted.slice(1)) {
          if (reach.length !== 0 && Buffer.compare(reach, x.begin) < 0) covered = false;
          if (reach.length !== 0 && (x.end.length === 0 || Buffer.compare(x.end, reach) > 0)) reach = x.end;
        }
        covered = covered && (reach.length === 0 || (query.end.length !== 0 && Buffer.compare(reach, query.end) >= 0));
        assert.equal(tree.contains(query), covered);
      }
    }
  });

  test('an empty tree holds and covers nothing', () => {
    const t = new IntervalTree();
    assert.equal(t.intersects({ begin: b('a'), end: b('a\0') }), false);
    assert.equal(t.contains({ begin: b('a'), end: b('b') }), false);
  });
});

describe('the store checks', () => {
  const dirs: string[] = [];
  const backends: Backend[] = [];
  afterEach(async () => {
    for (const be of backends.splice(0)) await be.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function open(): { store: AuthStore; apply: (fn: (s: AuthStore) => void) => void } {
    const dir = mkdtempSync(join(tmpdir(), 'auth-perms-test-'));
    dirs.push(dir);
    const backend = new Backend({ dir, mapSizeBytes: 64 * 1024 * 1024 });
    backends.push(backend);
    const store = new AuthStore(backend);
    return { store, apply: (fn) => backend.transaction(() => fn(store)) };
  }

  const hashed = Buffer.from(bcryptHash('pw', 4)).toString('base64');

  function denied(fn: () => void, message: string, code: Code): void {
    assert.throws(fn, (err: unknown) => err instanceof EtcdError && err.message === message && err.code === code);
  }

  /** Root (root role), u with role r = read [a, c) + write k, enabled. */
  function setUp(): { store: AuthStore; apply: (fn: (s: AuthStore) => void) => void; u: () => AuthInfo; root: () => AuthInfo } {
    const o = open();
    o.apply((s) => {
      s.userAdd({ name: 'root', hashedPassword: hashed });
      s.userGrantRole('root', 'root');
      s.roleAdd('r');
      s.roleGrantPermission('r', perm(PermType.READ, 'a', 'c'));
      s.roleGrantPermission('r', perm(PermType.WRITE, 'k'));
      s.userAdd({ name: 'u', hashedPassword: hashed });
      s.userGrantRole('u', 'r');
      s.authEnable();
    });
    return { ...o, u: () => ({ username: 'u', revision: o.store.revision() }), root: () => ({ username: 'root', revision: o.store.revision() }) };
  }

  test('auth disabled: everything allowed, even without a user', () => {
    const { store } = open();
    const nobody = { username: '', revision: 0 };
    store.isPutPermitted(nobody, b('x'));
    store.isRangePermitted(nobody, b('x'), b('\0'));
    store.isDeleteRangePermitted(nobody, b('x'), NONE);
    store.isAdminPermitted(undefined);
  });

  test('key checks: no user, old revision, unknown user, denied, allowed', () => {
    const { store, u } = setUp();
    denied(() => store.isRangePermitted({ username: '', revision: 0 }, b('a'), NONE), 'etcdserver: user name is empty', Code.INVALID_ARGUMENT);
    denied(() => store.isPutPermitted({ username: 'u', revision: store.revision() - 1 }, b('k')), 'etcdserver: revision of auth store is old', Code.INVALID_ARGUMENT);
    denied(() => store.isPutPermitted({ username: 'ghost', revision: store.revision() }, b('k')), 'etcdserver: permission denied', Code.PERMISSION_DENIED);
    // A revision ahead of the store's (a member behind) is not refused.
    store.isPutPermitted({ username: 'u', revision: store.revision() + 5 }, b('k'));
    store.isRangePermitted(u(), b('a'), NONE);
    store.isRangePermitted(u(), b('a'), b('c'));
    store.isRangePermitted(u(), b('b'), b('bz'));
    denied(() => store.isRangePermitted(u(), b('a'), b('d')), 'etcdserver: permission denied', Code.PERMISSION_DENIED);
    denied(() => store.isRangePermitted(u(), b('c'), NONE), 'etcdserver: permission denied', Code.PERMISSION_DENIED);
    denied(() => store.isRangePermitted(u(), b('k'), NONE), 'etcdserver: permission denied', Code.PERMISSION_DENIED);
    store.isPutPermitted(u(), b('k'));
    store.isDeleteRangePermitted(u(), b('k'), NONE);
    denied(() => store.isPutPermitted(u(), b('a')), 'etcdserver: permission denied', Code.PERMISSION_DENIED);
    denied(() => store.isDeleteRangePermitted(u(), b('k'), b('l')), 'etcdserver: permission denied', Code.PERMISSION_DENIED);
  });

  test('the root role may do anything, whatever its grants', () => {
    const { store, root } = setUp();
    store.isRangePermitted(root(), b('\0'), b('\0'));
    store.isPutPermitted(root(), b('anything'));
    store.isDeleteRangePermitted(root(), b('a'), b('\0'));
  });

  test('admin checks: no user, unknown user, not root, root; revision not compared', () => {
    const { store, u, root } = setUp();
    denied(() => store.isAdminPermitted(undefined), 'etcdserver: user name is empty', Code.INVALID_ARGUMENT);
    denied(() => store.isAdminPermitted({ username: '', revision: 0 }), 'etcdserver: user name is empty', Code.INVALID_ARGUMENT);
    denied(() => store.isAdminPermitted({ username: 'ghost', revision: 99 }), 'etcdserver: user name not found', Code.FAILED_PRECONDITION);
    denied(() => store.isAdminPermitted(u()), 'etcdserver: permission denied', Code.PERMISSION_DENIED);
    store.isAdminPermitted(root());
    store.isAdminPermitted({ username: 'root', revision: 1 });
    assert.equal(store.hasRole('u', 'r'), true);
    assert.equal(store.hasRole('u', 'root'), false);
    assert.equal(store.hasRole('ghost', 'r'), false);
  });

  test('every change reaches the next check (the cache is dropped): grant, revoke, role revoke, role delete', () => {
    const { store, apply, u } = setUp();
    denied(() => store.isRangePermitted(u(), b('x'), NONE), 'etcdserver: permission denied', Code.PERMISSION_DENIED);
    apply((s) => s.roleGrantPermission('r', perm(PermType.READ, 'x')));
    store.isRangePermitted(u(), b('x'), NONE);
    apply((s) => s.roleGrantPermission('r', perm(PermType.WRITE, 'x')));
    denied(() => store.isRangePermitted(u(), b('x'), NONE), 'etcdserver: permission denied', Code.PERMISSION_DENIED);
    store.isPutPermitted(u(), b('x'));
    apply((s) => s.roleRevokePermission('r', b('x'), NONE));
    denied(() => store.isPutPermitted(u(), b('x')), 'etcdserver: permission denied', Code.PERMISSION_DENIED);
    apply((s) => {
      s.roleAdd('r2');
      s.roleGrantPermission('r2', perm(PermType.READWRITE, 'y', '\0'));
      s.userGrantRole('u', 'r2');
    });
    store.isDeleteRangePermitted(u(), b('y'), b('\0'));
    apply((s) => s.userRevokeRole('u', 'r2'));
    denied(() => store.isDeleteRangePermitted(u(), b('y'), b('\0')), 'etcdserver: permission denied', Code.PERMISSION_DENIED);
    apply((s) => s.roleDelete('r'));
    denied(() => store.isRangePermitted(u(), b('a'), NONE), 'etcdserver: permission denied', Code.PERMISSION_DENIED);
    // Granting the root role makes u an admin at once.
    apply((s) => s.userGrantRole('u', 'root'));
    store.isAdminPermitted(u());
    store.isPutPermitted(u(), b('zzz'));
  });

  test('a token from before a change is refused after it (old revision), a fresh one allowed', () => {
    const { store, apply, u } = setUp();
    const before = u();
    store.isRangePermitted(before, b('a'), NONE);
    apply((s) => s.roleGrantPermission('r', perm(PermType.READ, 'q')));
    denied(() => store.isRangePermitted(before, b('a'), NONE), 'etcdserver: revision of auth store is old', Code.INVALID_ARGUMENT);
    store.isRangePermitted(u(), b('a'), NONE);
  });
});
