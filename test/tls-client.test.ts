// TLS on the client port (src/tls/, src/listener/client-listener.ts), as etcd 3.5 serves it:
//  - etcdctl 3.4 over https:// with --cacert (also its per-endpoint commands, whose :authority
//    is "https://host:port"), /health over HTTP/1.1 and over HTTP/2 (curl negotiates h2);
//  - --client-cert-auth: no certificate, or one from another CA, is refused; the right one
//    works for etcdctl, the npm etcd3 client and grpc-js;
//  - --auto-tls: a self-signed pair under <data-dir>/fixtures/client (etcd's SelfCert), used
//    with --insecure-skip-tls-verify and kept across restarts;
//  - etcd's start errors and warnings, versions, cipher suites, the CRL, files re-read when
//    they change, HTTP-only and gRPC-only TLS ports.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import tls from 'node:tls';
import { Etcd3 } from 'etcd3';
import pino from 'pino';
import { start, type EtcdHandle } from '../src/server/embed';
import { issue, makeCa, makeCrl, writeCa, writeLeaf, type Ca, type LeafFiles } from './helpers/certs';
import { etcdctl, etcdctlMissing, etcdctlOk, etcdctlTlsArgs, show } from './helpers/etcdctl';
import { call } from './helpers/grpc-client';
import { freePort, MAIN, startServer, tlsKvClient, type ServerProcess } from './helpers/server-process';

const curlMissing = spawnSync('curl', ['--version']).status === 0 ? false : 'curl is not installed';

const dir = mkdtempSync(join(tmpdir(), 'etcd-ts-tls-client-'));
let ca: Ca;
let caFile: string;
let server: LeafFiles;
let client: LeafFiles;
let otherCaClient: LeafFiles;
const procs: ServerProcess[] = [];
const handles: EtcdHandle[] = [];

before(async () => {
  ca = await makeCa('etcd-ts test CA');
  caFile = writeCa(dir, 'ca.pem', ca);
  server = writeLeaf(dir, 'server', await issue(ca, { cn: 'server', ips: ['127.0.0.1'], dns: ['localhost'] }));
  client = writeLeaf(dir, 'client', await issue(ca, { cn: 'root', usage: 'client' }));
  const other = await makeCa('another CA');
  otherCaClient = writeLeaf(dir, 'other-client', await issue(other, { cn: 'root', usage: 'client' }));
});

after(async () => {
  // cleanup(): the member is killed and the data dir it was given (a temp dir) removed.
  for (const p of procs) await p.cleanup();
  for (const h of handles) await h.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Captures a member's log lines (JSON) for assertions. */
function capture(): { logger: pino.Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(chunk.toString());
      cb();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  return { logger, lines: () => out.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

async function startTls(extra: Parameters<typeof start>[0] = {}): Promise<EtcdHandle> {
  const d = mkdtempSync(join(dir, 'm-'));
  const h = await start({ dataDir: d, listenClientUrls: ['https://127.0.0.1:0'], listenPeerUrls: ['http://127.0.0.1:0'], logLevel: 'error', certFile: server.cert, keyFile: server.key, ...extra });
  handles.push(h);
  return h;
}

/** One HTTPS/1.1 GET; resolves with status and body. */
function httpsGet(port: number, path: string, o: https.RequestOptions = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path, ca: readFileSync(caFile), agent: false, ...o }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

/** A TLS handshake: resolves with what was negotiated, rejects when refused. */
function handshake(port: number, o: tls.ConnectionOptions = {}): Promise<{ protocol: string | null; cipher: string; cn: string }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(caFile), ...o }, () => {
      const cert = s.getPeerX509Certificate();
      resolve({ protocol: s.getProtocol(), cipher: s.getCipher().name, cn: cert?.subject ?? '' });
      s.destroy();
    });
    s.on('error', reject);
  });
}

/** One GET over HTTP/2 (TLS, ALPN h2); resolves with status, headers and body. */
async function h2Get(port: number, path: string): Promise<{ status: number; body: string; headers: http2.IncomingHttpHeaders }> {
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: readFileSync(caFile), servername: '' });
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request({ ':path': path });
      let text = '';
      let hs: http2.IncomingHttpHeaders = {};
      req.setEncoding('utf8');
      req.on('response', (h) => (hs = h));
      req.on('data', (d: string) => (text += d));
      req.on('end', () => resolve({ status: Number(hs[':status']), body: text, headers: hs }));
      req.on('error', reject);
      session.on('error', reject);
      req.end();
    });
  } finally {
    session.close();
  }
}

function portOf(endpoint: string): number {
  return Number(endpoint.split(':').pop());
}

