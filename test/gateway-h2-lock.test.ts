// The gateway's lock and election routes, the gateway over HTTP/2 on a TLS client port, and the
// "/v3" redirect, with curl (and node's http, https and http2 clients where a request must be
// dropped mid-wait) against the real etcd-ts process; bodies compared with real etcd 3.4 (plain
// HTTP, same member and cluster IDs) where it is installed. Covers:
//  - lock/unlock, campaign/proclaim/leader/observe/resign: etcd's JSON (int64 as strings, bytes
//    base64), the same bodies and statuses as etcd 3.4's gateway;
//  - a second Lock (Campaign) waits until the first is released; a waiter whose client goes away
//    (HTTP/1.1 and HTTP/2) gives its key up;
//  - over h2 (checked with curl's %{http_version}): put, range, txn, error bodies and statuses,
//    CORS headers, no connection headers, bodies past the limits, a watch stream, lease
//    keep-alive, snapshot, election observe, the Authorization header;
//  - "/v3" is redirected to "/v3/" (301) as by Go's mux; "/v3beta" is not.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issue, makeCa, writeCa, writeLeaf } from './helpers/certs';
import { b64, normalize } from './helpers/gateway-client';
import { startServer, type ServerProcess } from './helpers/server-process';

const curlMissing = spawnSync('curl', ['--version']).status === 0 ? false : 'curl is not installed';
const etcdMissing = spawnSync('etcd', ['--version']).status === 0 ? false : 'etcd is not installed';

type Http = '2' | '1.1' | 'plain';

interface CurlReply {
  status: number;
  /** curl's %{http_version}: "2", "1.1". */
  version: string;
  body: string;
  /** The reply's headers, names lower-cased. */
  headers: Map<string, string>;
}

const dir = mkdtempSync(join(tmpdir(), 'etcd-ts-gw-h2-'));
let caFile = '';
const children = new Set<ChildProcess>();

function httpArgs(http: Http): string[] {
  if (http === 'plain') return [];
  return ['--cacert', caFile, http === '2' ? '--http2' : '--http1.1'];
}

function urlOf(base: string, path: string): string {
  return `${base}${path}`;
}

/** Headers as curl -D writes them: the last block (after any 100 Continue). */
function parseHeaders(text: string): Map<string, string> {
  const blocks = text.split('\r\n\r\n').filter((b) => b.trim() !== '');
  const out = new Map<string, string>();
  for (const line of (blocks[blocks.length - 1] ?? '').split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) out.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim());
  }
  return out;
}

let headerFiles = 0;
/** A fresh file for curl -D (stdio pipes are sockets: /dev/stderr cannot be opened). */
const headerFile = (): string => join(dir, `headers-${++headerFiles}.txt`);

/** One request with curl; the body on stdin, the headers by -D in a file. */
function curl(base: string, http: Http, path: string, body?: string, o: { headers?: Record<string, string>; method?: string } = {}): Promise<CurlReply> {
  const file = headerFile();
  const args = ['-s', '-D', file, '-X', o.method ?? 'POST', '-w', '\n%{http_code} %{http_version}', ...httpArgs(http), urlOf(base, path)];
  if (body !== undefined) args.push('--data-binary', '@-');
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push('-H', `${k}: ${v}`);
  return new Promise((resolve, reject) => {
    const child = execFile('curl', args, { timeout: 20_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => {
      if (err) return reject(err);
      const cut = stdout.lastIndexOf('\n');
      const [status, version] = stdout.slice(cut + 1).split(' ');
      resolve({ status: Number(status), version, body: stdout.slice(0, cut), headers: parseHeaders(readFileSync(file, 'utf8')) });
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(body ?? '');
  });
}

/** A streaming reply read line by line (curl -N), for as long as the test wants it. */
interface LineStream {
  lines: string[];
  /** The status line and headers so far. */
  head(): string;
  waitLines(n: number, timeoutMs?: number): Promise<string[]>;
  close(): void;
}

function curlStream(base: string, http: Http, path: string, body: string): LineStream {
  const file = headerFile();
  const child = spawn('curl', ['-sN', '-D', file, ...httpArgs(http), '--data-binary', body, urlOf(base, path)], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const lines: string[] = [];
  let partial = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    const parts = (partial + d).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts.filter((l) => l !== ''));
  });
  return {
    lines,
    head: () => readFileSync(file, 'utf8'),
    waitLines: async (n, timeoutMs = 5000) => {
      await until(() => lines.length >= n, timeoutMs, () => `${n} lines from ${path}, got ${JSON.stringify(lines)}`);
      return lines.slice(0, n);
    },
    close: () => child.kill('SIGKILL'),
  };
}

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A request that may be dropped before its reply: over HTTP/2 (node's client) or HTTPS/1.1. */
function droppable(port: number, http: '2' | '1.1', path: string, body: string): { settled: () => boolean; drop(): void } {
  let settled = false;
  const ca = readFileSync(caFile);
  if (http === '2') {
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca, servername: '' });
    session.on('error', () => undefined);
    const req = session.request({ ':method': 'POST', ':path': path });
    req.on('response', () => (settled = true));
    req.on('error', () => undefined);
    req.end(body);
    return { settled: () => settled, drop: () => (req.close(http2.constants.NGHTTP2_CANCEL), session.close()) };
  }
  const req = https.request({ host: '127.0.0.1', port, path, method: 'POST', ca, servername: '', agent: false }, () => (settled = true));
  req.on('error', () => undefined);
  req.end(body);
  return { settled: () => settled, drop: () => req.destroy() };
}

