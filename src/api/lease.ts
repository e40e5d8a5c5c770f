// etcdserverpb.Lease: LeaseGrant, LeaseRevoke, LeaseTimeToLive and LeaseLeases as handlers, and
// LeaseKeepAlive: a stream of renewals, answered in order.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { Errors } from '../errors';
import type { StreamTicket } from '../etcdserver/pipeline';
import type * as pb from '../pb/types';
import { errorCode, toStatus } from './errors';
import { withHeader, type Unary } from './handler';
import type { MemberApi } from './member-api';
import type { StreamControl } from './stream';

/** Renewals waiting on one keep-alive stream before the stream is refused more (bounded memory). */
const MAX_PENDING_RENEWALS = 10_000;

export interface LeaseHandlers {
  LeaseGrant: Unary<pb.LeaseGrantRequest, pb.LeaseGrantResponse>;
  LeaseRevoke: Unary<pb.LeaseRevokeRequest, pb.LeaseRevokeResponse>;
  LeaseTimeToLive: Unary<pb.LeaseTimeToLiveRequest, pb.LeaseTimeToLiveResponse>;
  LeaseLeases: Unary<object, pb.LeaseLeasesResponse>;
}

export function leaseHandlers(member: MemberApi): LeaseHandlers {
  return {
    // Grant and revoke: the header's revision is the one right after the change was applied.
    LeaseGrant: async (req, ctx) => withHeader(member, await member.leaseGrant(req, ctx)),
    LeaseRevoke: async (req, ctx) => withHeader(member, await member.leaseRevoke(req, ctx)),
    LeaseTimeToLive: async (req, ctx) => withHeader(member, await member.leaseTimeToLive(req, ctx)),
    LeaseLeases: async () => withHeader(member, member.leaseLeases()),
  };
}

export type KeepAliveCall = grpc.ServerDuplexStream<pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse>;

export function serveKeepAlive(call: KeepAliveCall, ticket: StreamTicket, member: MemberApi, log: Logger): StreamControl {
  let ended = false;
  let pending = 0;
  // Answers go out in request order: each renewal waits for the one before it.
  let chain: Promise<void> = Promise.resolve();
  const fail = (err: unknown): void => {
    if (ended) return;
    ended = true;
    ticket.close(errorCode(err));
    call.emit('error', toStatus(err, log));
  };
  const finish = (): void => {
    ended = true;
    ticket.close();
  };
  call.on('data', (req: pb.LeaseKeepAliveRequest) => {
    if (ended) return;
    if (++pending > MAX_PENDING_RENEWALS) return fail(Errors.tooManyRequests());
    const id = BigInt(req.ID);
    chain = chain.then(async () => {
      try {
        const ttl = await member.leaseRenew(id);
        if (!ended && !call.cancelled) call.write({ header: member.header(), ID: id.toString(), TTL: ttl });
      } catch (err) {
        fail(err);
      } finally {
        pending--;
      }
    });
  });
  call.on('end', () => {
    void chain.then(() => {
      if (ended) return;
      finish();
      call.end();
    });
  });
  call.on('cancelled', finish);
  call.on('error', finish);
  return { fail };
}
