// https:// in --listen-metrics-urls (src/metrics/metrics-listener.ts), as etcd 3.5 serves it
// (server/embed/etcd.go createMetricsListener, serveMetrics): the client TLS, checked by curl:
//  - /metrics and /health over TLS with the server certificate (--cacert checks it), HTTP/2 when
//    negotiated and HTTP/1.1 otherwise, nothing but those two paths;
//  - plain HTTP to the TLS port: no reply, the refusal logged as etcd logs it;
//  - --client-cert-auth: no certificate, or one from another CA, refused; the right one works;
//    a certificate whose IP SANs do not name the client's address is refused here (transport's
//    checkSAN on the metrics listener), while the client port takes it;
//  - --auto-tls: served with the self-signed pair;
//  - without client TLS the member does not start, with etcd's error.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issue, makeCa, writeCa, writeLeaf, type LeafFiles } from './helpers/certs';
import { freePorts, MAIN, startServer, type ServerProcess } from './helpers/server-process';

const curlMissing = spawnSync('curl', ['--version']).status === 0 ? false : 'curl is not installed';
if (curlMissing !== false) console.log(`metrics-tls: skipped, ${curlMissing}`);

const dir = mkdtempSync(join(tmpdir(), 'etcd-ts-metrics-tls-'));
let caFile: string;
let otherCaFile: string;
let server: LeafFiles;
let client: LeafFiles;
let otherCaClient: LeafFiles;
/** A client certificate valid for 10.9.9.9 only: not the address the tests connect from. */
let elsewhereClient: LeafFiles;
const procs: ServerProcess[] = [];

before(async () => {
  const ca = await makeCa('etcd-ts test CA');
  caFile = writeCa(dir, 'ca.pem', ca);
  server = writeLeaf(dir, 'server', await issue(ca, { cn: 'server', ips: ['127.0.0.1'], dns: ['localhost'] }));
  client = writeLeaf(dir, 'client', await issue(ca, { cn: 'root', usage: 'client' }));
  elsewhereClient = writeLeaf(dir, 'elsewhere', await issue(ca, { cn: 'root', usage: 'client', ips: ['10.9.9.9'] }));
  const other = await makeCa('another CA');
  otherCaFile = writeCa(dir, 'other-ca.pem', other);
  otherCaClient = writeLeaf(dir, 'other-client', await issue(other, { cn: 'root', usage: 'client' }));
});

after(async () => {
  for (const p of procs) await p.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

interface CurlResult {
  code: number;
  stdout: string;
  stderr: string;
}

function curlOnce(args: string[]): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '5', ...args], { timeout: 10_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

/** curl, retried while the port refuses connections (the metrics listeners start after the client port answers). */
async function curl(args: string[]): Promise<CurlResult> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const r = await curlOnce(args);
    if (r.code !== 7 || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 50));
  }
}

function show(r: CurlResult): string {
  return `curl exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** Waits for a line in the member's log (a refusal is logged after curl saw the connection close). */
async function logged(p: ServerProcess, re: RegExp): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!re.test(p.stderr())) {
    if (Date.now() > deadline) assert.fail(`not logged: ${re}\n${p.stderr()}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** Runs the etcd-ts binary until it exits; resolves with its exit code and stderr. */
function runUntilExit(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: 15_000 }, (err, _stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stderr });
    });
  });
}

const HEALTH = '{"health":"true","reason":""}';