const json = (r: CurlReply): Record<string, unknown> => JSON.parse(r.body) as Record<string, unknown>;
const unb64 = (s: unknown): string => Buffer.from(String(s), 'base64').toString();
const prefixEnd = (p: string): string => b64(p.slice(0, -1) + String.fromCharCode(p.charCodeAt(p.length - 1) + 1));

describe('gateway: lock, election, HTTP/2, /v3', { skip: curlMissing }, () => {
  let ours: ServerProcess;
  let etcd: ServerProcess | undefined;
  let tlsBase = '';
  let port = 0;

  before(async () => {
    const ca = await makeCa('etcd-ts gateway CA');
    caFile = writeCa(dir, 'ca.pem', ca);
    const server = writeLeaf(dir, 'server', await issue(ca, { cn: 'server', ips: ['127.0.0.1'], dns: ['localhost'] }));
    const starting = [startServer({ impl: 'etcd-ts', scheme: 'https', clientTls: { ca: caFile }, args: ['--cert-file', server.cert, '--key-file', server.key, '--max-request-bytes', '65536'] })];
    if (etcdMissing === false) starting.push(startServer({ impl: 'etcd' }));
    [ours, etcd] = await Promise.all(starting);
    tlsBase = `https://${ours.endpoint}`;
    port = Number(ours.endpoint.split(':')[1]);
  });

  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await Promise.all([ours?.cleanup(), etcd?.cleanup()]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** The keys (decoded) under a prefix on etcd-ts. */
  const keysUnder = async (prefix: string): Promise<string[]> => {
    const r = json(await curl(tlsBase, '1.1', '/v3/kv/range', JSON.stringify({ key: b64(prefix), range_end: prefixEnd(prefix), keys_only: true })));
    return ((r.kvs ?? []) as Array<{ key: string }>).map((kv) => unb64(kv.key));
  };

  /** Lease grant on a server; the ID as the JSON string. */
  const grant = async (base: string, http: Http): Promise<string> => String(json(await curl(base, http, '/v3/lease/grant', '{"TTL":60}')).ID);

  // First, on fresh members: the same revisions on both.
  test('lock and election bodies as etcd 3.4 writes them (ours over h2, etcd over HTTP/1.1)', { skip: etcdMissing }, async () => {
    const run = async (base: string, http: Http): Promise<string[]> => {
      const out: string[] = [];
      const id = await grant(base, http);
      const step = async (path: string, body: string): Promise<CurlReply> => {
        const r = await curl(base, http, path, body);
        out.push(`${r.status} ${r.body.split(id).join('<ID>')}`);
        return r;
      };
      const locked = json(await step('/v3/lock/lock', JSON.stringify({ name: b64('lk'), lease: id })));
      await step('/v3/lock/unlock', JSON.stringify({ key: locked.key }));
      await step('/v3/lock/unlock', JSON.stringify({ key: b64('nope') }));
      const camp = json(await step('/v3/election/campaign', JSON.stringify({ name: b64('el'), lease: id, value: b64('v1') })));
      await step('/v3/election/leader', JSON.stringify({ name: b64('el') }));
      await step('/v3/election/proclaim', JSON.stringify({ leader: camp.leader, value: b64('v2') }));
      const obs = curlStream(base, http, '/v3/election/observe', JSON.stringify({ name: b64('el') }));
      out.push(...(await obs.waitLines(1)).map((l) => `obs ${l.split(id).join('<ID>')}`));
      obs.close();
      await step('/v3/election/resign', JSON.stringify({ leader: camp.leader }));
      await step('/v3/election/leader', JSON.stringify({ name: b64('el') }));
      await step('/v3/election/resign', '{}');
      await step('/v3/election/proclaim', JSON.stringify({ leader: camp.leader, value: b64('v3') }));
      return out;
    };
    const [a, e] = await Promise.all([run(tlsBase, '2'), run(`http://${etcd?.endpoint}`, 'plain')]);
    // Keys name the lease in hex; IDs differ between the two members.
    const norm = (s: string): unknown => [s.slice(0, 4), normalize(s.slice(4), ['key'])];
    assert.deepEqual(a.map(norm), e.map(norm));
    assert.match(a[0], /^200 \{"header":\{.*"revision":"2".*\},"key":"[A-Za-z0-9+/=]+"\}$/);
    const leader = (JSON.parse(a[3].slice(4)) as { leader: Record<string, string> }).leader;
    assert.deepEqual([unb64(leader.name), typeof leader.rev, leader.lease], ['el', 'string', '<ID>']);
    assert.equal(unb64((JSON.parse(a[6].slice(4)) as { result: { kv: { value: string } } }).result.kv.value), 'v2');
    assert.match(a[8], /^500 .*election: no leader/);
  });

  test('lock: a second Lock waits until the first unlocks; a waiter whose client goes gives its key up', async () => {
    const [l1, l2] = await Promise.all([grant(tlsBase, '2'), grant(tlsBase, '2')]);
    const name = 'mutex';
    const body = (lease: string): string => JSON.stringify({ name: b64(name), lease });
    const first = await curl(tlsBase, '2', '/v3/lock/lock', body(l1));
    assert.equal(first.status, 200, first.body);
    assert.equal(first.version, '2');
    const keyA = String(json(first).key);
    assert.equal(unb64(keyA), `${name}/${BigInt(l1).toString(16)}`);
    let secondDone = false;
    const second = curl(tlsBase, '2', '/v3/lock/lock', body(l2)).finally(() => (secondDone = true));
    // Awaited below; a failure before then (the test failed elsewhere) must not go unhandled.
    second.catch(() => undefined);
    const held = (): Promise<string[]> => keysUnder(`${name}/`);
    await until(async () => (await held()).length === 2, 5000, () => 'the second waiter');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(secondDone, false, 'the second Lock returned while the first held the lock');
    const unlocked = await curl(tlsBase, '2', '/v3/lock/unlock', JSON.stringify({ key: keyA }));
    assert.equal(unlocked.status, 200);
    const got = await second;
    assert.equal(got.status, 200, got.body);
    assert.equal(unb64(json(got).key), `${name}/${BigInt(l2).toString(16)}`);

    // Waiters that go away while the lock is held: their keys are deleted (HTTP/2, then HTTP/1.1).
    for (const http of ['2', '1.1'] as const) {
      const w = droppable(port, http, '/v3/lock/lock', body(l1));
      await until(async () => (await held()).length === 2, 5000, () => `the ${http} waiter's key`);
      w.drop();
      await until(async () => (await held()).length === 1, 5000, () => `the ${http} waiter's key gone`);
      assert.equal(w.settled(), false);
    }
    assert.deepEqual(await held(), [`${name}/${BigInt(l2).toString(16)}`]);
    assert.equal((await curl(tlsBase, '2', '/v3/lock/unlock', JSON.stringify({ key: json(got).key }))).status, 200);
    assert.deepEqual(await held(), []);
  });

  test('election over h2: campaign, observe, proclaim, a waiting campaign, resign, leader', async () => {
    const [l1, l2, l3] = await Promise.all([grant(tlsBase, '2'), grant(tlsBase, '2'), grant(tlsBase, '2')]);
    const name = b64('elect');
    const candidates = (): Promise<string[]> => keysUnder('elect/');
    const c1 = await curl(tlsBase, '2', '/v3/election/campaign', JSON.stringify({ name, lease: l1, value: b64('a') }));
    assert.equal(c1.status, 200, c1.body);
    const leader1 = json(c1).leader as Record<string, string>;
    assert.deepEqual([leader1.name, leader1.lease, /^\d+$/.test(leader1.rev)], [name, l1, true]);
    const obs = curlStream(tlsBase, '2', '/v3/election/observe', JSON.stringify({ name }));
    const value = (line: string): string => unb64((JSON.parse(line) as { result: { kv: { value: string } } }).result.kv.value);
    assert.equal(value((await obs.waitLines(1))[0]), 'a');
    assert.match(obs.head(), /^HTTP\/2 200 \r\n/);
    assert.match(obs.head(), /\r\ncontent-type: application\/json\r\n/);
    assert.equal((await curl(tlsBase, '2', '/v3/election/proclaim', JSON.stringify({ leader: leader1, value: b64('b') }))).status, 200);
    assert.equal(value((await obs.waitLines(2))[1]), 'b');

    let c2Done = false;
    const c2 = curl(tlsBase, '2', '/v3/election/campaign', JSON.stringify({ name, lease: l2, value: b64('c') })).finally(() => (c2Done = true));
    c2.catch(() => undefined);
    // A campaign whose client goes away stops waiting too, and gives its key up.
    const dropped = droppable(port, '2', '/v3/election/campaign', JSON.stringify({ name, lease: l3, value: b64('x') }));
    await until(async () => (await candidates()).length === 3, 5000, () => 'three candidates');
    dropped.drop();
    await until(async () => (await candidates()).length === 2, 5000, () => "the dropped candidate's key gone");
    assert.equal(dropped.settled(), false);
    assert.equal(c2Done, false, 'the second Campaign returned while the first led');
    assert.equal((await curl(tlsBase, '2', '/v3/election/resign', JSON.stringify({ leader: leader1 }))).status, 200);
    const got = await c2;
    assert.equal(got.status, 200, got.body);
    assert.equal((json(got).leader as Record<string, string>).lease, l2);
    assert.equal(value((await obs.waitLines(3))[2]), 'c');
    const now = json(await curl(tlsBase, '2', '/v3/election/leader', JSON.stringify({ name })));
    assert.equal(unb64((now.kv as Record<string, string>).value), 'c');
    obs.close();
    assert.equal((await curl(tlsBase, '2', '/v3/election/resign', JSON.stringify({ leader: json(got).leader }))).status, 200);
    const none = await curl(tlsBase, '2', '/v3/election/leader', JSON.stringify({ name }));
    assert.deepEqual([none.status, json(none).message], [500, 'election: no leader']);
  });

  test('KV over h2: put, range, txn, errors; the same bodies as over HTTP/1.1', async () => {
    const put = await curl(tlsBase, '2', '/v3/kv/put', JSON.stringify({ key: b64('h2/foo'), value: b64('bar') }));
    assert.deepEqual([put.status, put.version], [200, '2']);
    assert.equal(put.headers.get('content-type'), 'application/json');
    assert.equal(put.headers.get('grpc-metadata-content-type'), 'application/grpc');
    assert.equal(put.headers.get('access-control-allow-origin'), '*');
    assert.equal(put.headers.get('content-length'), String(Buffer.byteLength(put.body)));
    assert.equal(put.headers.get('transfer-encoding'), undefined);
    const range = JSON.stringify({ key: b64('h2/foo') });
    const [r2, r1] = await Promise.all([curl(tlsBase, '2', '/v3/kv/range', range), curl(tlsBase, '1.1', '/v3/kv/range', range)]);
    assert.deepEqual([r2.version, r1.version], ['2', '1.1']);
    assert.equal(r2.body, r1.body);
    const kvs = json(r2).kvs as Array<Record<string, string>>;
    assert.deepEqual([unb64(kvs[0].value), json(r2).count], ['bar', '1']);
    const txn = await curl(
      tlsBase,
      '2',
      '/v3/kv/txn',
      JSON.stringify({
        compare: [{ key: b64('h2/foo'), target: 'VALUE', result: 'EQUAL', value: b64('bar') }],
        success: [{ request_put: { key: b64('h2/foo'), value: b64('baz'), prev_kv: true } }],
      }),
    );
    assert.equal(txn.status, 200, txn.body);
    assert.equal(json(txn).succeeded, true);
    const prev = ((json(txn).responses as Array<{ response_put: { prev_kv: { value: string } } }>)[0]).response_put.prev_kv;
    assert.equal(unb64(prev.value), 'bar');

    const future = await curl(tlsBase, '2', '/v3/kv/range', JSON.stringify({ key: b64('h2/foo'), revision: '100000' }));
    assert.deepEqual([future.status, future.version], [400, '2']);
    assert.deepEqual(json(future), { error: 'etcdserver: mvcc: required revision is a future revision', code: 11, message: 'etcdserver: mvcc: required revision is a future revision' });
    assert.equal(future.headers.get('access-control-allow-origin'), '*');
    const bad = await curl(tlsBase, '2', '/v3/kv/range', '{"key":');
    assert.deepEqual([bad.status, json(bad).code], [400, 3]);
    const unknown = await curl(tlsBase, '2', '/v3/kv/nope', '{}');
    assert.deepEqual([unknown.status, unknown.body], [404, 'Not Found\n']);
    const get = await curl(tlsBase, '2', '/v3/kv/range', undefined, { method: 'GET' });
    assert.deepEqual([get.status, get.body], [405, 'Method Not Allowed\n']);
    // Bounded as over HTTP/1: past --max-request-bytes, and past the body bound (read unkept).
    const big = await curl(tlsBase, '2', '/v3/kv/put', JSON.stringify({ key: b64('k'), value: Buffer.alloc(70_000, 1).toString('base64') }));
    assert.equal(big.status, 429, big.body);
    assert.match(String(json(big).message), /^grpc: received message larger than max \(\d+ vs\. 65536\)$/);
    const huge = await curl(tlsBase, '2', '/v3/kv/put', JSON.stringify({ key: b64('k'), value: Buffer.alloc(2_000_000, 1).toString('base64') }));
    assert.deepEqual([huge.status, json(huge).code], [429, 8]);
    // A large reply over h2: whole, without a Content-Length (Go's buffer is 4 KiB).
    assert.equal((await curl(tlsBase, '2', '/v3/kv/put', JSON.stringify({ key: b64('h2/big'), value: Buffer.alloc(5000, 2).toString('base64') }))).status, 200);
    const list = await curl(tlsBase, '2', '/v3/kv/range', JSON.stringify({ key: b64('h2/big') }));
    assert.equal(list.status, 200);
    assert.equal(Buffer.from(((json(list).kvs as Array<{ value: string }>)[0]).value, 'base64').length, 5000);
    assert.equal(list.headers.get('content-length'), undefined);
  });

  test('streams over h2: watch gets events as NDJSON; lease keep-alive; snapshot', async () => {
    const w = curlStream(tlsBase, '2', '/v3/watch', JSON.stringify({ create_request: { key: b64('h2w/'), range_end: prefixEnd('h2w/') } }));
    const created = JSON.parse((await w.waitLines(1))[0]) as { result: { created?: boolean } };
    assert.equal(created.result.created, true);
    assert.match(w.head(), /^HTTP\/2 200 \r\n/);
    assert.doesNotMatch(w.head(), /transfer-encoding|connection:/i);
    assert.match(w.head(), /access-control-allow-origin: \*/);
    await curl(tlsBase, '2', '/v3/kv/put', JSON.stringify({ key: b64('h2w/a'), value: b64('1') }));
    const ev = JSON.parse((await w.waitLines(2))[1]) as { result: { events: Array<{ type?: string; kv: { key: string; value: string } }> } };
    assert.deepEqual(ev.result.events.map((e) => [e.type ?? 'PUT', unb64(e.kv.key), unb64(e.kv.value)]), [['PUT', 'h2w/a', '1']]);
    w.close();

    const id = await grant(tlsBase, '2');
    const ka = await curl(tlsBase, '2', '/v3/lease/keepalive', `{"ID":"${id}"}\n{"ID":"${id}"}\n`);
    assert.equal(ka.status, 200);
    assert.deepEqual(
      ka.body.trim().split('\n').map((l) => (JSON.parse(l) as { result: { ID: string; TTL: string } }).result.ID),
      [id, id],
    );
    const snap = await curl(tlsBase, '2', '/v3/maintenance/snapshot', '{}');
    assert.equal(snap.status, 200);
    const blobs = snap.body.trim().split('\n').map((l) => Buffer.from((JSON.parse(l) as { result: { blob: string } }).result.blob, 'base64'));
    assert.equal(blobs[blobs.length - 1].length, 32);
    assert.ok(blobs.length >= 2);
    // A stream refused before any message: the error chunk, whole, with its status.
    const refused = await curl(tlsBase, '2', '/v3/watch', 'xx');
    assert.equal(refused.status, 500);
    assert.equal(refused.headers.get('content-length'), String(Buffer.byteLength(refused.body)));
  });

  test('/v3 is redirected to /v3/ (301), over HTTP/1.1 and h2; /v3beta is not', async () => {
    for (const http of ['1.1', '2'] as const) {
      const get = await curl(tlsBase, http, '/v3', undefined, { method: 'GET' });
      assert.deepEqual([get.status, get.version, get.headers.get('location'), get.body], [301, http, '/v3/', '<a href="/v3/">Moved Permanently</a>.\n\n']);
      assert.equal(get.headers.get('access-control-allow-origin'), '*');
      const post = await curl(tlsBase, http, '/v3?a=b', '{}');
      assert.deepEqual([post.status, post.headers.get('location'), post.body], [301, '/v3/?a=b', '']);
      const beta = await curl(tlsBase, http, '/v3beta', '{}');
      assert.deepEqual([beta.status, beta.body], [404, '404 page not found\n']);
    }
    const real = etcd;
    if (real === undefined) return;
    for (const [path, method] of [['/v3', 'GET'], ['/v3?a=b', 'POST'], ['/v3beta', 'POST'], ['/v3beta/', 'POST']]) {
      const [a, e]: CurlReply[] = await Promise.all([curl(tlsBase, '1.1', path, '{}', { method }), curl(`http://${real.endpoint}`, 'plain', path, '{}', { method })]);
      assert.deepEqual([a.status, a.headers.get('location'), a.headers.get('content-type'), a.body], [e.status, e.headers.get('location'), e.headers.get('content-type'), e.body], `${method} ${path}`);
    }
  });

  // Last: it leaves auth enabled.
  test('the Authorization header over h2', async () => {
    for (const [path, body] of [
      ['/v3/auth/user/add', '{"name":"root","password":"pw"}'],
      ['/v3/auth/user/grant', '{"user":"root","role":"root"}'],
      ['/v3/auth/enable', '{}'],
    ]) {
      const r = await curl(tlsBase, '2', path, body);
      assert.equal(r.status, 200, `${path}: ${r.body}`);
    }
    const token = String(json(await curl(tlsBase, '2', '/v3/auth/authenticate', '{"name":"root","password":"pw"}')).token);
    const put = JSON.stringify({ key: b64('authed'), value: b64('v') });
    const ok = await curl(tlsBase, '2', '/v3/kv/put', put, { headers: { Authorization: token } });
    assert.deepEqual([ok.status, ok.version], [200, '2']);
    const none = await curl(tlsBase, '2', '/v3/kv/put', put);
    assert.deepEqual([none.status, json(none).message], [400, 'etcdserver: user name is empty']);
    const bad = await curl(tlsBase, '2', '/v3/kv/put', put, { headers: { Authorization: 'bad' } });
    assert.deepEqual([bad.status, json(bad).message], [401, 'etcdserver: invalid auth token']);
  });
});
