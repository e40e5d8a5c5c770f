// Auth helpers for tests: gRPC calls that carry a token, the usual users and roles, and a member
// restart whose readiness probe needs no user (server-process.ts probes with a Range, which a
// member with auth enabled refuses to a caller without a token; Status needs none).
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { MAIN, freePort, type ServerProcess } from './server-process';
import { call, serviceClient, type Msg } from './grpc-client';

export const md = (token: string | undefined): grpc.Metadata => {
  const m = new grpc.Metadata();
  if (token !== undefined) m.set('token', token);
  return m;
};

/** A unary call with the token in its metadata (none: no identity). */
export function tcall(c: grpc.Client, method: string, req: Msg, token?: string, timeoutMs = 10_000): Promise<Msg> {
  return new Promise((res, rej) => {
    const fn = (c as unknown as Record<string, (r: Msg, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: Msg) => void) => void>)[method];
    fn.call(c, req, md(token), { deadline: Date.now() + timeoutMs }, (e, v) => (e ? rej(e) : res(v)));
  });
}

/** The error a call with the token fails with, as "<code> <message>" (fails the test if it succeeds). */
export async function tcallError(c: grpc.Client, method: string, req: Msg, token?: string): Promise<string> {
  try {
    await tcall(c, method, req, token);
  } catch (e) {
    const err = e as grpc.ServiceError;
    return `${grpc.status[err.code]} ${err.details}`;
  }
  throw new Error(`${method} succeeded but an error was expected`);
}

export interface Clients {
  kv: grpc.Client;
  auth: grpc.Client;
  lease: grpc.Client;
  maintenance: grpc.Client;
  cluster: grpc.Client;
  close(): void;
}

export function clients(endpoint: string): Clients {
  const c = {
    kv: serviceClient('KV', endpoint),
    auth: serviceClient('Auth', endpoint),
    lease: serviceClient('Lease', endpoint),
    maintenance: serviceClient('Maintenance', endpoint),
    cluster: serviceClient('Cluster', endpoint),
  };
  return { ...c, close: () => Object.values(c).forEach((x) => x.close()) };
}

/** Authenticate's token for name/password. */
export async function login(auth: grpc.Client, name: string, password: string): Promise<string> {
  const r = await call(auth, 'Authenticate', { name, password });
  return String(r.token);
}

/** The permission types of authpb.Permission. */
export const READ = 0;
export const WRITE = 1;
export const READWRITE = 2;

/** root (password "rootpw") with the root role, and auth enabled: the token of root. */
export async function enableWithRoot(auth: grpc.Client): Promise<string> {
  await call(auth, 'UserAdd', { name: 'root', password: 'rootpw' });
  await call(auth, 'UserGrantRole', { user: 'root', role: 'root' });
  await call(auth, 'AuthEnable', {});
  return login(auth, 'root', 'rootpw');
}

/**
 * Starts etcd-ts (or real etcd) on a data dir, ready once Maintenance.Status names a leader: for
 * a data dir whose auth is enabled (after a restart or a snapshot restore), where
 * server-process.ts's Range probe would be refused. `impl` as server-process.ts' (default: etcd
 * with TEST_AGAINST_ETCD=1).
 */
export async function startOnDataDir(dataDir: string, o: { port?: number; impl?: 'etcd' | 'etcd-ts' } = {}): Promise<ServerProcess> {
  const port = o.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const endpoint = `127.0.0.1:${port}`;
  const realEtcd = o.impl !== undefined ? o.impl === 'etcd' : process.env.TEST_AGAINST_ETCD === '1';
  const common = ['--data-dir', dataDir, '--listen-client-urls', url, '--advertise-client-urls', url, '--log-level', 'warn'];
  const peer = `http://127.0.0.1:${await freePort()}`;
  const args = realEtcd ? [...common, '--listen-peer-urls', peer, '--initial-advertise-peer-urls', 'http://localhost:2380', '--initial-cluster', 'default=http://localhost:2380'] : [MAIN, ...common];
  const proc = spawn(realEtcd ? 'etcd' : process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  const kill = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  };
  process.once('exit', () => proc.kill('SIGKILL'));
  const m = serviceClient('Maintenance', endpoint);
  try {
    for (const deadline = Date.now() + 15_000; ; ) {
      if (proc.exitCode !== null) throw new Error(`exited with ${proc.exitCode}: ${err}`);
      const st = await call(m, 'Status', {}, 1000).catch((e: unknown) => {
        if (Date.now() > deadline) throw new Error(`not ready: ${String(e)}\n${err}`);
        return undefined;
      });
      if (st !== undefined && String(st.leader) !== '0') break;
      if (Date.now() > deadline) throw new Error(`no leader\n${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (e) {
    await kill();
    throw e;
  } finally {
    m.close();
  }
  const handle: ServerProcess = {
    endpoint,
    url,
    dataDir,
    proc,
    stderr: () => err,
    kill,
    restart: async () => {
      await kill();
      return startOnDataDir(dataDir, { port, impl: o.impl });
    },
    async cleanup() {
      await kill();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return handle;
}

/** SIGKILLs a member and starts it again on its data dir and port (see startOnDataDir). */
export async function restartMember(s: ServerProcess): Promise<ServerProcess> {
  await s.kill();
  return startOnDataDir(s.dataDir, { port: Number(s.endpoint.split(':')[1]) });
}
