// gRPC plumbing for the harness: etcd's services over @grpc/grpc-js (the proto files, as
// test/helpers/grpc-client.ts loads them, but with the run's channel credentials: plain, or TLS
// with --tls), channels that reconnect quickly to a restarted member, unary calls with deadlines,
// and the classification of errors into outcomes.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { resolve } from 'node:path';
import type { Msg } from '../helpers/grpc-client';

export type { Msg };

const PROTO_DIR = resolve(__dirname, '../../../proto');
let services: Record<string, grpc.ServiceClientConstructor> | undefined;

/** Channels reconnect within a second (grpc-js would back off up to 2 minutes) and notice a
 *  stopped (SIGSTOP) member through keepalive pings. */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  'grpc.keepalive_time_ms': 2000,
  'grpc.keepalive_timeout_ms': 2000,
  'grpc.keepalive_permit_without_calls': 1,
};

export type Service = 'KV' | 'Lease' | 'Watch' | 'Maintenance' | 'Cluster' | 'Auth';

export function newClient(service: Service, endpoint: string, credentials: grpc.ChannelCredentials, options: grpc.ChannelOptions = CHANNEL_OPTIONS): grpc.Client {
  if (services === undefined) {
    const def = protoLoader.loadSync(['etcdserverpb/rpc.proto'], { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: Number, defaults: true, oneofs: true });
    services = (grpc.loadPackageDefinition(def) as unknown as { etcdserverpb: Record<string, grpc.ServiceClientConstructor> }).etcdserverpb;
  }
  return new services[service](endpoint, credentials, { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1, ...options });
}

/** One client per (service, endpoint), closed together. */
export class Clients {
  private readonly map = new Map<string, grpc.Client>();

  constructor(private readonly credentials: grpc.ChannelCredentials) {}

  get(service: Service, endpoint: string): grpc.Client {
    const k = `${service} ${endpoint}`;
    let c = this.map.get(k);
    if (c === undefined) this.map.set(k, (c = newClient(service, endpoint, this.credentials)));
    return c;
  }

  /** Drops the clients of an endpoint (e.g. its member was removed). */
  forget(endpoint: string): void {
    for (const [k, c] of this.map) {
      if (k.endsWith(` ${endpoint}`)) {
        c.close();
        this.map.delete(k);
      }
    }
  }

  close(): void {
    for (const c of this.map.values()) c.close();
    this.map.clear();
  }
}

export function unary(c: grpc.Client, method: string, req: Msg, timeoutMs: number, metadata?: grpc.Metadata): Promise<Msg> {
  return new Promise((res, rej) => {
    const fn = (c as unknown as Record<string, (r: Msg, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: Msg) => void) => void>)[method];
    fn.call(c, req, metadata ?? new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (e, v) => (e ? rej(e) : res(v)));
  });
}

export function isServiceError(e: unknown): e is grpc.ServiceError {
  return typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'number';
}

/** A short, stable name for an error, for counting by kind (ports and numbers elided). */
export function errorKind(e: unknown): string {
  if (isServiceError(e)) {
    const name = grpc.status[e.code] ?? String(e.code);
    const details = (e.details ?? '').replace(/\d+(\.\d+)*/g, 'N').replace(/\s+/g, ' ').slice(0, 90);
    return `${name}: ${details}`;
  }
  return `error: ${(e instanceof Error ? e.message : String(e)).replace(/\d+/g, 'N').slice(0, 90)}`;
}

export function errorText(e: unknown): string {
  if (isServiceError(e)) return `${grpc.status[e.code] ?? e.code}: ${e.details}`;
  return e instanceof Error ? e.message : String(e);
}

/**
 * A call that was never sent: getting its auth token failed first (access.ts). Carries the
 * Authenticate error's code, so that it is counted like one, and the error itself as `cause`.
 */
export class NotSent extends Error {
  readonly code: number;
  readonly details: string;

  constructor(what: string, override readonly cause: unknown) {
    const details = `${what}: ${isServiceError(cause) ? cause.details : errorText(cause)}`;
    super(details);
    this.code = isServiceError(cause) ? cause.code : grpc.status.UNKNOWN;
    this.details = details;
  }
}

/** The error the member answered with (for a call never sent: the one that stopped it). */
export const memberError = (e: unknown): unknown => (e instanceof NotSent ? e.cause : e);

/**
 * The member refused the call's token, as etcd's clients see it (clientv3 shouldRefreshToken):
 * not (or no longer) valid there — a restarted member forgets its simple tokens, unused ones
 * expire — or issued before the auth store changed. Nothing was carried out: authenticate again
 * and send the call once more. Returns the reason, or undefined for any other error.
 */
export function tokenRefusal(e: unknown): string | undefined {
  return isServiceError(e) ? tokenRefusalIn(e.details ?? '') : undefined;
}

/** tokenRefusal of an error's text (a watch's cancel reason). */
export const tokenRefusalIn = (text: string): string | undefined => /invalid auth token|revision of auth store is old|user name is empty/.exec(text)?.[0];

/**
 * Errors after which the operation certainly did not happen: the server refused it before
 * proposing it, or its answer is a precondition that does not hold (auth refusals included: a
 * request refused at apply for its permissions changes nothing). Anything else (deadline,
 * unavailable, connection lost, leader changed, no leader, request timed out, server stopped,
 * internal errors) may hide an operation that was applied: unknown for writes.
 */
export function definitelyFailed(e: unknown): boolean {
  if (e instanceof NotSent) return true;
  if (!isServiceError(e)) return false;
  const d = e.details ?? '';
  if (e.code === grpc.status.INVALID_ARGUMENT) return true;
  if (e.code === grpc.status.UNAUTHENTICATED || e.code === grpc.status.PERMISSION_DENIED) return true;
  if (e.code === grpc.status.OUT_OF_RANGE && /compacted|future revision|too large lease TTL/.test(d)) return true;
  if (e.code === grpc.status.NOT_FOUND && /lease not found/.test(d)) return true;
  if (e.code === grpc.status.RESOURCE_EXHAUSTED && /too many requests/.test(d)) return true;
  if (e.code === grpc.status.FAILED_PRECONDITION && /lease already exists/.test(d)) return true;
  return false;
}

export const bytes = (s: string): Buffer => Buffer.from(s);
export const str = (b: Buffer | Uint8Array | string | undefined): string => (b === undefined ? '' : Buffer.from(b as Buffer).toString());
