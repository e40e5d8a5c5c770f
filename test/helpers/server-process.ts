// Starts the real etcd-ts binary as a child process on a free port with a temp data dir, and
// makes sure it is killed when the test ends, also when the test fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { kvClient, call } from './grpc-client';

export const MAIN = resolve(__dirname, '../../src/server/main.js');

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => res(port));
    });
  });
}

/** n distinct free ports: every listener stays open until all are known, so none repeats. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((res, rej) => {
          const s = createServer();
          s.on('error', rej);
          s.listen(0, '127.0.0.1', () => res(s));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const addr = s.address();
    return typeof addr === 'object' && addr !== null ? addr.port : 0;
  });
  await Promise.all(servers.map((s) => new Promise<void>((res) => s.close(() => res()))));
  return ports;
}

/** How a test client reaches a TLS client port: PEM files, or no verification (auto TLS). */
export interface ClientTls {
  ca?: string;
  cert?: string;
  key?: string;
  /** Do not verify the server's certificate (etcdctl's --insecure-skip-tls-verify). */
  insecure?: boolean;
}

export interface ServerProcess {
  endpoint: string;
  /** The client URL (scheme://127.0.0.1:port). */
  url: string;
  dataDir: string;
  proc: ChildProcess;
  stderr(): string;
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>;
  /**
   * SIGTERM and wait for the exit: a clean stop, after which the store's files hold everything
   * (after a SIGKILL the write-ahead log holds the newest part, redone at the next start).
   */
  stop(): Promise<void>;
  /** Starts the binary again on the same data dir and port. */
  restart(): Promise<ServerProcess>;
  /** Kills the process (if running) and removes the data dir. */
  cleanup(): Promise<void>;
}

export interface StartOptions {
  args?: string[];
  dataDir?: string;
  port?: number;
  env?: NodeJS.ProcessEnv;
  /** Which server to run; overrides TEST_AGAINST_ETCD (the differential test runs both at once). */
  impl?: 'etcd' | 'etcd-ts';
  /** The client URL's scheme (default http); https needs `clientTls` for the readiness probe. */
  scheme?: 'http' | 'https';
  clientTls?: ClientTls;
}

/** Starts tried when a probed free port was taken before the server bound it (EADDRINUSE). */
export const PORT_RACE_ATTEMPTS = 3;

export async function startServer(options: StartOptions = {}): Promise<ServerProcess> {
  // A port probed free may be taken before the server binds it (see startCluster): on another
  // one, unless the caller chose the port.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerOnce(options);
    } catch (err) {
      if (options.port !== undefined || attempt >= PORT_RACE_ATTEMPTS || !/EADDRINUSE/.test(String(err))) throw err;
    }
  }
}

async function startServerOnce(options: StartOptions): Promise<ServerProcess> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'etcd-ts-test-'));
  const port = options.port ?? (await freePort());
  const url = `${options.scheme ?? 'http'}://127.0.0.1:${port}`;
  const common = ['--data-dir', dataDir, '--listen-client-urls', url, '--advertise-client-urls', url, '--log-level', 'warn'];
  // TEST_AGAINST_ETCD=1 runs the same tests against real etcd, to check the tests' expectations.
  const realEtcd = options.impl !== undefined ? options.impl === 'etcd' : process.env.TEST_AGAINST_ETCD === '1';
  // Real etcd listens for peers on a free port but advertises etcd's default peer URL, as etcd-ts
  // does: the member and cluster IDs (derived from it) are then the same on both, and so are the
  // encoded sizes of every header, which decide where etcd splits a watch reply near its limit.
  const peer = realEtcd ? `http://127.0.0.1:${await freePort()}` : '';
  const advertised = 'http://localhost:2380';
  const peerArgs = realEtcd ? ['--listen-peer-urls', peer, '--initial-advertise-peer-urls', advertised, '--initial-cluster', `default=${advertised}`] : [];
  const [cmd, args] = realEtcd ? ['etcd', [...common, ...peerArgs, ...(options.args ?? [])]] : [process.execPath, [MAIN, ...common, ...(options.args ?? [])]];
  const proc = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...options.env } });
  live.add(proc);
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((res) => proc.once('exit', () => (live.delete(proc), res())));
  const endpoint = `127.0.0.1:${port}`;
  try {
    await waitReady(endpoint, proc, () => err, realEtcd ? 'etcd' : 'etcd-ts', options.scheme === 'https' ? (options.clientTls ?? { insecure: true }) : undefined);
  } catch (e) {
    // Never leave a child behind that would keep the test process alive.
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
    // A data dir made here is not the caller's to clean up (startServer may try again).
    if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  const handle: ServerProcess = {
    endpoint,
    url,
    dataDir,
    proc,
    stderr: () => err,
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
    async restart() {
      await handle.kill();
      return startServer({ ...options, dataDir, port });
    },
    async cleanup() {
      await handle.kill();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return handle;
}

const PROTO_DIR = resolve(__dirname, '../../../proto');
let kvService: grpc.ServiceClientConstructor | undefined;

/** A KV client over TLS (the helpers in grpc-client.ts dial in plain). */
export function tlsKvClient(endpoint: string, tls: ClientTls): grpc.Client {
  if (kvService === undefined) {
    const def = protoLoader.loadSync(['etcdserverpb/rpc.proto'], { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: Number, defaults: true, oneofs: true });
    kvService = (grpc.loadPackageDefinition(def) as unknown as { etcdserverpb: Record<string, grpc.ServiceClientConstructor> }).etcdserverpb.KV;
  }
  const read = (f: string | undefined): Buffer | null => (f === undefined ? null : readFileSync(f));
  const creds = grpc.credentials.createSsl(read(tls.ca), read(tls.key), read(tls.cert), tls.insecure === true ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {});
  return new kvService(endpoint, creds);
}

async function waitReady(endpoint: string, proc: ChildProcess, stderr: () => string, name: string, tls?: ClientTls): Promise<void> {
  const deadline = Date.now() + 15_000;
  const client = tls === undefined ? kvClient(endpoint) : tlsKvClient(endpoint, tls);
  try {
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${name} exited with ${proc.exitCode ?? proc.signalCode}: ${stderr()}`);
      try {
        await call(client, 'Range', { key: Buffer.from('health-probe'), serializable: true }, 1000);
        return;
      } catch (e) {
        // With auth enabled (a restart, a restored store) the member answers, without a token, with
        // an auth refusal: it is serving.
        if (/user name is empty|permission denied/.test((e as grpc.ServiceError).details ?? '')) return;
        if (Date.now() > deadline) throw new Error(`${name} did not become ready: ${String(e)}\n${stderr()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } finally {
    client.close();
  }
}

export { grpc };
