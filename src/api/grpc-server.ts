// The client-facing gRPC server: every call goes through the request pipeline to a handler of
// api/. Served by our own gRPC server (grpc/ over h2/) by default, or by grpc-js (with the fast
// unary path in front of it) when ETCD_TS_GRPC=grpc-js; the services and handlers are the same,
// written against grpc-js's call shapes, which our server's calls take.
import * as grpc from '@grpc/grpc-js';
import type * as http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { GrpcServer } from '../grpc/server';
import type { CallInfo, RequestPipeline, ServiceName, StreamTicket } from '../etcdserver/pipeline';
import { serviceDefinition } from '../pb/load';
import { authHandlers } from './auth';
import { clusterHandlers } from './cluster';
import { electionHandlers, serveObserve } from './election';
import { toStatus } from './errors';
import { FastUnary } from './fast-unary';
import { useGrpcGoErrorText } from './grpc-go-errors';
import type { Unary } from './handler';
import { healthService } from './health';
import { kvHandlers } from './kv';
import { leaseHandlers, serveKeepAlive } from './lease';
import { lockHandlers, type Cancellable } from './lock';
import { maintenanceHandlers, serveSnapshot } from './maintenance';
import type { MemberApi } from './member-api';
import type { StreamControl } from './stream';
import { GRPC_OVERHEAD_BYTES } from './validate';
import { serveWatch } from './watch';

/** The client-facing gRPC server as the listeners use it: connections in, shut down at stop. */
export interface ClientGrpcServer {
  /** Serves one connection (past TLS and the listener's protocol sniffing). */
  serve(connection: Duplex): void;
  /** Ends every connection at once. */
  shutdown(): void;
}

/**
 * Which implementation serves gRPC: ours (grpc/, on our own HTTP/2), or grpc-js with the fast
 * unary path when ETCD_TS_GRPC=grpc-js (kept while ours is new, to compare and to fall back on).
 */
function ownServerChosen(): boolean {
  return process.env['ETCD_TS_GRPC'] !== 'grpc-js';
}

