// Clients that ping often (etcdctl, kube-apiserver) keep their connection: the server never
// answers pings with a too-many-pings GOAWAY, also on an idle connection.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
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
