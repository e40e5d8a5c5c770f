// grpc.health.v1.Health on the client port (issue 15): Check and Watch for "" (all services),
// grpc-go's answers for unknown names, SERVING only while the member knows a leader (a member cut
// off from its 3-member cluster turns NOT_SERVING, and Watch streams the change). Real etcd 3.4
// answers the same for a healthy member and unknown names; it never turns NOT_SERVING for want
// of a leader (it sets SERVING once at start), which the issue asks us to do differently.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { startServer, type ServerProcess } from './helpers/server-process';
import { startCluster, type Cluster } from './helpers/cluster';
import type { Msg } from './helpers/grpc-client';

const PROTO_DIR = resolve(__dirname, '../../proto');
const def = protoLoader.loadSync(['grpc/health/v1/health.proto'], { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: Number, defaults: true, oneofs: true });
const Health = (grpc.loadPackageDefinition(def) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } }).grpc.health.v1.Health;
const SERVING = 1;
const NOT_SERVING = 2;
const SERVICE_UNKNOWN = 3;
const etcdMissing = spawnSync('etcd', ['--version']).status === 0 ? false : 'etcd is not on PATH';

function check(c: grpc.Client, service: string): Promise<Msg> {
  return new Promise((res, rej) => (c as unknown as { Check: (r: Msg, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: Msg) => void) => void }).Check({ service }, { deadline: Date.now() + 5000 }, (e, v) => (e ? rej(e) : res(v))));
}

function watch(c: grpc.Client, service: string): { statuses: number[]; stream: grpc.ClientReadableStream<Msg> } {
  const stream = (c as unknown as { Watch: (r: Msg) => grpc.ClientReadableStream<Msg> }).Watch({ service });
  const statuses: number[] = [];
  stream.on('data', (r: Msg) => statuses.push(r.status));
  stream.on('error', () => undefined);
  return { statuses, stream };
}

async function until(what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

for (const impl of ['etcd-ts', 'etcd'] as const) {
  describe(`gRPC health on one member (${impl})`, { skip: impl === 'etcd' ? etcdMissing : false }, () => {
    let server: ServerProcess | undefined;
    after(async () => server?.cleanup());
    it('Check "" is SERVING, an unknown service NOT_FOUND; Watch sends SERVING, SERVICE_UNKNOWN for others', async () => {
      server = await startServer({ impl });
      const c = new Health(server.endpoint, grpc.credentials.createInsecure());
      try {
        assert.equal((await check(c, '')).status, SERVING);
        const err = await check(c, 'etcdserverpb.KV').then(() => undefined, (e: grpc.ServiceError) => e);
        assert.deepEqual({ code: err?.code, details: err?.details }, { code: grpc.status.NOT_FOUND, details: 'unknown service' });
        const all = watch(c, '');
        const other = watch(c, 'nope');
        await until('the first Watch answers', () => all.statuses.length > 0 && other.statuses.length > 0, 5000);
        assert.deepEqual(all.statuses, [SERVING]);
        assert.deepEqual(other.statuses, [SERVICE_UNKNOWN]);
        all.stream.cancel();
        other.stream.cancel();
      } finally {
        c.close();
      }
    });
  });
}

describe('gRPC health of a member cut off from its cluster (etcd-ts)', () => {
  let cluster: Cluster | undefined;
  after(async () => cluster?.cleanup());
  it('turns NOT_SERVING when the other two members die, and Watch streams the change', async () => {
    cluster = await startCluster(3);
    const [ep] = cluster.endpoints();
    const c = new Health(ep, grpc.credentials.createInsecure());
    try {
      await until('SERVING with a leader', async () => (await check(c, '')).status === SERVING);
      const w = watch(c, '');
      await until('Watch sends SERVING', () => w.statuses.length > 0, 5000);
      assert.deepEqual(w.statuses, [SERVING]);
      await Promise.all([cluster.kill(1), cluster.kill(2)]);
      await until('NOT_SERVING without a leader', async () => (await check(c, '')).status === NOT_SERVING, 20_000);
      await until('Watch streams NOT_SERVING', () => w.statuses.includes(NOT_SERVING), 5000);
      assert.deepEqual(w.statuses, [SERVING, NOT_SERVING]);
      // Back to SERVING once a quorum (and a leader) returns.
      await cluster.start(1);
      await until('SERVING again', async () => (await check(c, '')).status === SERVING, 20_000);
      await until('Watch streams SERVING again', () => w.statuses.length === 3, 5000);
      assert.deepEqual(w.statuses, [SERVING, NOT_SERVING, SERVING]);
      w.stream.cancel();
    } finally {
      c.close();
    }
  });
});
