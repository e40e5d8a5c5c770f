// The client-facing gRPC server: every call goes through the request pipeline to a handler of
// api/. Served by our own gRPC server (grpc/ over h2/) by default, or by grpc-js (with the fast
// unary path in front of it) when ETCD_TS_GRPC=grpc-js; the services and handlers are the same,
// written against grpc-js's call shapes, which our server's calls take.
import type * as grpc from '@grpc/grpc-js';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { GrpcServer } from '../grpc/server';
import type { CallInfo, RequestPipeline, ServiceName, StreamTicket } from '../etcdserver/pipeline';
import { serviceDefinition } from '../pb/load';
import { authHandlers } from './auth';
import { clusterHandlers } from './cluster';
import { electionHandlers, serveObserve } from './election';
import { toStatus } from './errors';
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
    // Loaded only when chosen: grpc-js is a tenth of a member's start-up.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { serveWithGrpcJs } = require('./grpc-js-server') as typeof import('./grpc-js-server');
    return serveWithGrpcJs(member, pipeline, log, (g) => registerServices(g, member, pipeline, log));
  }
  const own = new GrpcServer({
    maxReceiveBytes: member.maxRequestBytes + GRPC_OVERHEAD_BYTES,
    maxConcurrentStreams: member.maxConcurrentStreams,
    keepaliveIntervalMs: member.grpcKeepalive.intervalMs,
    keepaliveTimeoutMs: member.grpcKeepalive.timeoutMs,
    log,
  });
  registerServices(own, member, pipeline, log);
  return { serve: (connection) => own.serve(connection), shutdown: () => own.destroy() };
}

/** What both servers offer to register services with (grpc-js's addService). */
export interface ServiceRegistry {
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
