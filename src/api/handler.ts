// A client method as a plain async function over typed messages: the gRPC server (grpc-server.ts)
// and the coming HTTP/JSON gateway call the same ones, after the request pipeline admitted the call.
import type { CallContext } from '../etcdserver/pipeline';
import type { ResponseHeader } from '../pb/types';
import type { MemberApi } from './member-api';

export type Unary<Req, Res> = (req: Req, ctx: CallContext) => Promise<Res>;

type WithHeader = { header?: { revision?: number | string } | Partial<ResponseHeader> };

/** etcd's header: the revision the call left in it (else the current one) plus this member's IDs and term. */
export function withHeader<T extends WithHeader>(member: MemberApi, resp: T): T {
  const rev = resp.header?.revision;
  resp.header = member.header(rev === undefined ? undefined : Number(rev));
  return resp;
}
