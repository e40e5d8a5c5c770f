// etcdserverpb.Cluster: MemberList for now; membership changes come with multi-member clusters.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { unary } from './errors';
import type { EtcdServerApi } from './server-api';

export function clusterService(server: EtcdServerApi, log: Logger): grpc.UntypedServiceImplementation {
  return {
    MemberList: unary(() => ({ header: server.header(null), members: server.members() }), log),
  };
}
