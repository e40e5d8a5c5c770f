// etcdserverpb.Maintenance: Status, Hash, HashKV, MoveLeader, Alarm, Defragment and Downgrade as
// handlers, and Snapshot, a server stream.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { StreamTicket } from '../etcdserver/pipeline';
import type * as pb from '../pb/types';
import { errorCode, toStatus } from './errors';
import { withHeader, type Unary } from './handler';
import type { MemberApi, MemberSnapshot } from './member-api';
import type { StreamControl } from './stream';

export interface MaintenanceHandlers {
  Status: Unary<object, pb.StatusResponse>;
  Hash: Unary<object, pb.HashResponse>;
  HashKV: Unary<pb.HashKVRequest, pb.HashKVResponse>;
  MoveLeader: Unary<pb.MoveLeaderRequest, pb.MoveLeaderResponse>;
  Alarm: Unary<pb.AlarmRequest, pb.AlarmResponse>;
  Defragment: Unary<object, pb.DefragmentResponse>;
  Downgrade: Unary<pb.DowngradeRequest, pb.DowngradeResponse>;
}

export function maintenanceHandlers(member: MemberApi): MaintenanceHandlers {
  return {
    Status: async () => withHeader(member, member.status()),
    // Hash, HashKV, Defragment and Snapshot need the root role when auth is enabled (etcd's
    // authMaintenanceServer); Status, MoveLeader, Alarm and Downgrade do not.
    Hash: async (_req, ctx) => withHeader(member, await member.hash(ctx)),
    HashKV: async (req, ctx) => withHeader(member, await member.hashKV(req, ctx)),
    MoveLeader: async (req) => {
      await member.moveLeader(req);
      return withHeader(member, {});
    },
    Alarm: async (req, ctx) => withHeader(member, await member.alarm(req, ctx)),
    Defragment: async (_req, ctx) => {
      await member.defragment(ctx);
      return withHeader(member, {});
    },
    // As etcd 3.5, no admin check: its auth maintenance server passes Downgrade straight on.
    Downgrade: async (req, ctx) => withHeader(member, await member.downgrade(req, ctx)),
  };
}

export interface SnapshotReply {
  remaining_bytes: string;
  blob: Buffer;
}

export type SnapshotCall = grpc.ServerWritableStream<object, SnapshotReply>;

/**
 * Maintenance.Snapshot as etcd 3.4's v3rpc/maintenance.go sends it: the db in blobs, each with
 * remaining_bytes = db bytes not yet sent (so the last db blob says 0), then the 32-byte sha256 as
 * one more blob with remaining_bytes 0. No header, as etcd. The bytes are produced as the client
 * takes them: we write while call.write() accepts and resume on 'drain', so at most grpc-js's
 * write buffer (16 messages of 32 KiB) is held, whatever the store's size. The read view goes
 * back as soon as the stream ends, fails or the client goes away.
 */
export function serveSnapshot(call: SnapshotCall, ticket: StreamTicket, member: MemberApi, log: Logger): StreamControl {
  let snap: MemberSnapshot | undefined;
  let ended = false;
  const fail = (err: unknown): void => {
    if (ended) return;
    ended = true;
    snap?.release();
    ticket.close(errorCode(err));
    call.emit('error', toStatus(err, log));
  };
  const gone = (): void => {
    if (ended) return;
    ended = true;
    snap?.release();
    ticket.close();
  };
  let sent = 0;
  const pump = (taken: MemberSnapshot): void => {
    while (!ended) {
      if (call.cancelled) return gone();
      let step: IteratorResult<Buffer>;
      try {
        step = taken.chunks.next();
      } catch (err) {
        return fail(err);
      }
      if (step.done === true) {
        ended = true;
        taken.release();
        ticket.close();
        call.end();
        return;
      }
      // Chunks past the db are the trailer: remaining_bytes stays 0 for it.
      if (sent < taken.dbBytes) sent += step.value.length;
      if (!call.write({ remaining_bytes: String(Math.max(0, taken.dbBytes - sent)), blob: step.value })) {
        call.once('drain', () => pump(taken));
        return;
      }
    }
  };
  call.on('cancelled', gone);
  call.on('error', gone);
  call.on('close', gone);
  // The admin check (auth enabled) comes first; the read view is pinned only once it passed.
  member.snapshot(ticket.context).then(
    (taken) => {
      if (ended) return taken.release();
      snap = taken;
      setImmediate(() => pump(taken));
    },
    (err: unknown) => fail(err),
  );
  return { fail };
}
