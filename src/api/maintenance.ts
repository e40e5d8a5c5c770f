// etcdserverpb.Maintenance: Status (enough for `etcdctl endpoint status|health`), Hash, HashKV
// and MoveLeader; the other methods answer UNIMPLEMENTED until the maintenance work lands.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { HashKVRequest, MoveLeaderRequest } from '../pb/types';
import { unary } from './errors';
import type { EtcdServerApi } from './server-api';

export function maintenanceService(server: EtcdServerApi, log: Logger): grpc.UntypedServiceImplementation {
  return {
    Status: unary(() => {
      const s = server.status();
      return {
        header: server.header(),
        version: s.version,
        dbSize: s.dbSize,
        leader: s.leader,
        raftIndex: s.raftIndex,
        raftTerm: s.raftTerm,
        raftAppliedIndex: s.raftAppliedIndex,
        errors: s.errors,
        dbSizeInUse: s.dbSizeInUse,
        isLearner: s.isLearner,
      };
    }, log),
    HashKV: unary((req: HashKVRequest) => {
      const h = server.hashKV(Number(req.revision));
      return { header: server.header(h.revision), hash: h.hash, compact_revision: h.compacted, hash_revision: h.hashRevision };
    }, log),
    Hash: unary(() => ({ header: server.header(), hash: server.hash() }), log),
    MoveLeader: unary(async (req: MoveLeaderRequest) => {
      await server.moveLeader(String(req.targetID));
      return { header: server.header() };
    }, log),
  };
}
