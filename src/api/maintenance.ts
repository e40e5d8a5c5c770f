// etcdserverpb.Maintenance: Status (enough for `etcdctl endpoint status|health`), Hash, HashKV
// and MoveLeader; the other methods answer UNIMPLEMENTED until the maintenance work lands.
import type * as pb from '../pb/types';
import { withHeader, type Unary } from './handler';
import type { MemberApi } from './member-api';

export interface MaintenanceHandlers {
  Status: Unary<object, pb.StatusResponse>;
  Hash: Unary<object, pb.HashResponse>;
  HashKV: Unary<pb.HashKVRequest, pb.HashKVResponse>;
  MoveLeader: Unary<pb.MoveLeaderRequest, pb.MoveLeaderResponse>;
}

export function maintenanceHandlers(member: MemberApi): MaintenanceHandlers {
  return {
    Status: async () => withHeader(member, member.status()),
    Hash: async () => withHeader(member, member.hash()),
    HashKV: async (req) => withHeader(member, member.hashKV(req)),
    MoveLeader: async (req) => {
      await member.moveLeader(req);
      return withHeader(member, {});
    },
  };
}
