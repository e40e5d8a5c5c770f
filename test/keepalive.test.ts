// Clients that ping often (etcdctl, kube-apiserver) keep their connection: the server never
// answers pings with a too-many-pings GOAWAY, also on an idle connection.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as http2 from 'node:http2';
import { startServer, type ServerProcess } from './helpers/server-process';
import { b, call, kvClientWithOptions } from './helpers/grpc-client';

describe('client keep-alive pings', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.cleanup();
  });

  test('pings every 200 ms for 3 s, idle and busy, never cost the connection', async () => {
    // A KV client whose channel pings far more often than any server policy would allow.
    const client = kvClientWithOptions(server.endpoint, {
      'grpc.keepalive_time_ms': 200,
      'grpc.keepalive_timeout_ms': 1000,
      'grpc.keepalive_permit_without_calls': 1,
    });
    let watching = true;
    try {
      await call(client, 'Put', { key: b('ka'), value: b('1') });
      const channel = client.getChannel();
      const states: grpc.connectivityState[] = [];
      const watch = (): void => {
        const s = channel.getConnectivityState(false);
        channel.watchConnectivityState(s, Infinity, () => {
          if (!watching) return;
          states.push(channel.getConnectivityState(false));
          watch();
        });
      };
      watch();
      await new Promise((r) => setTimeout(r, 1500)); // idle, pinging
      for (let i = 0; i < 20; i++) await call(client, 'Range', { key: b('ka') });
      await new Promise((r) => setTimeout(r, 1500));
      const got = await call(client, 'Range', { key: b('ka') });
      assert.equal(got.kvs[0].value.toString(), '1');
      assert.deepEqual(states, [], 'the channel never left READY (no GOAWAY, no reconnect)');
      assert.equal(channel.getConnectivityState(false), grpc.connectivityState.READY);
    } finally {
      watching = false;
      client.close();
    }
  });
});

describe('PING frames', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.cleanup();
  });

  /** A PutRequest {key, value} as a gRPC length-prefixed message. */
  function putMessage(key: string, value: string): Buffer {
    const k = Buffer.from(key);
    const v = Buffer.from(value);
    const body = Buffer.concat([Buffer.from([0x0a, k.length]), k, Buffer.from([0x12, v.length]), v]);
    const head = Buffer.alloc(5);
    head.writeUInt32BE(body.length, 1);
    return Buffer.concat([head, body]);
  }

  function ping(session: http2.ClientHttp2Session, payload: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const ok = session.ping(payload, (err, _ms, ack) => (err ? reject(err) : resolve(ack)));
      if (!ok) reject(new Error('ping not sent'));
    });
  }

  function put(session: http2.ClientHttp2Session, key: string): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': '/etcdserverpb.KV/Put', 'content-type': 'application/grpc', te: 'trailers' });
      req.on('trailers', (t) => resolve(String(t['grpc-status'])));
      req.on('error', reject);
      req.on('close', () => resolve(undefined));
      req.resume();
      req.end(putMessage(key, 'v'));
    });
  }

  test('every PING is answered with its own payload: alone, and sent right behind requests as the Go client does', async () => {
    const session = http2.connect(`http://${server.endpoint}`);
    try {
      await new Promise<void>((resolve, reject) => session.once('connect', () => resolve()).once('error', reject));
      for (let i = 0; i < 5; i++) {
        const payload = Buffer.from(`idle-00${i}`);
        const t0 = Date.now();
        assert.deepEqual(await ping(session, payload), payload);
        // Held at most briefly for other frames to leave with (no reply is coming here).
        assert.ok(Date.now() - t0 < 500, `idle PING answered after ${Date.now() - t0} ms`);
      }
      for (let round = 0; round < 20; round++) {
        const payload = Buffer.from(`busy-${String(round).padStart(3, '0')}`);
        const [status, ack] = await Promise.all([put(session, `ping-${round}`), ping(session, payload)]);
        assert.equal(status, '0');
        assert.deepEqual(ack, payload);
      }
    } finally {
      session.destroy();
    }
  });
});
