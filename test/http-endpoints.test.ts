// The HTTP/1.x endpoints on a client listener (src/listener/: http-connections, http-router,
// health, version-endpoint), on the same port as gRPC, as etcd 3.5 serves them:
//  - /health, /livez, /readyz (+ ?serializable, ?verbose, ?exclude, /readyz/<check>), /version,
//    byte for byte (the Date masked) as etcd 3.5.17's handlers and Go's server write them;
//  - unknown paths 404, other methods 405, unclean paths 301, OPTIONS answered, CORS headers;
//  - keep-alive and pipelining; bad requests never hurt the member, gRPC keeps working
//    (also etcdctl with an http:// endpoint, whose :authority the listener rewrites);
//  - against real etcd (3.4 here) where 3.4 and 3.5 agree, byte for byte;
//  - a member cut off from its 3-member cluster answers /health false with a reason, 503;
//  - a listener serving HTTP only (--listen-client-http-urls) or gRPC only.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { ClientListeners } from '../src/listener/client-listener';
import { goJsonString } from '../src/listener/go-reply';
import { cleanPath, parseQuery } from '../src/listener/go-url';
import { HttpRouter } from '../src/listener/http-router';
import { freePort, startServer, type ServerProcess } from './helpers/server-process';
import { startCluster, waitForLeader, type Cluster } from './helpers/cluster';
import { b, call, kvClient } from './helpers/grpc-client';
import { etcdctl, etcdctlMissing, show } from './helpers/etcdctl';

const silent = pino({ level: 'silent' });
const etcdMissing = spawnSync('etcd', ['--version']).status === 0 ? false : 'etcd is not installed';
const curlMissing = spawnSync('curl', ['--version']).status === 0 ? false : 'curl is not installed';

const CORS = 'Access-Control-Allow-Headers: accept, content-type, authorization\r\nAccess-Control-Allow-Methods: POST, GET, OPTIONS, PUT, DELETE\r\nAccess-Control-Allow-Origin: *\r\n';
const TEXT = 'Content-Type: text/plain; charset=utf-8\r\n';
const NOSNIFF = 'X-Content-Type-Options: nosniff\r\n';
const DATE = 'Date: X\r\n';
const len = (body: string): string => `Content-Length: ${Buffer.byteLength(body)}\r\n`;

function portOf(endpoint: string): number {
  return Number(endpoint.split(':')[1]);
}

/** Writes `bytes`, resolves with everything received until the server closes or `waitMs` passes. */
function raw(port: number, bytes: string | Buffer, waitMs = 1500): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => {});
    const done = (closed: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1').replace(/Date: [^\r]*\r\n/g, DATE), closed });
    };
    s.on('close', () => done(true));
    const timer = setTimeout(() => done(false), waitMs);
  });
}

/** One request over a fresh connection that the client closes: Go's reply bytes, Date masked. */
async function exchange(port: number, method: string, path: string): Promise<string> {
  return (await raw(port, `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`)).text;
}

interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  reused: boolean;
}

function get(port: number, path: string, agent?: http.Agent): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, reused: req.reusedSocket }));
    });
    req.on('error', reject);
  });
}

function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile('curl', ['-s', ...args], (err, stdout) => (err === null ? resolve(stdout) : reject(err))));
}

