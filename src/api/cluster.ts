// etcdserverpb.Cluster: the member list and membership changes (each a Raft ConfChange entry).
// Its headers carry no revision, as etcd's.
import type * as pb from '../pb/types';
import type { Unary } from './handler';
import type { MemberApi } from './member-api';

export interface ClusterHandlers {
  MemberList: Unary<object, pb.MemberListResponse>;
  MemberAdd: Unary<pb.MemberAddRequest, pb.MemberAddResponse>;
  MemberRemove: Unary<pb.MemberIdRequest, pb.MemberListResponse>;
  MemberUpdate: Unary<pb.MemberIdRequest, pb.MemberListResponse>;
  MemberPromote: Unary<pb.MemberIdRequest, pb.MemberListResponse>;
}

export function clusterHandlers(member: MemberApi): ClusterHandlers {
  const header = (): pb.ResponseHeader => member.header(null);
  return {
    MemberList: async () => ({ header: header(), members: member.memberList() }),
    MemberAdd: async (req, ctx) => {
      const { member: added, members } = await member.memberAdd(req, ctx);
      return { header: header(), member: added, members };
    },
    MemberRemove: async (req, ctx) => ({ header: header(), members: await member.memberRemove(req, ctx) }),
    MemberUpdate: async (req, ctx) => ({ header: header(), members: await member.memberUpdate(req, ctx) }),
    MemberPromote: async (req, ctx) => ({ header: header(), members: await member.memberPromote(req, ctx) }),
  };
}
