// etcdserverpb.Cluster: the member list and membership changes (each a Raft ConfChange entry).
// Its headers carry no revision, as etcd's.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Int64 } from '../pb/types';
import { unary } from './errors';
import type { EtcdServerApi } from './server-api';

interface MemberAddRequest {
  peerURLs: string[];
  isLearner: boolean;
}

interface MemberIdRequest {
  ID: Int64;
  peerURLs?: string[];
}

export function clusterService(server: EtcdServerApi, log: Logger): grpc.UntypedServiceImplementation {
  const header = () => server.header(null);
  return {
    MemberList: unary(() => ({ header: header(), members: server.members() }), log),
    MemberAdd: unary(async (req: MemberAddRequest) => {
      const { member, members } = await server.memberAdd(req.peerURLs, req.isLearner);
      return { header: header(), member, members };
    }, log, server),
    MemberRemove: unary(async (req: MemberIdRequest) => ({ header: header(), members: await server.memberRemove(String(req.ID)) }), log, server),
    MemberUpdate: unary(async (req: MemberIdRequest) => ({ header: header(), members: await server.memberUpdate(String(req.ID), req.peerURLs ?? []) }), log, server),
    MemberPromote: unary(async (req: MemberIdRequest) => ({ header: header(), members: await server.memberPromote(String(req.ID)) }), log, server),
  };
}
