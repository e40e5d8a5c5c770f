// v3electionpb.Election: Campaign, Proclaim, Leader, Resign and the Observe stream as etcd's
// v3election server serves them, over the member's own KV, Lease and watch
// (concurrency/election.ts). Campaign waits for leadership and stops when its call is cancelled.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { asEmbeddedClientError as viaClient } from '../concurrency/errors';
import { campaign, currentLeader, leaderHandle, observe, proclaim, resign, type Observation } from '../concurrency/election';
import type { StreamTicket } from '../etcdserver/pipeline';
import type * as pb from '../pb/types';
import { errorCode, toStatus } from './errors';
import { withHeader, type Unary } from './handler';
import type { Cancellable } from './lock';
import type { MemberApi } from './member-api';
import type { StreamControl } from './stream';

export interface ElectionHandlers {
  Campaign: Cancellable<pb.CampaignRequest, pb.CampaignResponse>;
  Proclaim: Unary<pb.ProclaimRequest, pb.ProclaimResponse>;
  Leader: Unary<pb.LeaderRequest, pb.LeaderResponse>;
  Resign: Unary<pb.ResignRequest, pb.ResignResponse>;
}

export function electionHandlers(member: MemberApi): ElectionHandlers {
  return {
    Campaign: async (req, ctx, signal) => {
      const l = await viaClient(campaign(member, ctx, req.name, BigInt(req.lease), req.value, signal));
      return withHeader(member, { header: { revision: l.revision }, leader: { name: req.name, key: l.key, rev: l.rev, lease: l.lease.toString() } });
    },
    Proclaim: async (req, ctx) => {
      const leader = leaderHandle(req.leader);
      return withHeader(member, { header: { revision: await viaClient(proclaim(member, ctx, leader, req.value)) } });
    },
    Leader: async (req, ctx) => {
      const l = await viaClient(currentLeader(member, ctx, req.name));
      return withHeader(member, { header: { revision: l.revision }, kv: l.kv });
    },
    Resign: async (req, ctx) => {
      const leader = leaderHandle(req.leader);
      return withHeader(member, { header: { revision: await viaClient(resign(member, ctx, leader)) } });
    },
  };
}

export type ObserveCall = grpc.ServerWritableStream<pb.LeaderRequest, pb.LeaderResponse>;

/**
 * Observe: the leader's kv on every change until the client goes. As etcd's, the stream ends
 * with OK when a read it needs fails (etcd's observe goroutine closes its channel then).
 */
export function serveObserve(call: ObserveCall, ticket: StreamTicket, member: MemberApi, log: Logger): StreamControl {
  let ended = false;
  // Bounded: while the client is not reading (grpc-js's buffer full), only the newest observation
  // waits for 'drain'; one it replaces is skipped (etcd's goroutine would block instead and keep
  // every change; a slow observer here sees the leader as it is now).
  let draining = false;
  let newest: Observation | undefined;
  const send = (ob: Observation): void => {
    if (ended || call.cancelled) return;
    if (draining) {
      newest = ob;
      return;
    }
    if (call.write({ header: member.header(ob.revision), kv: ob.kv })) return;
    draining = true;
    call.once('drain', () => {
      draining = false;
      const next = newest;
      newest = undefined;
      if (next !== undefined) send(next);
    });
  };
  const o = observe(
    member,
    ticket.context,
    call.request.name,
    send,
    (err) => {
      if (ended) return;
      ended = true;
      if (err !== undefined) log.info({ err }, 'election observe ended');
      ticket.close();
      if (!call.cancelled) call.end();
    },
  );
  const finish = (): void => {
    if (ended) return;
    ended = true;
    o.stop();
    ticket.close();
  };
  call.on('cancelled', finish);
  call.on('close', finish);
  call.on('error', finish);
  return {
    fail: (err) => {
      if (ended) return;
      ended = true;
      o.stop();
      ticket.close(errorCode(err));
      call.emit('error', toStatus(err, log));
    },
  };
}
