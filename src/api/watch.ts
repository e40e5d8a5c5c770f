// etcdserverpb.Watch: one bidirectional stream per client connection, many watches on it. The
// requests go to a WatchStream (watch/), its replies come back here to be put in etcd's
// WatchResponse shape and written in order. Backpressure: bytes written but not yet taken by
// HTTP/2 are counted; above a bound the stream reports itself blocked and the watchable store
// keeps its watchers' events in history until it drains.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { toPb } from '../apply/range';
import { Errors } from '../errors';
import type { Event } from '../mvcc/store';
import { embeddedBytes, encodeEvent, encodeWatchResponse, headerField, lengthDelimitedField, putVarintField, varintBytes } from '../pb/fast-codec';
import { HEADROOM_BYTES, ServerCall } from '../grpc/call';
import type { EventPb, ResponseHeader, WatchRequestPb, WatchResponsePb } from '../pb/types';
import { eventBytes, WatchStream, type WatchReply } from '../watch/watch-stream';
import type { StreamTicket } from '../etcdserver/pipeline';
import { errorCode, toStatus } from './errors';
import type { MemberApi } from './member-api';
import { messageWriter } from './message-writer';
import type { StreamControl } from './stream';
import { GRPC_OVERHEAD_BYTES } from './validate';
import { hiddenSlot } from '../hidden-slot';

/**
 * Replies in flight per stream beyond which its watchers wait in history: etcd's stream channel
 * holds 128 replies whatever their size, so a stream backs up here at as many, or at 64 MiB.
 * A reply counts once per revision it holds: etcd sends a new revision's events in a reply of
 * their own, where one of ours may carry a batch of them.
 */
const BLOCKED_REPLIES = 128;
const BLOCKED_BYTES = 64 * 1024 * 1024;
const REPLY_OVERHEAD_BYTES = 64;
/** Requests waiting behind a create's permission check, per stream, at most. */
const MAX_QUEUED_REQUESTS = 10_000;

export type WatchCall = grpc.ServerDuplexStream<WatchRequestPb, WatchResponsePb>;

export function serveWatch(call: WatchCall, ticket: StreamTicket, member: MemberApi, log: Logger): StreamControl {
  const store = member.watchable;
  const write = messageWriter(call);
  // Our own gRPC server's call takes replies encoded here (eventReplyParts); grpc-js's takes objects.
  const ownCall = call instanceof ServerCall ? call : undefined;
  let pendingBytes = 0;
  let pendingReplies = 0;
  const backedUp = (): boolean => pendingBytes > BLOCKED_BYTES || pendingReplies > BLOCKED_REPLIES;
  let ended = false;
  const fail = (err: unknown): void => {
    if (ended) return;
    ended = true;
    stream.close();
    ticket.close(errorCode(err));
    call.emit('error', toStatus(err, log));
  };
  const stream = new WatchStream(
    store,
    {
      send: (reply) => {
        if (ended || call.cancelled || call.destroyed) return;
        const size = bufferedBytes(reply);
        const replies = revisionCount(reply.events);
        const wasBackedUp = backedUp();
        pendingBytes += size;
        pendingReplies += replies;
        if (!wasBackedUp && backedUp()) log.info({ pendingBytes, pendingReplies }, 'watch stream backed up; its watchers wait in history until it drains');
        const written = (): void => {
          const wasBlocked = backedUp();
          pendingBytes -= size;
          pendingReplies -= replies;
          // Drained: let the store hand over what it held back.
          if (wasBlocked && !backedUp()) store.kick();
        };
        const parts = ownCall === undefined ? undefined : eventReplyParts(member, reply);
        if (ownCall !== undefined && parts !== undefined) ownCall.writeEncodedParts(parts.head, parts.events, parts.eventBytes, written);
        else write(toResponse(member, reply), written);
      },
      blocked: () => ended || backedUp(),
      replyBytes: (reply) => encodeWatchResponse(toResponse(member, reply)).length,
      eventBytes: (ev, prevKv) => embeddedBytes(11, encoded(ev, prevKv).length),
    },
    // etcd's watch server splits (and fragments) replies above the request limit plus the gRPC
    // allowance it grants requests.
    member.maxRequestBytes + GRPC_OVERHEAD_BYTES,
  );
  const finish = (): void => {
    if (ended) return;
    ended = true;
    stream.close();
    ticket.close();
  };
  // With auth enabled a create waits for its permission check (the token is looked up anew for
  // each create, as etcd does); requests are then served in order through `queue`. Without
  // auth, and while nothing waits, they are served at once.
  let queue: Promise<void> | undefined;
  let queued = 0;
  const serve = (req: WatchRequestPb, refusal?: string): void => {
    try {
      if (refusal !== undefined) stream.refuse(refusal);
      else handle(stream, req);
    } catch (err) {
      log.warn({ err }, 'bad watch request');
    }
  };
  call.on('data', (req: WatchRequestPb) => {
    if (ended) return;
    const create = req.create_request ?? undefined;
    if (queue === undefined && (create === undefined || !member.auth.enabled())) return serve(req);
    if (++queued > MAX_QUEUED_REQUESTS) return fail(Errors.tooManyRequests());
    const check = create === undefined ? undefined : () => member.auth.watchRefusal(ticket.context, create.key, create.range_end);
    const next: Promise<void> = (queue ?? Promise.resolve())
      .then(async () => {
        const refusal = check === undefined ? undefined : await check();
        if (!ended) serve(req, refusal);
      })
      .catch((err: unknown) => log.warn({ err }, 'watch request failed'))
      .finally(() => {
        queued--;
        if (queue === next) queue = undefined;
      });
    queue = next;
  });
  call.on('end', () => {
    finish();
    call.end();
  });
  call.on('cancelled', finish);
  call.on('close', finish);
  call.on('error', finish);
  return { fail };
}

