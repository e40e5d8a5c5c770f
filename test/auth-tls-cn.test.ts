// Client-certificate auth (issue 14, acceptance 4: "CN auth"): with --client-cert-auth and auth
// enabled, a call that carries no token runs as the user its verified certificate's Common Name
// names, as etcd's AuthInfoFromTLS. Driven with etcdctl 3.4 over https; passes against etcd 3.4
// too (TEST_AGAINST_ETCD=1).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issue, makeCa, writeCa, writeLeaf, type LeafFiles } from './helpers/certs';
import { etcdctl, etcdctlMissing, etcdctlOk, etcdctlTlsArgs, show } from './helpers/etcdctl';
import { startServer, type ServerProcess } from './helpers/server-process';

describe('auth by client certificate CN', { skip: etcdctlMissing, timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'etcd-ts-cn-'));
  let server: ServerProcess | undefined;
  let caFile = '';
  let root: LeafFiles;
  let alice: LeafFiles;
  let bob: LeafFiles;

  before(async () => {
    const ca = await makeCa('etcd-ts CN test CA');
    caFile = writeCa(dir, 'ca.pem', ca);
    const serverPair = writeLeaf(dir, 'server', await issue(ca, { cn: 'server', ips: ['127.0.0.1'], dns: ['localhost'] }));
    root = writeLeaf(dir, 'root', await issue(ca, { cn: 'root', usage: 'client' }));
    alice = writeLeaf(dir, 'alice', await issue(ca, { cn: 'alice', usage: 'client' }));
    bob = writeLeaf(dir, 'bob', await issue(ca, { cn: 'bob', usage: 'client' }));
    server = await startServer({
      scheme: 'https',
      clientTls: { ca: caFile, cert: root.cert, key: root.key },
      args: ['--cert-file', serverPair.cert, '--key-file', serverPair.key, '--trusted-ca-file', caFile, '--client-cert-auth'],
    });
  });
  after(async () => {
    await server?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const as = (who: LeafFiles, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    etcdctl(server?.url ?? '', [...etcdctlTlsArgs({ ca: caFile, cert: who.cert, key: who.key }), ...args]);
  const ok = (who: LeafFiles, args: string[]): Promise<string> => etcdctlOk(server?.url ?? '', [...etcdctlTlsArgs({ ca: caFile, cert: who.cert, key: who.key }), ...args]);

  test('the certificate names the user; a token still wins; unknown CNs are refused', async () => {
    await ok(root, ['user', 'add', 'root:rootpw']);
    await ok(root, ['user', 'add', 'alice:alicepw']);
    await ok(root, ['role', 'add', 'reader']);
    await ok(root, ['role', 'grant-permission', 'reader', 'read', 'k']);
    await ok(root, ['user', 'grant-role', 'alice', 'reader']);
    await ok(root, ['put', 'k', 'v1']);
    await ok(root, ['auth', 'enable']);

    // root's certificate alone: root's rights.
    await ok(root, ['put', 'k', 'v2']);
    assert.equal(await ok(root, ['user', 'list']), 'alice\nroot\n');
    // alice's: reads what her role allows, nothing else.
    assert.equal(await ok(alice, ['get', 'k', '--print-value-only']), 'v2\n');
    const put = await as(alice, ['put', 'k', 'v3']);
    assert.notEqual(put.code, 0, show(['put', 'k', 'v3'], put));
    assert.match(put.stderr, /etcdserver: permission denied/);
    const list = await as(alice, ['user', 'list']);
    assert.match(list.stderr, /etcdserver: permission denied/, show(['user', 'list'], list));
    // A token (--user) is used before the certificate: alice's certificate with root's password writes.
    await ok(alice, ['--user', 'root:rootpw', 'put', 'k', 'v4']);
    // A certificate whose CN is no user: the read is refused.
    const unknown = await as(bob, ['get', 'k']);
    assert.notEqual(unknown.code, 0, show(['get', 'k'], unknown));
    assert.match(unknown.stderr, /etcdserver: permission denied/);
    assert.equal(await ok(root, ['get', 'k', '--print-value-only']), 'v4\n');
  });
});
