// Peer TLS (src/peer/dialer.ts, src/tls/terminator.ts), as etcd 3.5 secures member traffic:
//  - three members on https:// peer URLs with --peer-client-cert-auth elect a leader and
//    replicate; a member SIGKILLed and restarted catches up by snapshot (all over TLS); a
//    follower forwards a lease keep-alive to the leader over TLS; a new member joins (its
//    membership fetch dials with the peer TLS too);
//  - a member whose certificate comes from another CA is refused both ways: the other two keep
//    their leader, it never sees the data;
//  - --peer-auto-tls: self-signed pairs, not verified by the dialing member (as etcd);
//  - --peer-cert-allowed-cn refuses a member whose certificate has another CN.
// Client traffic stays plain here: tls-client.test.ts covers the client port.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issue, makeCa, writeCa, writeLeaf, type Ca, type LeafFiles } from './helpers/certs';
import { startCluster, statusOf, until, waitForLeader, leaderEndpoint, type Cluster } from './helpers/cluster';
import { etcdctl, etcdctlMissing, etcdctlOk } from './helpers/etcdctl';
import { b, call, kvClient } from './helpers/grpc-client';
import { freePorts, startServer, type ServerProcess } from './helpers/server-process';

const dir = mkdtempSync(join(tmpdir(), 'etcd-ts-tls-peer-'));
let ca: Ca;
let caFile: string;
let member: LeafFiles;
const clusters: Cluster[] = [];
const extra: ServerProcess[] = [];

before(async () => {
  ca = await makeCa('etcd-ts peer CA');
  caFile = writeCa(dir, 'peer-ca.pem', ca);
  member = writeLeaf(dir, 'member', await issue(ca, { cn: 'etcd-peer', ips: ['127.0.0.1'] }));
});

