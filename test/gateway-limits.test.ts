// The gateway's switches and bounds on etcd-ts: --enable-grpc-gateway=false leaves /v3/ to the
// mux's 404 (as etcd without a gateway); a body past the bound is refused with grpc-go's
// message-size error (429) without being buffered; the snapshot stream arrives as NDJSON blobs
// whose bytes add up; a request past --max-request-bytes gets etcd's 429.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { NdjsonResponse } from '../src/gateway/ndjson';
import { startServer, type ServerProcess } from './helpers/server-process';
import { b64, curl } from './helpers/gateway-client';

const curlMissing = spawnSync('curl', ['--version']).status === 0 ? false : 'curl is not installed';

describe('gRPC gateway switches and bounds', { skip: curlMissing }, () => {
  let on: ServerProcess;
  let off: ServerProcess;
  before(async () => {
    [on, off] = await Promise.all([startServer({ impl: 'etcd-ts', args: ['--max-request-bytes', '65536'] }), startServer({ impl: 'etcd-ts', args: ['--enable-grpc-gateway=false'] })]);
  });
  after(async () => {
    await Promise.all([on?.cleanup(), off?.cleanup()]);
  });

  test('--enable-grpc-gateway=false: /v3/ is 404 as any unknown path', async () => {
    const r = await curl(off.endpoint, '/v3/kv/range', '{}');
    assert.deepEqual([r.status, r.body], [404, '404 page not found\n']);
    assert.equal((await curl(off.endpoint, '/health', undefined, {}, 'GET')).status, 200);
  });

  test('request size: past --max-request-bytes 429; past the body bound 429 unread', async () => {
    const big = JSON.stringify({ key: b64('k'), value: Buffer.alloc(70_000, 1).toString('base64') });
    const r = await curl(on.endpoint, '/v3/kv/put', big);
    assert.equal(r.status, 429, r.body);
    assert.match(JSON.parse(r.body).message, /^grpc: received message larger than max \(\d+ vs\. 65536\)$/);
    const huge = JSON.stringify({ key: b64('k'), value: Buffer.alloc(2_000_000, 1).toString('base64') });
    const h = await curl(on.endpoint, '/v3/kv/put', huge);
    assert.equal(h.status, 429, h.body);
    assert.equal(JSON.parse(h.body).code, 8);
    // The member still serves.
    assert.equal((await curl(on.endpoint, '/v3/kv/put', JSON.stringify({ key: b64('k'), value: b64('v') }))).status, 200);
  });

  test("a stream's error chunk: grpc-gateway v1.16's StreamError, status set when nothing was sent", async () => {
    const server = http.createServer((_req, res) => {
      const out = new NdjsonResponse(res, []);
      out.error(7, 'etcdserver: permission denied');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address();
    const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    const r = await curl(`127.0.0.1:${port}`, '/v3/watch', '{}');
    server.close();
    assert.deepEqual(r, {
      status: 403,
      contentType: 'application/json',
      body: '{"error":{"grpc_code":7,"http_code":403,"message":"etcdserver: permission denied","http_status":"Forbidden"}}',
    });
  });

  test('snapshot: NDJSON blobs, remaining_bytes counting down, the sha256 last', async () => {
    const r = await curl(on.endpoint, '/v3/maintenance/snapshot', '{}');
    assert.equal(r.status, 200);
    const msgs = r.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).result as { remaining_bytes?: string; blob: string });
    const blobs = msgs.map((m) => Buffer.from(m.blob, 'base64'));
    assert.equal(blobs[blobs.length - 1].length, 32);
    const dbBytes = blobs.slice(0, -1).reduce((n, b) => n + b.length, 0);
    assert.equal(Number(msgs[0].remaining_bytes), dbBytes - blobs[0].length);
    assert.equal(msgs[msgs.length - 1].remaining_bytes, undefined);
  });
});
