// Auth helpers for tests: gRPC calls that carry a token, and the usual users and roles.
import * as grpc from '@grpc/grpc-js';
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