after(async () => {
  for (const p of extra) await p.cleanup();
  for (const c of clusters) await c.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

function peerTlsArgs(files: LeafFiles, trustedCa = caFile): string[] {
  return ['--peer-cert-file', files.cert, '--peer-key-file', files.key, '--peer-trusted-ca-file', trustedCa, '--peer-client-cert-auth'];
}

async function serializableGet(endpoint: string, key: string): Promise<string | undefined> {
  const kv = kvClient(endpoint);
  try {
    const r = await call(kv, 'Range', { key: b(key), serializable: true }, 2000);
    return r.kvs.length === 0 ? undefined : r.kvs[0].value.toString();
  } catch {
    return undefined;
  } finally {
    kv.close();
  }
}

async function put(endpoint: string, key: string, value: string): Promise<void> {
  const kv = kvClient(endpoint);
  try {
    await call(kv, 'Put', { key: b(key), value: b(value) }, 5000);
  } finally {
    kv.close();
  }
}

describe('peer TLS', () => {
  test('three members over https peer URLs with client cert auth: leader, replication, SIGKILL + restart, forwarding, join', { skip: etcdctlMissing }, async () => {
    const c = await startCluster(3, [...peerTlsArgs(member), '--snapshot-count', '20'], { peerScheme: 'https' });
    clusters.push(c);
    const eps = c.endpoints();
    await waitForLeader(eps);
    await put(eps[0], 'tls-peer', 'replicated');
    for (const ep of eps) assert.equal(await until(`tls-peer on ${ep}`, () => serializableGet(ep, 'tls-peer')), 'replicated');

    // SIGKILL a follower, write past its log (snapshot count 20), restart it: it catches up.
    const leader = await leaderEndpoint(eps);
    const victim = eps.findIndex((ep) => ep !== leader);
    await c.kill(victim);
    for (let i = 0; i < 60; i++) await put(leader, `k${i}`, `v${i}`);
    await c.start(victim);
    assert.equal(await until('the restarted member catching up', () => serializableGet(eps[victim], 'k59')), 'v59');
    await waitForLeader(eps);

    // A follower forwards a lease keep-alive to the leader (peer forwarding over TLS).
    const follower = eps.find((ep) => ep !== leader) ?? eps[0];
    const grant = await etcdctlOk(follower, ['lease', 'grant', '60']);
    const id = /lease ([0-9a-f]+) granted/.exec(grant)?.[1];
    assert.ok(id !== undefined, grant);
    assert.match(await etcdctlOk(follower, ['lease', 'keep-alive', '--once', id]), new RegExp(`lease ${id} keepalived with TTL\\(60\\)`));

    // A new member joins over TLS: member add, then --initial-cluster-state existing.
    const [clientPort, peerPort] = await freePorts(2);
    const peerUrl = `https://127.0.0.1:${peerPort}`;
    const added = await etcdctlOk(leader, ['member', 'add', 'm4', `--peer-urls=${peerUrl}`]);
    const initialCluster = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(added)?.[1];
    assert.ok(initialCluster !== undefined, added);
    const m4 = await startServer({
      port: clientPort,
      args: ['--name', 'm4', '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl, '--initial-cluster', initialCluster, '--initial-cluster-state', 'existing', ...peerTlsArgs(member)],
    });
    extra.push(m4);
    assert.equal(await until('m4 catching up', () => serializableGet(m4.endpoint, 'k59')), 'v59');
    const st = await statusOf(m4.endpoint);
    assert.notEqual(String(st?.leader ?? '0'), '0');
  });

  test('--peer-auto-tls: each member makes its own pair under <data-dir>/fixtures/peer and they form a cluster', async () => {
    const c = await startCluster(3, ['--peer-auto-tls'], { peerScheme: 'https' });
    clusters.push(c);
    const eps = c.endpoints();
    await waitForLeader(eps);
    await put(eps[2], 'auto-peer', 'ok');
    for (const ep of eps) assert.equal(await until(`auto-peer on ${ep}`, () => serializableGet(ep, 'auto-peer')), 'ok');
    for (const m of c.members) {
      const cert = new X509Certificate(readFileSync(join(m.dataDir, 'fixtures', 'peer', 'cert.pem')));
      assert.equal(cert.subjectAltName, 'IP Address:127.0.0.1');
    }
  });

  test('a member with a certificate from another CA is refused; the others keep their leader', async () => {
    const otherCa = await makeCa('not the peer CA');
    const otherCaFile = writeCa(dir, 'other-ca.pem', otherCa);
    const stranger = writeLeaf(dir, 'stranger', await issue(otherCa, { cn: 'etcd-peer', ips: ['127.0.0.1'] }));
    const c = await startCluster(3, [], {
      peerScheme: 'https',
      // The stranger trusts its own CA: it refuses the others as they refuse it.
      memberArgs: (i) => (i === 2 ? peerTlsArgs(stranger, otherCaFile) : peerTlsArgs(member)),
    });
    clusters.push(c);
    const eps = c.endpoints();
    const good = eps.slice(0, 2);
    const leader = await waitForLeader(good);
    await put(good[0], 'secret', 'only-for-members');
    for (const ep of good) assert.equal(await until(`secret on ${ep}`, () => serializableGet(ep, 'secret')), 'only-for-members');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await serializableGet(eps[2], 'secret'), undefined);
    assert.equal(await waitForLeader(good), leader);
    const st = await statusOf(eps[2]);
    assert.ok(st === undefined || String(st.leader) === '0' || String(st.leader) === String(st.header.member_id), 'the stranger follows no member of the cluster');
    assert.match(c.members[0].process?.stderr() ?? '', /rejected connection on peer endpoint/);
  });

  test('--peer-cert-allowed-cn refuses a member whose certificate has another CN', async () => {
    const intruder = writeLeaf(dir, 'intruder', await issue(ca, { cn: 'intruder', ips: ['127.0.0.1'] }));
    const c = await startCluster(3, ['--peer-cert-allowed-cn', 'etcd-peer'], {
      peerScheme: 'https',
      memberArgs: (i) => peerTlsArgs(i === 2 ? intruder : member),
    });
    clusters.push(c);
    const eps = c.endpoints();
    const good = eps.slice(0, 2);
    await waitForLeader(good);
    await put(good[1], 'cn-checked', 'yes');
    for (const ep of good) assert.equal(await until(`cn-checked on ${ep}`, () => serializableGet(ep, 'cn-checked')), 'yes');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await serializableGet(eps[2], 'cn-checked'), undefined);
    const refusals = c.members[0].process?.stderr() ?? '';
    assert.match(refusals, /"msg":"rejected connection on peer endpoint"/);
    assert.match(refusals, /client certificate authentication failed/);
    const r = await etcdctl(eps[2], ['--command-timeout=2s', 'get', 'cn-checked']);
    assert.notEqual(r.code === 0 && r.stdout.includes('yes'), true);
  });
});