function handle(stream: WatchStream, req: WatchRequestPb): void {
  if (req.create_request !== undefined && req.create_request !== null) {
    const c = req.create_request;
    stream.create({
      key: c.key,
      rangeEnd: c.range_end,
      startRevision: Number(c.start_revision),
      progressNotify: c.progress_notify,
      noPut: c.filters.includes(0),
      noDelete: c.filters.includes(1),
      prevKv: c.prev_kv,
      watchId: Number(c.watch_id),
      fragment: c.fragment,
    });
  } else if (req.cancel_request !== undefined && req.cancel_request !== null) {
    stream.cancel(Number(req.cancel_request.watch_id));
  } else if (req.progress_request !== undefined && req.progress_request !== null) {
    stream.requestProgress();
  }
  // Anything else is ignored, as etcd does, rather than ending the stream.
}

/** Encoded events, by event: one event usually goes to many watchers (slots, not WeakMaps: see hidden-slot.ts). */
const encodedPlain = hiddenSlot<Buffer>('event encoded');
const encodedWithPrev = hiddenSlot<Buffer>('event encoded with prev_kv');

function encoded(ev: Event, prevKv: boolean): Buffer {
  const cache = prevKv && ev.prevKv !== undefined ? encodedWithPrev : encodedPlain;
  let buf = cache.get(ev);
  if (buf === undefined) {
    const pb: EventPb = { type: ev.type === 'put' ? 0 : 1, kv: toPb(ev.kv), prev_kv: cache === encodedWithPrev && ev.prevKv !== undefined ? toPb(ev.prevKv) : undefined };
    buf = encodeEvent(pb);
    cache.set(ev, buf);
  }
  return buf;
}

/**
 * The header of the replies being sent, by revision: a notify sends one revision's events to every
 * watcher in one synchronous pass, so they share one header object (and its encoding, which
 * fast-codec caches by the last header seen). Dropped at the end of the tick: the term may change.
 */
let sharedHeader: { member: MemberApi; revision: number | null; header: ResponseHeader; field: Buffer | undefined } | undefined;

function sharedHeaderFor(member: MemberApi, revision: number | null): NonNullable<typeof sharedHeader> {
  if (sharedHeader !== undefined && sharedHeader.member === member && sharedHeader.revision === revision) return sharedHeader;
  if (sharedHeader === undefined) process.nextTick(() => (sharedHeader = undefined));
  return (sharedHeader = { member, revision, header: member.header(revision), field: undefined });
}

/** Events as WatchResponse's field 11, encoded once for every watcher they go to. */
const eventFieldPlain = hiddenSlot<Buffer>('event field');
const eventFieldWithPrev = hiddenSlot<Buffer>('event field with prev_kv');

/**
 * A reply of events in pieces for our own gRPC server's call: the head (room for the frame
 * header and message prefix, the response header, the watch id), then each event's field 11 as
 * encoded once for all its watchers, shared, not copied per watcher (see writeEncodedParts).
 * undefined for any other reply: those are encoded whole from the object.
 */
function eventReplyParts(member: MemberApi, r: WatchReply): { head: Buffer; events: Buffer[]; eventBytes: number } | undefined {
  const events = r.events;
  if (events.length === 0 || r.created === true || r.canceled === true || r.fragment === true || (r.compactRevision ?? 0) !== 0 || r.cancelReason !== undefined) return undefined;
  if (!Number.isSafeInteger(r.watchId) || r.watchId < 0) return undefined;
  const shared = sharedHeaderFor(member, r.revision);
  const header = (shared.field ??= headerField(shared.header));
  const idBytes = r.watchId === 0 ? 0 : 1 + varintBytes(r.watchId);
  const head = Buffer.allocUnsafe(HEADROOM_BYTES + header.length + idBytes);
  putVarintField(head, HEADROOM_BYTES + header.copy(head, HEADROOM_BYTES), 2, r.watchId);
  const fields: Buffer[] = new Array<Buffer>(events.length);
  let eventBytes = 0;
  for (let i = 0; i < events.length; i++) {
    const field = eventField(events[i], r.prevKv);
    fields[i] = field;
    eventBytes += field.length;
  }
  return { head, events: fields, eventBytes };
}

/** An event as WatchResponse's field 11, encoded once for every watcher it goes to. */
function eventField(ev: Event, prevKv: boolean): Buffer {
  const slot = prevKv && ev.prevKv !== undefined ? eventFieldWithPrev : eventFieldPlain;
  let field = slot.get(ev);
  if (field === undefined) slot.set(ev, (field = lengthDelimitedField(11, encoded(ev, prevKv))));
  return field;
}

function toResponse(member: MemberApi, r: WatchReply): WatchResponsePb {
  const events = r.events.map((ev) => encoded(ev, r.prevKv));
  return {
    header: sharedHeaderFor(member, r.revision).header,
    watch_id: r.watchId,
    created: r.created,
    canceled: r.canceled,
    compact_revision: r.compactRevision,
    cancel_reason: r.cancelReason,
    fragment: r.fragment,
    events,
  };
}

/** The revisions among events (in revision order); a reply without events counts as one. */
function revisionCount(events: Event[]): number {
  let n = 1;
  for (let i = 1; i < events.length; i++) if (events[i].kv.mod_revision !== events[i - 1].kv.mod_revision) n++;
  return n;
}

function bufferedBytes(r: WatchReply): number {
  let n = REPLY_OVERHEAD_BYTES;
  for (const ev of r.events) n += eventBytes(ev, r.prevKv);
  return n;
}
