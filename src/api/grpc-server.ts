// The client-facing gRPC server: every etcd service is registered, so methods not built yet answer
// UNIMPLEMENTED (grpc-js's default for a missing handler) rather than an unknown-service error.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { serviceDefinition } from '../pb/load';
import { clusterService } from './cluster';
import { kvService } from './kv';
import { maintenanceService } from './maintenance';
import { watchService } from './watch';
import { leaseService } from './lease';
import { GRPC_OVERHEAD_BYTES } from './validate';
import { useGrpcGoErrorText } from './grpc-go-errors';
import type { EtcdServerApi } from './server-api';

export function createGrpcServer(server: EtcdServerApi, log: Logger): grpc.Server {
  useGrpcGoErrorText();
  const g = new grpc.Server({
    'grpc.max_receive_message_length': server.maxRequestBytes + GRPC_OVERHEAD_BYTES,
    // Responses are not capped: a Range may return a lot.
    'grpc.max_send_message_length': -1,
    // Clients ping (etcdctl, kube-apiserver every 30 s); keep connections open for them.
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.keepalive_time_ms': 2 * 60 * 60 * 1000,
    'grpc.keepalive_timeout_ms': 20 * 1000,
    // Channelz bookkeeping costs on every call and nothing reads it.
    'grpc.enable_channelz': 0,
  });
  g.addService(serviceDefinition('etcdserverpb.KV'), kvService(server, log));
  g.addService(serviceDefinition('etcdserverpb.Maintenance'), maintenanceService(server, log));
  g.addService(serviceDefinition('etcdserverpb.Cluster'), clusterService(server, log));
  g.addService(serviceDefinition('etcdserverpb.Watch'), watchService(server, server.watchable, log));
  g.addService(serviceDefinition('etcdserverpb.Lease'), leaseService(server, log));
  for (const name of [ 'etcdserverpb.Auth', 'v3lockpb.Lock', 'v3electionpb.Election']) {
    g.addService(serviceDefinition(name), {});
  }
  return g;
}