describe('the HTTP endpoints of a member, on its gRPC port', { timeout: 120_000 }, () => {
  let server: ServerProcess;
  let port: number;
  before(async () => {
    server = await startServer();
    port = portOf(server.endpoint);
  });
  after(async () => {
    await server?.cleanup();
  });

  async function stillServes(): Promise<void> {
    const kv = kvClient(server.endpoint);
    try {
      await call(kv, 'Put', { key: b('still'), value: b('serving') });
      const r = await call(kv, 'Range', { key: b('still') });
      assert.equal(r.kvs[0].value.toString(), 'serving');
    } finally {
      kv.close();
    }
    assert.equal((await get(port, '/health')).status, 200);
    assert.equal(server.proc.exitCode, null, server.stderr());
  }

  test('/health, /livez, /readyz and /version, byte for byte as etcd 3.5', async () => {
    const health = '{"health":"true","reason":""}';
    // Go sniffs /health's type (text); the others set theirs. Connection: close as asked.
    assert.equal(await exchange(port, 'GET', '/health'), `HTTP/1.1 200 OK\r\n${CORS}${DATE}${len(health)}${TEXT}Connection: close\r\n\r\n${health}`);
    assert.equal(await exchange(port, 'GET', '/health?serializable=true'), `HTTP/1.1 200 OK\r\n${CORS}${DATE}${len(health)}${TEXT}Connection: close\r\n\r\n${health}`);
    for (const path of ['/livez', '/readyz', '/livez/serializable_read', '/readyz/data_corruption', '/readyz/serializable_read', '/readyz/linearizable_read']) {
      assert.equal(await exchange(port, 'GET', path), `HTTP/1.1 200 OK\r\n${CORS}${TEXT}${NOSNIFF}${DATE}${len('ok\n')}Connection: close\r\n\r\nok\n`, path);
    }
    const version = '{"etcdserver":"3.5.17","etcdcluster":"3.5.0"}';
    assert.equal(await exchange(port, 'GET', '/version'), `HTTP/1.1 200 OK\r\n${CORS}Content-Type: application/json\r\n${DATE}${len(version)}Connection: close\r\n\r\n${version}`);
  });

  test('?verbose, ?exclude and the checks one by one', async () => {
    assert.equal((await get(port, '/readyz?verbose')).body, '[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\nok\n');
    assert.equal((await get(port, '/livez?verbose=')).body, '[+]serializable_read ok\nok\n');
    assert.equal((await get(port, '/readyz?verbose&exclude=data_corruption&exclude=linearizable_read')).body, '[+]serializable_read ok\nok\n');
    // An unknown name is logged, not refused, "for version compatibility".
    assert.equal((await get(port, '/readyz?exclude=no_such_check&verbose')).status, 200);
    assert.equal((await get(port, '/readyz/linearizable_read?verbose')).body, '[+]linearizable_read ok\nok\n');
    // exclude names alarms on /health; serializable only counts as "true".
    assert.equal((await get(port, '/health?exclude=NOSPACE&serializable=yes')).body, '{"health":"true","reason":""}');
    assert.equal((await get(port, '/readyz/no_such_check')).status, 404);
  });

  test('curl', { skip: curlMissing }, async () => {
    const url = `http://127.0.0.1:${port}`;
    assert.equal(await curl([`${url}/health`]), '{"health":"true","reason":""}');
    assert.equal(await curl([`${url}/livez`]), 'ok\n');
    assert.equal(await curl([`${url}/readyz?verbose`]), '[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\nok\n');
    assert.equal(await curl([`${url}/version`]), '{"etcdserver":"3.5.17","etcdcluster":"3.5.0"}');
    // Several URLs: curl reuses one connection for all of them.
    const verbose = await new Promise<string>((resolve) => execFile('curl', ['-sv', `${url}/health`, `${url}/version`, `${url}/livez`], (_e, _o, stderr) => resolve(stderr)));
    assert.equal((verbose.match(/Re-using existing connection/g) ?? []).length, 2, verbose);
  });

  test('what etcd answers besides: 404, 405, redirects, OPTIONS, HEAD, "*"', async () => {
    const notFound = '404 page not found\n';
    for (const path of ['/', '/nope', '/health/', '/healthz', '/livez/', '/metricsx', '/v2/keys', '/readyz/none']) {
      assert.equal(await exchange(port, 'GET', path), `HTTP/1.1 404 Not Found\r\n${CORS}${TEXT}${NOSNIFF}${DATE}${len(notFound)}Connection: close\r\n\r\n${notFound}`, path);
    }
    const notAllowed = 'Method Not Allowed\n';
    for (const [method, path] of [['POST', '/health'], ['PUT', '/version'], ['DELETE', '/livez'], ['POST', '/readyz/serializable_read']]) {
      assert.equal(await exchange(port, method, path), `HTTP/1.1 405 Method Not Allowed\r\n${CORS}Allow: GET\r\n${TEXT}${NOSNIFF}${DATE}${len(notAllowed)}Connection: close\r\n\r\n${notAllowed}`, `${method} ${path}`);
    }
    // HEAD is not GET for etcd's handlers; the length is that of the body not sent.
    assert.equal(await exchange(port, 'HEAD', '/health'), `HTTP/1.1 405 Method Not Allowed\r\n${CORS}Allow: GET\r\n${TEXT}${NOSNIFF}${DATE}${len(notAllowed)}Connection: close\r\n\r\n`);
    const moved = '<a href="/health?x=1">Moved Permanently</a>.\n\n';
    assert.equal(await exchange(port, 'GET', '//health?x=1'), `HTTP/1.1 301 Moved Permanently\r\n${CORS}Content-Type: text/html; charset=utf-8\r\nLocation: /health?x=1\r\n${DATE}${len(moved)}Connection: close\r\n\r\n${moved}`);
    assert.equal(await exchange(port, 'POST', '/version/../health'), `HTTP/1.1 301 Moved Permanently\r\n${CORS}Location: /health\r\n${DATE}Content-Length: 0\r\nConnection: close\r\n\r\n`);
    // An escaped path matches as its segments unescaped (Go 1.22's ServeMux).
    assert.ok((await exchange(port, 'GET', '/%68ealth')).startsWith('HTTP/1.1 200 OK\r\n'));
    assert.equal(await exchange(port, 'OPTIONS', '/anything'), `HTTP/1.1 200 OK\r\n${CORS}${DATE}Content-Length: 0\r\nConnection: close\r\n\r\n`);
    assert.equal(await exchange(port, 'OPTIONS', '*'), `HTTP/1.1 200 OK\r\nContent-Length: 0\r\n${DATE}Connection: close\r\n\r\n`);
    assert.equal((await raw(port, 'GET * HTTP/1.1\r\nHost: x\r\n\r\n')).text, `HTTP/1.1 400 Bad Request\r\n${CORS}Connection: close\r\n${DATE}Content-Length: 0\r\n\r\n`);
  });

  test('keep-alive: one connection serves request after request, pipelined too', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const paths = ['/health', '/version', '/livez', '/nope', '/readyz', '/health?serializable=true'];
      const got: Got[] = [];
      for (let i = 0; i < 30; i++) got.push(await get(port, paths[i % paths.length], agent));
      assert.deepEqual(
        got.map((g) => g.status),
        got.map((_, i) => (paths[i % paths.length] === '/nope' ? 404 : 200)),
      );
      assert.ok(got.slice(1).every((g) => g.reused), 'every request after the first reused the connection');
      // Go never sends Connection: keep-alive or Keep-Alive to HTTP/1.1.
      assert.equal(got[0].headers.connection, undefined);
      assert.equal(got[0].headers['keep-alive'], undefined);
    } finally {
      agent.destroy();
    }
    // Pipelined, with bodies (read and discarded) and an HTTP/1.0 keep-alive: answered in order.
    const r = await raw(
      port,
      'GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello' +
        'GET /version HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' +
        'GET /livez HTTP/1.0\r\nConnection: keep-alive\r\n\r\n' +
        'GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    assert.deepEqual(
      r.text.match(/HTTP\/1\.1 \d+/g),
      ['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 404'],
    );
    assert.ok(r.text.includes(`${len('ok\n')}Connection: keep-alive\r\n\r\nok\n`), r.text);
    assert.ok(r.closed, 'closed after Connection: close');
  });

  test('a client silent for a while before its first request is still answered', async () => {
    const r = await new Promise<string>((resolve) => {
      let got = '';
      const s = net.connect(port, '127.0.0.1', () => setTimeout(() => s.write('GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), 600));
      s.on('data', (c: Buffer) => (got += c.toString()));
      s.on('close', () => resolve(got));
    });
    assert.ok(r.startsWith('HTTP/1.1 200 OK\r\n') && r.endsWith('\r\n\r\nok\n'), r);
  });

  test('bad requests cost their connection, never the member', async () => {
    // Go's own refusals, written raw, then close.
    const refusal = (text: string): string => `HTTP/1.1 ${text}\r\n${TEXT}Connection: close\r\n\r\n${text}`;
    assert.deepEqual(await raw(port, 'GET /health HTTP/1.1\r\n\r\n'), { text: refusal('400 Bad Request: missing required Host header'), closed: true });
    assert.deepEqual(await raw(port, 'GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'), { text: refusal('400 Bad Request'), closed: true });
    assert.deepEqual(await raw(port, 'GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n'), { text: refusal('400 Bad Request'), closed: true });
    assert.deepEqual(await raw(port, 'GET health HTTP/1.1\r\nHost: a\r\n\r\n'), { text: refusal('400 Bad Request'), closed: true });
    assert.deepEqual(await raw(port, `GET /health HTTP/1.1\r\nHost: a\r\nX: ${'a'.repeat(100_000)}\r\n\r\n`), { text: refusal('431 Request Header Fields Too Large'), closed: true });
    assert.deepEqual(await raw(port, 'GET /health HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n'), { text: refusal('400 Bad Request'), closed: true });
    // What cmux would not hand to HTTP/1 is closed unanswered: not a request line, not
    // HTTP/1.x, a first line past 4096 bytes.
    for (const bytes of ['GARBAGE\r\n\r\n', 'GET /health HTTP/2.0\r\nHost: a\r\n\r\n', `GET /${'a'.repeat(5000)} HTTP/1.1\r\nHost: a\r\n\r\n`, '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 tls hello\n']) {
      assert.deepEqual(await raw(port, bytes), { text: '', closed: true }, JSON.stringify(bytes.slice(0, 40)));
    }
    // A body past what Go would read: answered, then the connection goes.
    const big = await raw(port, `GET /health HTTP/1.1\r\nHost: a\r\nContent-Length: ${1 << 20}\r\n\r\n${'x'.repeat(1000)}`);
    assert.ok(big.text.startsWith('HTTP/1.1 200 OK\r\n') && big.text.includes('Connection: close\r\n') && big.closed, big.text);
    const flood = await raw(port, Buffer.concat([Buffer.from('GET /health HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'), Buffer.from(`100000\r\n${'x'.repeat(1 << 20)}\r\n`)]), 5000);
    assert.ok(flood.closed, 'an unread chunked body past 256 KiB closes the connection');
    // Many at once, cut off anywhere.
    const cuts = Array.from({ length: 100 }, (_, i) => {
      const req = Buffer.from(`GET /readyz?verbose HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789`);
      return raw(port, req.subarray(0, (i * 7) % req.length), 300);
    });
    await Promise.all(cuts);
    await stillServes();
  });

  test('the gRPC path is unaffected, etcdctl with an http:// endpoint included', { skip: etcdctlMissing }, async () => {
    const url = `http://${server.endpoint}`;
    const put = await etcdctl(url, ['put', 'via-http-url', 'v']);
    assert.equal(put.code, 0, show(['put'], put));
    const got = await etcdctl(url, ['get', 'via-http-url', '--print-value-only']);
    assert.equal(got.stdout.trim(), 'v', show(['get'], got));
    const health = await etcdctl(url, ['endpoint', 'health']);
    assert.equal(health.code, 0, show(['endpoint', 'health'], health));
    await stillServes();
  });
});

describe('byte for byte against real etcd where 3.4 and 3.5 agree', { skip: etcdMissing, timeout: 60_000 }, () => {
  let etcd: ServerProcess;
  let ours: ServerProcess;
  before(async () => {
    [etcd, ours] = await Promise.all([startServer({ impl: 'etcd' }), startServer({ impl: 'etcd-ts' })]);
  });
  after(async () => {
    await Promise.all([etcd?.cleanup(), ours?.cleanup()]);
  });

  test('the same bytes back', async () => {
    const requests = [
      'GET /health HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      'GET /nope HTTP/1.1\r\nHost: x\r\n\r\n',
      'POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc',
      'HEAD /version HTTP/1.1\r\nHost: x\r\n\r\n',
      'HEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n',
      'OPTIONS /x HTTP/1.1\r\nHost: x\r\n\r\n',
      'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET * HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET //health?a=b HTTP/1.1\r\nHost: x\r\n\r\n',
      'PUT /./version HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n',
      'GET http://other/version HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      'GET /health HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n',
      'GET /health HTTP/1.1\r\nHost: x\r\nExpect: other\r\n\r\n',
      'GET /health HTTP/1.1\r\n\r\n',
      'GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n',
      'GARBAGE\r\n\r\n',
    ];
    // What 3.5 changed: /health has a "reason", the versions.
    const as35 = (s: string): string =>
      s
        .replace(/Content-Length: 17\r\n(Content-Type: text\/plain; charset=utf-8\r\n(?:Connection: close\r\n)?\r\n)\{"health":"true"\}/g, 'Content-Length: 29\r\n$1{"health":"true","reason":""}')
        .replace('{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}', '{"etcdserver":"3.5.17","etcdcluster":"3.5.0"}')
        .replace(/{"etcdserver":"3\.4\.\d+","etcdcluster":"3\.4\.0"}/, '{"etcdserver":"3.5.17","etcdcluster":"3.5.0"}');
    for (const req of requests) {
      const [theirs, mine] = await Promise.all([raw(portOf(etcd.endpoint), req, 800), raw(portOf(ours.endpoint), req, 800)]);
      assert.equal(mine.text, as35(theirs.text), JSON.stringify(req));
    }
  });
});

describe('a member cut off from its cluster', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster(3);
    await waitForLeader(cluster.endpoints());
  });
  after(async () => {
    await cluster?.cleanup();
  });

  test('/health is false with a reason and 503; local checks still pass', async (t) => {
    for (const ep of cluster.endpoints()) {
      assert.equal((await get(portOf(ep), '/health')).body, '{"health":"true","reason":""}', ep);
      assert.equal((await get(portOf(ep), '/readyz')).status, 200, ep);
    }
    await cluster.kill(1);
    await cluster.kill(2);
    const port = cluster.members[0].clientPort;
    // Until it sees its quorum gone, a member that led still answers; a read may then fail
    // ("RANGE ERROR:…") before the member has no leader, which is where it settles.
    const deadline = Date.now() + 40_000;
    const seen: string[] = [];
    let got = await get(port, '/health');
    while (!(got.status === 503 && got.body.includes('"RAFT NO LEADER"')) && Date.now() < deadline) {
      if (got.status !== 200) seen.push(got.body);
      await new Promise((r) => setTimeout(r, 200));
      got = await get(port, '/health');
    }
    t.diagnostic(`cut-off member's /health on the way: ${JSON.stringify([...new Set(seen)])}`);
    for (const body of seen) assert.match(body, /^\{"health":"false","reason":"RANGE ERROR:etcdserver: [^"]+"\}\n$/);
    assert.equal(got.status, 503, got.body);
    assert.equal(got.body, '{"health":"false","reason":"RAFT NO LEADER"}\n');
    assert.equal(got.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(got.headers['x-content-type-options'], 'nosniff');
    assert.equal(got.headers['access-control-allow-origin'], '*');

    // Local, serializable checks need no quorum.
    assert.deepEqual(await get(port, '/health?serializable=true').then((g) => [g.status, g.body]), [200, '{"health":"true","reason":""}']);
    assert.deepEqual(await get(port, '/livez').then((g) => [g.status, g.body]), [200, 'ok\n']);
    const readyStarted = Date.now();
    const ready = await get(port, '/readyz');
    t.diagnostic(`cut-off member's /readyz after ${Date.now() - readyStarted} ms: ${JSON.stringify(ready.body)}`);
    assert.equal(ready.status, 503);
    assert.match(ready.body, /^\[\+\]data_corruption ok\n\[\+\]serializable_read ok\n\[-\]linearizable_read failed: etcdserver: [^\n]+\n\n$/);
    assert.deepEqual(await get(port, '/readyz?exclude=linearizable_read').then((g) => [g.status, g.body]), [200, 'ok\n']);
    assert.equal(cluster.members[0].process?.proc.exitCode, null);
  });
});

