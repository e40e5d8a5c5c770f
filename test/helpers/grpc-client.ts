// Our own grpc-js client for tests: etcd's services from proto/, promisified unary calls.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { resolve } from 'node:path';

const PROTO_DIR = resolve(__dirname, '../../../proto');
const def = protoLoader.loadSync(['etcdserverpb/rpc.proto'], { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: Number, defaults: true, oneofs: true });
const pkg = grpc.loadPackageDefinition(def) as unknown as { etcdserverpb: Record<string, grpc.ServiceClientConstructor> };

function client(service: string, endpoint: string, options: grpc.ChannelOptions = {}): grpc.Client {
  return new pkg.etcdserverpb[service](endpoint, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1, ...options });
}

export const kvClientWithOptions = (endpoint: string, options: grpc.ChannelOptions): grpc.Client => client('KV', endpoint, options);

export const kvClient = (endpoint: string): grpc.Client => client('KV', endpoint);
export const maintenanceClient = (endpoint: string): grpc.Client => client('Maintenance', endpoint);
export const clusterClient = (endpoint: string): grpc.Client => client('Cluster', endpoint);
export const serviceClient = client;

// Decoded messages are dynamic; tests read fields by name.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Msg = Record<string, any>;

export function call(c: grpc.Client, method: string, req: Msg, timeoutMs = 10_000): Promise<Msg> {
  return new Promise((res, rej) => {
    const fn = (c as unknown as Record<string, (r: Msg, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: Msg) => void) => void>)[method];
    fn.call(c, req, { deadline: Date.now() + timeoutMs }, (e, v) => (e ? rej(e) : res(v)));
  });
}

/** The error a call fails with (fails the test if it succeeds). */
export async function callError(c: grpc.Client, method: string, req: Msg): Promise<grpc.ServiceError> {
  try {
    await call(c, method, req);
  } catch (e) {
    return e as grpc.ServiceError;
  }
  throw new Error(`${method} succeeded but an error was expected`);
}

export const b = (s: string): Buffer => Buffer.from(s);
