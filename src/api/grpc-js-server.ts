// grpc-js as the client gRPC server (ETCD_TS_GRPC=grpc-js), with the fast unary path
// (fast-unary.ts) in front of it. Kept beside our own server (grpc/) while that one is new, to
// compare and to fall back on; loaded only when chosen.
import * as grpc from '@grpc/grpc-js';
import type * as http2 from 'node:http2';
import type { Logger } from 'pino';
import type { RequestPipeline } from '../etcdserver/pipeline';
import { FastUnary } from './fast-unary';
import type { ClientGrpcServer, ServiceRegistry } from './grpc-server';
import { useGrpcGoErrorText } from './grpc-go-errors';
import type { MemberApi } from './member-api';
import { GRPC_OVERHEAD_BYTES } from './validate';

export function serveWithGrpcJs(member: MemberApi, pipeline: RequestPipeline, log: Logger, register: (g: ServiceRegistry) => void): ClientGrpcServer {
  const g = createGrpcJsServer(member, pipeline, log, register);
  const injector = g.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  installFastUnary(g);
  return {
    serve: (connection) => injector.injectConnection(connection),
    shutdown: () => {
      injector.destroy();
      g.forceShutdown();
    },
  };
}

function createGrpcJsServer(member: MemberApi, pipeline: RequestPipeline, log: Logger, register: (g: ServiceRegistry) => void): grpc.Server {
  useGrpcGoErrorText();
  const g = new grpc.Server({
    'grpc.max_receive_message_length': member.maxRequestBytes + GRPC_OVERHEAD_BYTES,
    // Responses are not capped: a Range may return a lot.
    'grpc.max_send_message_length': -1,
    'grpc.max_concurrent_streams': member.maxConcurrentStreams,
    // Clients ping (etcdctl, kube-apiserver every 30 s); keep connections open for them.
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.keepalive_time_ms': member.grpcKeepalive.intervalMs,
    'grpc.keepalive_timeout_ms': member.grpcKeepalive.timeoutMs,
    // Channelz bookkeeping costs on every call and nothing reads it.
    'grpc.enable_channelz': 0,
  });
  register(g);
  fastPaths.set(g, new FastUnary(member, pipeline, member.maxRequestBytes + GRPC_OVERHEAD_BYTES, log));
  return g;
}

const fastPaths = new WeakMap<grpc.Server, FastUnary>();
const dispatching = new WeakSet<http2.Http2Server>();

/**
 * Puts the fast unary path (fast-unary.ts) in front of grpc-js on the HTTP/2 servers grpc-js has
 * made for its connection injectors: each new stream goes to it first, and to grpc-js's own
 * handler when it declines. grpc-js keeps the sessions (settings, keepalive, GOAWAY). Reaches
 * into grpc-js's private server table: if a grpc-js upgrade moves it, this throws at start-up
 * rather than silently serving without the fast path.
 */
function installFastUnary(g: grpc.Server): void {
  const fast = fastPaths.get(g);
  if (fast === undefined) return;
  const table: unknown = Reflect.get(g, 'http2Servers');
  if (!(table instanceof Map)) throw new Error('grpc-js has no http2Servers table: the fast unary path cannot be installed');
  for (const server of table.keys() as IterableIterator<http2.Http2Server>) {
    if (dispatching.has(server)) continue;
    const handlers = server.listeners('stream') as ((stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number) => void)[];
    if (handlers.length !== 1) throw new Error(`grpc-js's server has ${handlers.length} stream handlers, expected one`);
    const [grpcJs] = handlers;
    server.removeAllListeners('stream');
    server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number) => {
      if (!fast.handle(stream, headers)) grpcJs.call(server, stream, headers, flags);
    });
    dispatching.add(server);
  }
}