/** Runs the etcd-ts binary until it exits (start errors); resolves with its exit code and stderr. */
function runUntilExit(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: 15_000 }, (err, _stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stderr });
    });
  });
}

describe('client TLS', () => {
  test('etcdctl over https with --cacert; /health over HTTP/1.1 and HTTP/2', { skip: etcdctlMissing }, async () => {
    const p = await startServer({ scheme: 'https', clientTls: { ca: caFile }, args: ['--cert-file', server.cert, '--key-file', server.key] });
    procs.push(p);
    const tlsArgs = etcdctlTlsArgs({ ca: caFile });
    await etcdctlOk(p.url, [...tlsArgs, 'put', 'foo', 'bar']);
    assert.equal(await etcdctlOk(p.url, [...tlsArgs, 'get', 'foo', '--print-value-only']), 'bar\n');
    // A per-endpoint command: etcdctl dials passthrough:///https://..., :authority rewritten.
    assert.match(await etcdctlOk(p.url, [...tlsArgs, 'endpoint', 'status']), new RegExp(`^${p.url}, [0-9a-f]+, 3\\.5\\.17, `));
    // Without the CA the server's certificate is not trusted.
    const untrusted = await etcdctl(p.url, ['--dial-timeout=1s', '--command-timeout=2s', '--insecure-transport=false', 'get', 'foo']);
    assert.notEqual(untrusted.code, 0, show(['get', 'foo'], untrusted));

    const port = portOf(p.endpoint);
    const h1 = await httpsGet(port, '/health');
    assert.deepEqual(h1, { status: 200, body: '{"health":"true","reason":""}' });
    // HTTP/2 without gRPC goes to the HTTP router, as Go's server routes it on the TLS port.
    const h2 = await h2Get(port, '/version');
    assert.equal(h2.status, 200);
    assert.equal(h2.body, '{"etcdserver":"3.5.17","etcdcluster":"3.5.0"}');
    assert.equal(h2.headers['content-type'], 'application/json');
    assert.equal(h2.headers['access-control-allow-origin'], '*');
    if (!curlMissing) {
      const r = spawnSync('curl', ['-sS', '--cacert', caFile, '-w', ' %{http_version}', `https://127.0.0.1:${port}/health`], { encoding: 'utf8' });
      assert.equal(r.stdout, '{"health":"true","reason":""} 2', r.stderr);
    }
  });

  test('--client-cert-auth: no certificate or another CA refused; the right one works (etcdctl, etcd3, grpc-js)', { skip: etcdctlMissing }, async () => {
    const good = { ca: caFile, cert: client.cert, key: client.key };
    const p = await startServer({
      scheme: 'https',
      clientTls: good,
      args: ['--cert-file', server.cert, '--key-file', server.key, '--trusted-ca-file', caFile, '--client-cert-auth', '--log-level', 'warn'],
    });
    procs.push(p);
    await etcdctlOk(p.url, [...etcdctlTlsArgs(good), 'put', 'k', 'v']);
    const refused = await Promise.all(
      [etcdctlTlsArgs({ ca: caFile }), etcdctlTlsArgs({ ca: caFile, cert: otherCaClient.cert, key: otherCaClient.key })].map((tlsArgs) =>
        etcdctl(p.url, ['--dial-timeout=1s', '--command-timeout=2s', ...tlsArgs, 'get', 'k']),
      ),
    );
    for (const r of refused) {
      assert.notEqual(r.code, 0, show(['get', 'k'], r));
      assert.match(r.stderr, /context deadline exceeded/);
    }
    assert.match(p.stderr(), /"msg":"rejected connection on client endpoint"/);
    assert.match(p.stderr(), /tls: client didn't provide a certificate/);
    assert.match(p.stderr(), /x509: certificate signed by unknown authority/);

    const etcd3 = new Etcd3({
      hosts: p.url,
      credentials: { rootCertificate: readFileSync(caFile), certChain: readFileSync(client.cert), privateKey: readFileSync(client.key) },
    });
    try {
      await etcd3.put('from-etcd3').value('yes');
      assert.equal(await etcd3.get('k').string(), 'v');
      assert.equal(await etcd3.get('from-etcd3').string(), 'yes');
    } finally {
      etcd3.close();
    }
    const noCert = tlsKvClient(p.endpoint, { ca: caFile });
    try {
      await assert.rejects(call(noCert, 'Range', { key: Buffer.from('k') }, 2000));
    } finally {
      noCert.close();
    }
    const https1 = await httpsGet(portOf(p.endpoint), '/health', { cert: readFileSync(client.cert), key: readFileSync(client.key) });
    assert.equal(https1.status, 200);
  });

  test('--auto-tls: self-signed pair under <data-dir>/fixtures/client, etcdctl --insecure-transport=false --insecure-skip-tls-verify, kept on restart', { skip: etcdctlMissing }, async () => {
    const p = await startServer({ scheme: 'https', clientTls: { insecure: true }, args: ['--auto-tls', '--self-signed-cert-validity', '2'] });
    procs.push(p);
    const insecure = etcdctlTlsArgs({ insecure: true });
    await etcdctlOk(p.url, [...insecure, 'put', 'auto', 'tls']);
    assert.equal(await etcdctlOk(p.url, [...insecure, 'get', 'auto', '--print-value-only']), 'tls\n');
    const certFile = join(p.dataDir, 'fixtures', 'client', 'cert.pem');
    const keyFile = join(p.dataDir, 'fixtures', 'client', 'key.pem');
    const pem = readFileSync(certFile, 'utf8');
    const cert = new X509Certificate(pem);
    assert.equal(cert.subject, 'O=etcd');
    assert.equal(cert.issuer, 'O=etcd');
    assert.equal(cert.subjectAltName, 'IP Address:127.0.0.1');
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'secp521r1');
    const years = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / (365 * 24 * 3600 * 1000);
    assert.ok(Math.abs(years - 2) < 0.01, `valid for ${years} years`);
    assert.match(readFileSync(keyFile, 'utf8'), /^-----BEGIN EC PRIVATE KEY-----/);
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.match(p.stderr(), /automatically generate certificates/);
    // The server's certificate is not trusted without the flag.
    const r = await etcdctl(p.url, ['--dial-timeout=1s', '--command-timeout=2s', '--insecure-transport=false', 'get', 'auto']);
    assert.notEqual(r.code, 0);

    const again = await p.restart();
    procs.push(again);
    assert.equal(readFileSync(certFile, 'utf8'), pem);
    assert.equal(await etcdctlOk(again.url, [...insecure, 'get', 'auto', '--print-value-only']), 'tls\n');
  });

  test("etcd's start errors and warnings", async () => {
    const port = await freePort();
    const d = mkdtempSync(join(dir, 'errors-'));
    const base = ['--data-dir', d, '--listen-peer-urls', `http://127.0.0.1:${await freePort()}`];
    const https = `https://127.0.0.1:${port}`;
    const cases: [string[], string][] = [
      [['--listen-client-urls', https, '--advertise-client-urls', https], `TLS key/cert (--cert-file, --key-file) must be provided for client url ${https} with HTTPS scheme`],
      [['--cipher-suites', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,NOPE'], 'unexpected TLS cipher suite "NOPE"'],
      [['--tls-min-version', 'TLS1.1'], 'unexpected TLS version "TLS1.1" (must be one of: TLS1.2, TLS1.3)'],
      [['--tls-min-version', 'TLS1.3', '--tls-max-version', 'TLS1.2'], 'min version (TLS1.3) is greater than max version (TLS1.2)'],
      [['--tls-min-version', 'TLS1.3', '--cipher-suites', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'], 'cipher suites cannot be configured when only TLS1.3 is enabled'],
      [['--listen-peer-urls', `https://127.0.0.1:${port}`], `cannot listen on TLS for 127.0.0.1:${port}: KeyFile and CertFile are not presented`],
      [['--listen-client-urls', https, '--advertise-client-urls', https, '--cert-file', server.cert, '--key-file', join(dir, 'missing.pem')], `open ${join(dir, 'missing.pem')}: no such file or directory`],
      [['--listen-client-urls', https, '--advertise-client-urls', https, '--cert-file', server.cert, '--key-file', client.key], 'tls: private key does not match public key'],
    ];
    const results = await Promise.all(cases.map(([args]) => runUntilExit([...base, ...args])));
    for (const [i, [args, text]] of cases.entries()) {
      assert.equal(results[i].code, 1, `${args.join(' ')}: ${results[i].stderr}`);
      assert.ok(results[i].stderr.includes(text), `${args.join(' ')}: want ${text}, got ${results[i].stderr}`);
    }

    // http:// with certificates given: served in plain, with etcd's warnings.
    const { logger, lines } = capture();
    const h = await start({ dataDir: join(d, 'plain'), listenClientUrls: ['http://127.0.0.1:0'], listenPeerUrls: ['http://127.0.0.1:0'], certFile: server.cert, keyFile: server.key, clientCertAuth: true, logger });
    handles.push(h);
    const msgs = lines().map((l) => l.msg);
    assert.ok(msgs.includes('scheme is http or unix while key and cert files are present; ignoring key and cert files'), String(msgs));
    assert.ok(msgs.includes('scheme is http or unix while --client-cert-auth is enabled; ignoring client cert auth for this URL'));
    const res = await fetch(`http://${h.endpoints[0]}/health`);
    assert.equal(res.status, 200);
  });

  test('--tls-min-version, --tls-max-version and --cipher-suites limit the handshake', async () => {
    const max12 = await startTls({ tlsMaxVersion: 'TLS1.2', cipherSuites: ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'] });
    const port12 = portOf(max12.endpoints[0]);
    const got = await handshake(port12);
    assert.equal(got.protocol, 'TLSv1.2');
    assert.equal(got.cipher, 'ECDHE-ECDSA-AES256-GCM-SHA384');
    await assert.rejects(handshake(port12, { ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }));

    const min13 = await startTls({ tlsMinVersion: 'TLS1.3' });
    const port13 = portOf(min13.endpoints[0]);
    assert.equal((await handshake(port13)).protocol, 'TLSv1.3');
    await assert.rejects(handshake(port13, { maxVersion: 'TLSv1.2' }));
    // Default: TLS 1.2 and up, TLS 1.3 preferred.
    assert.equal((await handshake(port12, { maxVersion: 'TLSv1.2' })).protocol, 'TLSv1.2');
  });

  test('the certificate and key are read again when their files change', async () => {
    const certFile = join(dir, 'rotating.pem');
    const keyFile = join(dir, 'rotating-key.pem');
    const first = await issue(ca, { cn: 'first', ips: ['127.0.0.1'] });
    writeFileSync(certFile, first.certPem);
    writeFileSync(keyFile, first.keyPem);
    const h = await startTls({ certFile, keyFile });
    const port = portOf(h.endpoints[0]);
    assert.equal((await handshake(port)).cn, 'CN=first');
    const second = await issue(ca, { cn: 'second', ips: ['127.0.0.1'] });
    writeFileSync(keyFile, second.keyPem);
    writeFileSync(certFile, second.certPem);
    assert.equal((await handshake(port)).cn, 'CN=second');
  });

  test('--client-crl-file refuses a revoked client certificate', async () => {
    const revokedSerial = '0a0b0c0d0e0f';
    const revoked = writeLeaf(dir, 'revoked', await issue(ca, { cn: 'revoked', usage: 'client', serial: revokedSerial }));
    const crlFile = join(dir, 'crl.pem');
    writeFileSync(crlFile, await makeCrl(ca, [revokedSerial]));
    const { logger, lines } = capture();
    const h = await startTls({ trustedCaFile: caFile, clientCertAuth: true, clientCrlFile: crlFile, logger });
    const port = portOf(h.endpoints[0]);
    const ok = await httpsGet(port, '/version', { cert: readFileSync(client.cert), key: readFileSync(client.key) });
    assert.equal(ok.status, 200);
    await assert.rejects(httpsGet(port, '/version', { cert: readFileSync(revoked.cert), key: readFileSync(revoked.key) }));
    const rejected = lines().find((l) => l.msg === 'rejected connection on client endpoint');
    assert.equal(rejected?.error, `transport: certificate serial ${revokedSerial} revoked`);
  });

  test('an HTTP-only TLS port (--listen-client-http-urls) and a gRPC-only one', async () => {
    const h = await startTls({ listenClientHttpUrls: ['https://127.0.0.1:0'] });
    const httpPort = portOf(h.httpEndpoints[0]);
    assert.equal((await httpsGet(httpPort, '/health')).status, 200);
    assert.equal((await h2Get(httpPort, '/health')).body, '{"health":"true","reason":""}');
    const grpcOnly = tlsKvClient(h.endpoints[0], { ca: caFile });
    try {
      const put = await call(grpcOnly, 'Put', { key: Buffer.from('g'), value: Buffer.from('1') });
      assert.ok(Number(put.header.revision) > 1);
    } finally {
      grpcOnly.close();
    }
    // gRPC-only: grpc-go offers h2 only; an HTTP/1.1 client does not get through.
    await assert.rejects(httpsGet(portOf(h.endpoints[0]), '/health'));
  });

  test('unixs:// serves TLS on the socket file the URL names, removed at close', async () => {
    const sock = join(mkdtempSync(join(dir, 'unix-')), 'etcd.sock');
    const h = await start({ dataDir: mkdtempSync(join(dir, 'm-')), listenClientUrls: [`unixs://${sock}`], listenPeerUrls: ['http://127.0.0.1:0'], logLevel: 'error', certFile: server.cert, keyFile: server.key });
    try {
      assert.deepEqual(h.endpoints, [sock]);
      const r = await httpsGet(0, '/health', { socketPath: sock, host: 'localhost', servername: 'localhost' });
      assert.deepEqual(r, { status: 200, body: '{"health":"true","reason":""}' });
    } finally {
      await h.close();
    }
    assert.equal(existsSync(sock), false);
  });
});
