// Thin gRPC layer over etcd's KV service. The schema (method paths and
// request encoders) comes from the repo's proto/ files via proto-loader so the
// bench speaks exactly the wire format the server is built against.
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** dist/scripts/bench/*.js -> <repo>/proto. */
export const DEFAULT_PROTO_DIR = path.resolve(__dirname, '../../../proto');

export type KvMethod = protoLoader.MethodDefinition<object, object>;

export interface KvMethods {
  range: KvMethod;
  put: KvMethod;
}

function isService(def: protoLoader.AnyDefinition | undefined): def is protoLoader.ServiceDefinition {
  // Message and enum definitions carry a "format" string; services do not.
  return def !== undefined && !('format' in def);
}

function loadService(protoDir: string, name: string): protoLoader.ServiceDefinition {
  const def = protoLoader.loadSync('etcdserverpb/rpc.proto', {
    includeDirs: [protoDir],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const svc = def[name];
  if (!isService(svc)) {
    throw new Error(`${name} service not found in ${path.join(protoDir, 'etcdserverpb/rpc.proto')}`);
  }
  return svc;
}

export function loadKvMethods(protoDir: string): KvMethods {
  const svc = loadService(protoDir, 'etcdserverpb.KV');
  const range = svc['Range'];
  const put = svc['Put'];
  if (!range || !put) throw new Error('etcdserverpb.KV lacks Range or Put');
  return { range, put };
}

/**
 * A client with its own channel. grpc-js shares subchannels (and so TCP
 * connections) between clients with identical target+options through a global
 * pool; a local subchannel pool plus a per-connection option guarantees each
 * of these is a separate TCP connection.
 */
export function makeChannel(endpoint: string, connId: number): grpc.Client {
  return new grpc.Client(endpoint, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
    'grpc.channel_id': connId,
    // Bench traffic is bursty; avoid idle timeouts tearing channels down mid-run.
    'grpc.client_idle_timeout_ms': 24 * 3600 * 1000,
  });
}

export function waitReady(client: grpc.Client, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve()));
  });
}

/** Responses are not decoded: the bench only needs the status, and decoding would cost client CPU. */
export const passThrough = (b: Buffer): Buffer => b;

/** Promise-wrapped unary call; used for probes, not the hot loop. */
export function unaryCall(client: grpc.Client, method: KvMethod, req: object, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      passThrough,
      req,
      { deadline: Date.now() + timeoutMs },
      (err) => (err ? reject(err) : resolve()),
    );
  });
}

/** etcdserverpb.Watch/Watch (bidirectional stream); its requestSerialize encodes WatchRequest objects. */
export function loadWatchMethod(protoDir: string): KvMethod {
  const watch = loadService(protoDir, 'etcdserverpb.Watch')['Watch'];
  if (!watch) throw new Error('etcdserverpb.Watch lacks Watch');
  return watch;
}

/** etcdserverpb.Maintenance/Status, used to wait for a cluster to elect a leader. */
export function loadStatusMethod(protoDir: string): KvMethod {
  const status = loadService(protoDir, 'etcdserverpb.Maintenance')['Status'];
  if (!status) throw new Error('etcdserverpb.Maintenance lacks Status');
  return status;
}

/** The member's view of the leader's ID as a decimal string ("0": no leader known). */
export function statusLeader(client: grpc.Client, method: KvMethod, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      {},
      { deadline: Date.now() + timeoutMs },
      (err, res) => {
        if (err) {
          reject(err);
          return;
        }
        // uint64 decodes to a string (longs: String); an unset field (0) is absent (defaults: false).
        const leader: unknown = res === undefined ? undefined : (res as { leader?: unknown }).leader;
        resolve(typeof leader === 'string' || typeof leader === 'number' ? String(leader) : '0');
      },
    );
  });
}

export interface LeaseMethods {
  grant: KvMethod;
  revoke: KvMethod;
  /** Bidirectional stream; the lease load encodes and decodes its messages itself (lease-proto.ts). */
  keepAlive: KvMethod;
}

/** etcdserverpb.Lease: LeaseGrant and LeaseRevoke for the lease load's setup and teardown, LeaseKeepAlive for its timed part. */
export function loadLeaseMethods(protoDir: string): LeaseMethods {
  const svc = loadService(protoDir, 'etcdserverpb.Lease');
  const grant = svc['LeaseGrant'];
  const revoke = svc['LeaseRevoke'];
  const keepAlive = svc['LeaseKeepAlive'];
  if (!grant || !revoke || !keepAlive) throw new Error('etcdserverpb.Lease lacks LeaseGrant, LeaseRevoke or LeaseKeepAlive');
  return { grant, revoke, keepAlive };
}
