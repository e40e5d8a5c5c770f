// The dashboard's files as the member serves them at /ui/ (src/ui/ui-handler.ts): content types,
// the /ui redirect, 404 for unknown files and for paths that try to leave the root, GET/HEAD only,
// and --enable-ui=false. Over HTTP/1.1 with node's fetch and raw requests (no browser needed).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { execFile, spawnSync } from 'node:child_process';
import { startServer, type ServerProcess } from './helpers/server-process';

const curlMissing: string | false = spawnSync('curl', ['--version']).status === 0 ? false : 'curl is not installed (apt-get install curl)';
if (curlMissing) process.stdout.write(`# skipping the TLS test: ${curlMissing}\n`);

function curlOut(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile('curl', args, { timeout: 10_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))));
}

/** A raw GET of `path` exactly as written (fetch would normalise dot segments). */
function rawGet(endpoint: string, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string; location: string }> {
  const [host, port] = endpoint.split(':');
  return new Promise((resolve, reject) => {
    const req = request({ host, port: Number(port), path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body, location: String(res.headers.location ?? '') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the dashboard files at /ui/', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer();
  });
  after(() => server.cleanup());

  test('index, scripts, styles and vendored preact with their content types', async () => {
    const index = await rawGet(server.endpoint, '/ui/');
    assert.equal(index.status, 200);
    assert.equal(index.type, 'text/html; charset=utf-8');
    assert.match(index.body, /<script type="importmap">/);
    // Every file the page names is served, with the type the browser needs for a module.
    for (const [path, type] of [
      ['/ui/app/main.js', 'text/javascript; charset=utf-8'],
      ['/ui/vendor/preact.module.js', 'text/javascript; charset=utf-8'],
      ['/ui/vendor/hooks.module.js', 'text/javascript; charset=utf-8'],
      ['/ui/vendor/jsxRuntime.module.js', 'text/javascript; charset=utf-8'],
      ['/ui/style.css', 'text/css; charset=utf-8'],
      ['/ui/favicon.svg', 'image/svg+xml'],
    ]) {
      const r = await rawGet(server.endpoint, path);
      assert.equal(r.status, 200, path);
      assert.equal(r.type, type, path);
    }
    const head = await rawGet(server.endpoint, '/ui/style.css', 'HEAD');
    assert.deepEqual([head.status, head.body], [200, '']);
  });

  test('/ui redirects to /ui/; unknown files, traversal and other methods are refused', async () => {
    const redirect = await rawGet(server.endpoint, '/ui');
    assert.deepEqual([redirect.status, redirect.location], [301, '/ui/']);
    assert.equal((await rawGet(server.endpoint, '/ui/nope.js')).status, 404);
    // Encoded dot segments and slashes stay inside: nothing outside dist/ui is reachable.
    for (const path of ['/ui/%2e%2e/src/server/main.js', '/ui/..%2fsrc%2fserver%2fmain.js', '/ui/app/..%2f..%2f..%2fpackage.json', '/ui/%5c..%5cpackage.json', '/ui/app%00.js']) {
      const r = await rawGet(server.endpoint, path);
      assert.equal(r.status, 404, path);
      assert.doesNotMatch(r.body, /require\(|"name": "etcd-ts"/, path);
    }
    // A raw "../" is cleaned by the router first (a redirect out of /ui/, as Go's mux does).
    const dots = await rawGet(server.endpoint, '/ui/../package.json');
    assert.deepEqual([dots.status, dots.location], [301, '/package.json']);
    assert.equal((await rawGet(server.endpoint, '/package.json')).status, 404);
    assert.equal((await rawGet(server.endpoint, '/ui/', 'POST')).status, 405);
  });
});

describe('over TLS (auto TLS), HTTP/2 and HTTP/1.1', { skip: curlMissing }, () => {
  test('the dashboard and the gateway it calls share the TLS port', async (t) => {
    const server = await startServer({ scheme: 'https', args: ['--auto-tls'] });
    t.after(() => server.cleanup());
    for (const version of ['--http2', '--http1.1']) {
      const out = await curlOut(['-sk', version, '-o', '/dev/null', '-w', '%{http_version} %{http_code} %{content_type}', `${server.url}/ui/`]);
      assert.equal(out, `${version === '--http2' ? '2' : '1.1'} 200 text/html; charset=utf-8`, version);
      const js = await curlOut(['-sk', version, '-o', '/dev/null', '-w', '%{http_code} %{content_type}', `${server.url}/ui/app/main.js`]);
      assert.equal(js, '200 text/javascript; charset=utf-8', version);
      const missing = await curlOut(['-sk', version, '-o', '/dev/null', '-w', '%{http_code}', `${server.url}/ui/%2e%2e/package.json`]);
      assert.equal(missing, '404', version);
    }
    const status = await curlOut(['-sk', '--http2', '-X', 'POST', '-d', '{}', '-o', '/dev/null', '-w', '%{http_code}', `${server.url}/v3/maintenance/status`]);
    assert.equal(status, '200');
  });
});

describe('--enable-ui=false', () => {
  test('no dashboard, the gateway still serves', async (t) => {
    const server = await startServer({ args: ['--enable-ui=false'] });
    t.after(() => server.cleanup());
    assert.equal((await rawGet(server.endpoint, '/ui/')).status, 404);
    const r = await fetch(`${server.url}/v3/maintenance/status`, { method: 'POST', body: '{}' });
    assert.equal(r.status, 200);
  });
});