describe('https:// metrics URLs', { skip: curlMissing }, () => {
  test('/metrics and /health over TLS with the client certificate; HTTP/2 and HTTP/1.1; plain HTTP gets no reply', async () => {
    const [mport] = await freePorts(1);
    const murl = `https://127.0.0.1:${mport}`;
    // The client URL is plain: the metrics URL alone takes the client TLS.
    const p = await startServer({ args: ['--cert-file', server.cert, '--key-file', server.key, '--listen-metrics-urls', murl] });
    procs.push(p);

    // curl offers h2 and http/1.1; Go's server (and so etcd) picks h2.
    const m = await curl(['--cacert', caFile, '-w', '\n%{http_version}', `${murl}/metrics`]);
    assert.equal(m.code, 0, show(m));
    assert.match(m.stdout, /^etcd_server_has_leader 1$/m);
    assert.match(m.stdout, /^# TYPE etcd_server_has_leader gauge$/m);
    assert.ok(m.stdout.endsWith('\n2'), show(m));

    const h2 = await curl(['--cacert', caFile, '-D', '-', `${murl}/health`]);
    assert.equal(h2.code, 0, show(h2));
    assert.match(h2.stdout, /^HTTP\/2 200 \r\n/);
    assert.ok(h2.stdout.endsWith(`\r\n\r\n${HEALTH}`), show(h2));

    const h1 = await curl(['--http1.1', '--cacert', caFile, '-D', '-', `${murl}/health`]);
    assert.equal(h1.code, 0, show(h1));
    assert.match(h1.stdout, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(h1.stdout.endsWith(`\r\n\r\n${HEALTH}`), show(h1));

    // Only /metrics and /health: the client port's other paths are not served here.
    const v = await curl(['--cacert', caFile, '-w', '\n%{http_code}', `${murl}/version`]);
    assert.equal(v.stdout, '404 page not found\n\n404', show(v));

    // The certificate is checked: not trusted without the CA, nor with another CA.
    for (const ca of [[], ['--cacert', otherCaFile]]) {
      const r = await curl([...ca, `${murl}/health`]);
      assert.equal(r.code, 60, show(r));
      assert.equal(r.stdout, '');
    }

    // Plain HTTP to the TLS port: etcd's TLS listener fails the handshake and closes, no reply.
    const plain = await curl([`http://127.0.0.1:${mport}/health`]);
    assert.equal(plain.code, 52, show(plain));
    assert.match(plain.stderr, /Empty reply from server/);
    await logged(p, /"msg":"rejected connection on client endpoint".*tls: first record does not look like a TLS handshake/);
  });

  test('--client-cert-auth: no certificate or another CA refused; a certificate not naming the client address refused here only', async () => {
    const [mport] = await freePorts(1);
    const murl = `https://127.0.0.1:${mport}`;
    const good = { ca: caFile, cert: client.cert, key: client.key };
    const p = await startServer({
      scheme: 'https',
      clientTls: good,
      args: ['--cert-file', server.cert, '--key-file', server.key, '--trusted-ca-file', caFile, '--client-cert-auth', '--listen-metrics-urls', murl],
    });
    procs.push(p);

    const ok = await curl(['--cacert', caFile, '--cert', client.cert, '--key', client.key, `${murl}/health`]);
    assert.equal(ok.code, 0, show(ok));
    assert.equal(ok.stdout, HEALTH);
    const m = await curl(['--cacert', caFile, '--cert', client.cert, '--key', client.key, `${murl}/metrics`]);
    assert.match(m.stdout, /^etcd_server_has_leader 1$/m, show(m));

    // No certificate: refused in the handshake (TLS 1.3: after it, when curl reads), no reply.
    const none = await curl(['--cacert', caFile, `${murl}/health`]);
    assert.notEqual(none.code, 0, show(none));
    assert.equal(none.stdout, '');
    await logged(p, /"msg":"rejected connection on client endpoint".*tls: client didn't provide a certificate/);
    // TLS 1.2: the handshake itself fails.
    const none12 = await curl(['--tls-max', '1.2', '--cacert', caFile, `${murl}/health`]);
    assert.equal(none12.code, 35, show(none12));

    const otherCa = await curl(['--cacert', caFile, '--cert', otherCaClient.cert, '--key', otherCaClient.key, `${murl}/health`]);
    assert.notEqual(otherCa.code, 0, show(otherCa));
    assert.equal(otherCa.stdout, '');
    await logged(p, /x509: certificate signed by unknown authority/);

    // A certificate valid for 10.9.9.9 only, from 127.0.0.1: the metrics listener checks the SANs
    // (etcd's wrapTLS with checkSAN), the client port does not (transport.NewTLSListener).
    const elsewhere = ['--cacert', caFile, '--cert', elsewhereClient.cert, '--key', elsewhereClient.key];
    const refused = await curl([...elsewhere, `${murl}/health`]);
    assert.notEqual(refused.code, 0, show(refused));
    assert.equal(refused.stdout, '');
    await logged(p, /"ip-addresses":\["10\.9\.9\.9"\].*x509: certificate is valid for 10\.9\.9\.9, not 127\.0\.0\.1/);
    const clientPort = await curl([...elsewhere, `${p.url}/health`]);
    assert.equal(clientPort.code, 0, show(clientPort));
    assert.equal(clientPort.stdout, HEALTH);
  });

  test('--auto-tls: served with the self-signed pair', async () => {
    const [mport] = await freePorts(1);
    const murl = `https://127.0.0.1:${mport}`;
    const p = await startServer({ args: ['--auto-tls', '--listen-metrics-urls', murl] });
    procs.push(p);
    const r = await curl(['--insecure', `${murl}/health`]);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, HEALTH);
    // Self-signed: not trusted when checked.
    const checked = await curl(['--cacert', caFile, `${murl}/health`]);
    assert.equal(checked.code, 60, show(checked));
  });

  test('without client TLS the member does not start (etcd 3.5 ErrMissingClientTLSInfoForMetricsURL)', async () => {
    const [cport, pport, mport] = await freePorts(3);
    const d = mkdtempSync(join(dir, 'no-tls-'));
    const clientUrl = `http://127.0.0.1:${cport}`;
    const r = await runUntilExit([
      '--data-dir',
      d,
      '--listen-client-urls',
      clientUrl,
      '--advertise-client-urls',
      clientUrl,
      '--listen-peer-urls',
      `http://127.0.0.1:${pport}`,
      '--listen-metrics-urls',
      `https://127.0.0.1:${mport}`,
      '--log-level',
      'error',
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /client TLS key\/cert \(--cert-file, --key-file\) must be provided for metrics secure url/);
  });
});