export function createGrpcServer(member: MemberApi, pipeline: RequestPipeline, log: Logger): ClientGrpcServer {
  if (!ownServerChosen()) {
    const g = createGrpcJsServer(member, pipeline, log);
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
  const own = new GrpcServer({ maxReceiveBytes: member.maxRequestBytes + GRPC_OVERHEAD_BYTES, maxConcurrentStreams: member.maxConcurrentStreams, log });
  registerServices(own, member, pipeline, log);
  return { serve: (connection) => own.serve(connection), shutdown: () => own.destroy() };
}

function createGrpcJsServer(member: MemberApi, pipeline: RequestPipeline, log: Logger): grpc.Server {
  useGrpcGoErrorText();
  const g = new grpc.Server({
    'grpc.max_receive_message_length': member.maxRequestBytes + GRPC_OVERHEAD_BYTES,
    // Responses are not capped: a Range may return a lot.
    'grpc.max_send_message_length': -1,
    'grpc.max_concurrent_streams': member.maxConcurrentStreams,
    // Clients ping (etcdctl, kube-apiserver every 30 s); keep connections open for them.
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.keepalive_time_ms': 2 * 60 * 60 * 1000,
    'grpc.keepalive_timeout_ms': 20 * 1000,
    // Channelz bookkeeping costs on every call and nothing reads it.
    'grpc.enable_channelz': 0,
  });
  registerServices(g, member, pipeline, log);
  fastPaths.set(g, new FastUnary(member, pipeline, member.maxRequestBytes + GRPC_OVERHEAD_BYTES, log));
  return g;
}

/** What both servers offer to register services with (grpc-js's addService). */
interface ServiceRegistry {
  addService(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void;
}

function registerServices(g: ServiceRegistry, member: MemberApi, pipeline: RequestPipeline, log: Logger): void {
  const unary = <Req, Res>(service: ServiceName, method: string, handler: Unary<Req, Res>): grpc.handleUnaryCall<Req, Res> => {
    return (call, callback) => {
      pipeline.unary(callInfo(service, method, call), call.request, handler).then(
        (res) => callback(null, res),
        (err: unknown) => callback(toStatus(err, log)),
      );
    };
  };
  /** A unary call that may wait long (Lock, Campaign): its handler learns when the call is cancelled. */
  const waiting = <Req, Res>(service: ServiceName, method: string, handler: Cancellable<Req, Res>): grpc.handleUnaryCall<Req, Res> => {
    return (call, callback) => {
      const abort = new AbortController();
      call.on('cancelled', () => abort.abort());
      unary(service, method, (req: Req, ctx) => handler(req, ctx, abort.signal))(call, callback);
    };
  };
  /** A streaming call admitted by the pipeline, then served; the pipeline may end it later (serve's fail). */
  const admitStream = (service: ServiceName, method: string, call: { metadata: grpc.Metadata; emit(event: 'error', status: object): boolean }, serve: (ticket: StreamTicket) => StreamControl): void => {
    let control: StreamControl | undefined;
    let ticket: StreamTicket;
    try {
      ticket = pipeline.openStream(callInfo(service, method, call), (err) => control?.fail(err));
    } catch (err) {
      call.emit('error', toStatus(err, log));
      return;
    }
    control = serve(ticket);
  };
  const stream = <Req, Res>(service: ServiceName, method: string, serve: (call: grpc.ServerDuplexStream<Req, Res>, ticket: StreamTicket) => StreamControl): grpc.handleBidiStreamingCall<Req, Res> => {
    return (call) => admitStream(service, method, call, (ticket) => serve(call, ticket));
  };
  const serverStream = <Req, Res>(service: ServiceName, method: string, serve: (call: grpc.ServerWritableStream<Req, Res>, ticket: StreamTicket) => StreamControl): grpc.handleServerStreamingCall<Req, Res> => {
    return (call) => admitStream(service, method, call, (ticket) => serve(call, ticket));
  };

  const kv = kvHandlers(member);
  g.addService(serviceDefinition('etcdserverpb.KV'), {
    Range: unary('KV', 'Range', kv.Range),
    Put: unary('KV', 'Put', kv.Put),
    DeleteRange: unary('KV', 'DeleteRange', kv.DeleteRange),
    Txn: unary('KV', 'Txn', kv.Txn),
    Compact: unary('KV', 'Compact', kv.Compact),
  });
  g.addService(serviceDefinition('etcdserverpb.Watch'), {
    Watch: stream('Watch', 'Watch', (call, ticket) => serveWatch(call, ticket, member, log)),
  });
  const lease = leaseHandlers(member);
  g.addService(serviceDefinition('etcdserverpb.Lease'), {
    LeaseGrant: unary('Lease', 'LeaseGrant', lease.LeaseGrant),
    LeaseRevoke: unary('Lease', 'LeaseRevoke', lease.LeaseRevoke),
    LeaseTimeToLive: unary('Lease', 'LeaseTimeToLive', lease.LeaseTimeToLive),
    LeaseLeases: unary('Lease', 'LeaseLeases', lease.LeaseLeases),
    LeaseKeepAlive: stream('Lease', 'LeaseKeepAlive', (call, ticket) => serveKeepAlive(call, ticket, member, log)),
  });
  const cluster = clusterHandlers(member);
  g.addService(serviceDefinition('etcdserverpb.Cluster'), {
    MemberList: unary('Cluster', 'MemberList', cluster.MemberList),
    MemberAdd: unary('Cluster', 'MemberAdd', cluster.MemberAdd),
    MemberRemove: unary('Cluster', 'MemberRemove', cluster.MemberRemove),
    MemberUpdate: unary('Cluster', 'MemberUpdate', cluster.MemberUpdate),
    MemberPromote: unary('Cluster', 'MemberPromote', cluster.MemberPromote),
  });
  const maintenance = maintenanceHandlers(member);
  g.addService(serviceDefinition('etcdserverpb.Maintenance'), {
    Status: unary('Maintenance', 'Status', maintenance.Status),
    Hash: unary('Maintenance', 'Hash', maintenance.Hash),
    HashKV: unary('Maintenance', 'HashKV', maintenance.HashKV),
    MoveLeader: unary('Maintenance', 'MoveLeader', maintenance.MoveLeader),
    Alarm: unary('Maintenance', 'Alarm', maintenance.Alarm),
    Defragment: unary('Maintenance', 'Defragment', maintenance.Defragment),
    Downgrade: unary('Maintenance', 'Downgrade', maintenance.Downgrade),
    Snapshot: serverStream('Maintenance', 'Snapshot', (call, ticket) => serveSnapshot(call, ticket, member, log)),
  });
  const auth = authHandlers(member);
  g.addService(serviceDefinition('etcdserverpb.Auth'), {
    AuthEnable: unary('Auth', 'AuthEnable', auth.AuthEnable),
    AuthDisable: unary('Auth', 'AuthDisable', auth.AuthDisable),
    AuthStatus: unary('Auth', 'AuthStatus', auth.AuthStatus),
    Authenticate: unary('Auth', 'Authenticate', auth.Authenticate),
    UserAdd: unary('Auth', 'UserAdd', auth.UserAdd),
    UserGet: unary('Auth', 'UserGet', auth.UserGet),
    UserList: unary('Auth', 'UserList', auth.UserList),
    UserDelete: unary('Auth', 'UserDelete', auth.UserDelete),
    UserChangePassword: unary('Auth', 'UserChangePassword', auth.UserChangePassword),
    UserGrantRole: unary('Auth', 'UserGrantRole', auth.UserGrantRole),
    UserRevokeRole: unary('Auth', 'UserRevokeRole', auth.UserRevokeRole),
    RoleAdd: unary('Auth', 'RoleAdd', auth.RoleAdd),
    RoleGet: unary('Auth', 'RoleGet', auth.RoleGet),
    RoleList: unary('Auth', 'RoleList', auth.RoleList),
    RoleDelete: unary('Auth', 'RoleDelete', auth.RoleDelete),
    RoleGrantPermission: unary('Auth', 'RoleGrantPermission', auth.RoleGrantPermission),
    RoleRevokePermission: unary('Auth', 'RoleRevokePermission', auth.RoleRevokePermission),
  });
  const lock = lockHandlers(member);
  g.addService(serviceDefinition('v3lockpb.Lock'), {
    Lock: waiting('Lock', 'Lock', lock.Lock),
    Unlock: unary('Lock', 'Unlock', lock.Unlock),
  });
  const election = electionHandlers(member);
  g.addService(serviceDefinition('v3electionpb.Election'), {
    Campaign: waiting('Election', 'Campaign', election.Campaign),
    Proclaim: unary('Election', 'Proclaim', election.Proclaim),
    Leader: unary('Election', 'Leader', election.Leader),
    Resign: unary('Election', 'Resign', election.Resign),
    Observe: serverStream('Election', 'Observe', (call, ticket) => serveObserve(call, ticket, member, log)),
  });
  // Outside the pipeline: a load balancer's probe carries no token and must not be refused for
  // want of a leader, which is what it asks about.
  g.addService(serviceDefinition('grpc.health.v1.Health'), { ...healthService(member) });
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

/** The parts of a grpc-js call the pipeline looks at. */
interface GrpcCall {
  metadata: grpc.Metadata;
  getAuthContext?(): { sslPeerCertificate?: { subject?: Record<string, string | string[] | undefined> } } | null;
}

/**
 * What the pipeline knows of a gRPC call. The client certificate's CN (etcd's AuthInfoFromTLS,
 * used with --client-cert-auth when a call has no token) is the verified certificate of the TLS
 * connection grpc-js serves the call on. A connection our listener serves through the authority
 * rewriter (etcdctl 3.4's per-endpoint commands) is no TLSSocket to grpc-js: such calls have no CN.
 */
function callInfo(service: ServiceName, method: string, call: GrpcCall): CallInfo {
  return {
    service,
    method,
    meta: (key) => {
      const v = call.metadata.get(key)[0];
      return typeof v === 'string' ? v : undefined;
    },
    commonName: () => {
      const cn = call.getAuthContext?.()?.sslPeerCertificate?.subject?.CN;
      return typeof cn === 'string' && cn !== '' ? cn : undefined;
    },
  };
}