describe('what a listener serves', { timeout: 30_000 }, () => {
  const grpcServer = new grpc.Server();
  const router = new HttpRouter(silent);
  router.handle('/x', () => ({ status: 200, header: [], body: 'x' }));
  const injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const listeners = new ClientListeners({ serve: (c) => injector.injectConnection(c), shutdown: () => injector.destroy() }, router, silent);
  const ports = { both: 0, http: 0, grpc: 0 };
  before(async () => {
    ports.both = await listeners.listen('http://127.0.0.1:0');
    ports.http = await listeners.listen('http://127.0.0.1:0', 'http');
    ports.grpc = await listeners.listen('http://127.0.0.1:0', 'grpc');
  });
  after(() => {
    listeners.close();
    grpcServer.forceShutdown();
  });

  /** Whether an HTTP/2 client gets the server's SETTINGS. */
  function speaksHttp2(port: number): Promise<boolean> {
    return new Promise((resolve) => {
      const s = http2.connect(`http://127.0.0.1:${port}`);
      s.on('error', () => {});
      s.once('remoteSettings', () => {
        s.close();
        resolve(true);
      });
      s.once('close', () => resolve(false));
    });
  }

  test('gRPC and HTTP on one port by default; HTTP only; gRPC only', async () => {
    assert.equal((await get(ports.both, '/x')).body, 'x');
    assert.equal(await speaksHttp2(ports.both), true);
    assert.equal((await get(ports.http, '/x')).body, 'x');
    assert.equal(await speaksHttp2(ports.http), false);
    assert.equal(await speaksHttp2(ports.grpc), true);
    // grpc-js takes everything on a gRPC-only listener, as grpc-go does on etcd's: no HTTP/1 reply.
    const r = await raw(ports.grpc, 'GET /x HTTP/1.1\r\nHost: a\r\n\r\n', 1000);
    assert.ok(!r.text.startsWith('HTTP/1.1'), r.text);
  });
});

