// etcdserverpb.Maintenance: Status for now (enough for `etcdctl endpoint status|health`); the
// other methods answer UNIMPLEMENTED until the maintenance work lands.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
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
  };
}
