// The version rules of Downgrade as etcd 3.5 applies them: go-semver v0.3.0's NewVersion (dotted
// triple, optional -pre and +meta, int64 numbers), convertToClusterVersion's "M.m" fallback, the
// one-minor-below target, and the `cluster` bucket's "downgrade" JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allowedDowngradeVersion, downgradeRefusal, etcdDowngradeJson, parseClusterVersion, parseDowngradeInfo, versionText } from '../../src/membership/downgrade';

const minor = (v: string): string | undefined => {
  const p = parseClusterVersion(v);
  return p === undefined ? undefined : versionText(p);
};

test('versions etcd takes: M.m.p, M.m, pre-release and metadata, leading zeros; kept to M.m.0', () => {
  const ok: [string, string][] = [
    ['3.4', '3.4.0'],
    ['3.4.0', '3.4.0'],
    ['3.4.9', '3.4.0'],
    ['3.4.0-rc.1', '3.4.0'],
    ['3.4.0+build.7', '3.4.0'],
    ['3.4.0-', '3.4.0'], // go-semver splits off an empty pre-release and accepts it
    ['03.04', '3.4.0'],
    ['9223372036854775807.1.0', '9223372036854775807.1.0'],
  ];
  for (const [v, want] of ok) assert.equal(minor(v), want, v);
});

test('versions etcd refuses as a wrong format', () => {
  const bad = ['', '3', 'v3.4', '3.4.0.0', '3.4-rc', '3.4.x', ' 3.4', '3.4 ', '3..4', '3.4.0-rc..1', '3.4.0+a_b', '9223372036854775808.4.0', '+3.4.0', '-3.4.0', '3.-4.0'];
  for (const v of bad) assert.equal(parseClusterVersion(v), undefined, JSON.stringify(v));
});

test('the only target is one minor below the cluster version', () => {
  const cv = parseClusterVersion('3.5.0');
  assert.ok(cv !== undefined);
  assert.equal(versionText(allowedDowngradeVersion(cv)), '3.4.0');
});

test("the cluster bucket's downgrade value is Go's json.Marshal of etcd's DowngradeInfo", () => {
  assert.equal(etcdDowngradeJson({ enabled: true, targetVersion: '3.4.0' }), '{"target-version":"3.4.0","enabled":true}');
  assert.equal(etcdDowngradeJson({ enabled: false, targetVersion: '' }), '{"target-version":"","enabled":false}');
  assert.equal(etcdDowngradeJson({ enabled: false, targetVersion: '<&>' }), '{"target-version":"\\u003c\\u0026\\u003e","enabled":false}');
  assert.deepEqual(parseDowngradeInfo(JSON.parse('{"target-version":"3.4.0","enabled":true}')), { enabled: true, targetVersion: '3.4.0' });
  assert.deepEqual(parseDowngradeInfo({}), { enabled: false, targetVersion: '' });
  assert.equal(parseDowngradeInfo({ enabled: 'yes' }), undefined);
  assert.equal(parseDowngradeInfo(undefined), undefined);
});

test('a 3.5 server with a downgrade to 3.4 enabled is what etcd refuses to recover', () => {
  assert.match(downgradeRefusal({ enabled: true, targetVersion: '3.4.0' }, '3.5.17') ?? '', /not allowed to join when downgrade is enabled/);
  assert.equal(downgradeRefusal({ enabled: true, targetVersion: '3.5.0' }, '3.5.17'), undefined);
  assert.equal(downgradeRefusal({ enabled: false, targetVersion: '' }, '3.5.17'), undefined);
  assert.equal(downgradeRefusal(undefined, '3.5.17'), undefined);
});
