// v3lockpb.Lock: Lock and Unlock as etcd's v3lock server serves them, over the member's own
// KV, Lease and watch (concurrency/mutex.ts). Lock may wait long: it takes the call's AbortSignal,
// so a cancelled call (or one past its deadline) stops waiting and gives its key up.
import type { CallContext } from '../etcdserver/pipeline';
import { asEmbeddedClientError as viaClient } from '../concurrency/errors';
import { lock, unlock } from '../concurrency/mutex';
import type * as pb from '../pb/types';
import { withHeader, type Unary } from './handler';
import type { MemberApi } from './member-api';

/** A handler that waits until something happens, and stops when its call is cancelled. */
export type Cancellable<Req, Res> = (req: Req, ctx: CallContext, signal: AbortSignal) => Promise<Res>;

export interface LockHandlers {
  Lock: Cancellable<pb.LockRequest, pb.LockResponse>;
  Unlock: Unary<pb.UnlockRequest, pb.UnlockResponse>;
}

export function lockHandlers(member: MemberApi): LockHandlers {
  return {
    Lock: async (req, ctx, signal) => {
      const held = await viaClient(lock(member, ctx, req.name, BigInt(req.lease), signal));
      return withHeader(member, { header: { revision: held.revision }, key: held.key });
    },
    Unlock: async (req, ctx) => withHeader(member, { header: { revision: await viaClient(unlock(member, ctx, req.key)) } }),
  };
}