describe('--listen-client-http-urls (etcd 3.5): HTTP moves to its own URLs', { timeout: 60_000 }, () => {
  let server: ServerProcess;
  let httpPort = 0;
  before(async () => {
    httpPort = await freePort();
    server = await startServer({ args: ['--listen-client-http-urls', `http://127.0.0.1:${httpPort}`] });
  });
  after(async () => {
    await server?.cleanup();
  });

  test('/health answers on the HTTP URL; the client URL serves gRPC only', async () => {
    const health = await get(httpPort, '/health');
    assert.equal(health.status, 200);
    assert.equal(health.body, '{"health":"true","reason":""}');
    const kv = kvClient(server.endpoint);
    try {
      await call(kv, 'Put', { key: b('k'), value: b('v') });
    } finally {
      kv.close();
    }
    const r = await raw(portOf(server.endpoint), 'GET /health HTTP/1.1\r\nHost: a\r\n\r\n', 1000);
    assert.ok(!r.text.startsWith('HTTP/1.1'), r.text);
  });
});

test('Go semantics: clean paths, query parameters, JSON strings', () => {
  assert.equal(cleanPath('//a/./b/../c/'), '/a/c/');
  assert.equal(cleanPath('/..'), '/');
  assert.equal(cleanPath(''), '/');
  assert.deepEqual([...parseQuery('a=1&a=2&b&c=%zz&d=x;y&e=%41+b&=v')], [['a', ['1', '2']], ['b', ['']], ['e', ['A b']], ['', ['v']]]);
  assert.equal(goJsonString('a"b\\c\n<&>\u2028\x01'), '"a\\"b\\\\c\\n\\u003c\\u0026\\u003e\\u2028\\u0001"');
});
