// One client Watch stream (etcd's serverWatchStream + watchStream): the watch IDs it owns, the
// create / cancel / progress requests, and the replies for them, in order. It knows etcd's
// rules for those requests but nothing of gRPC or protobuf: api/watch.ts turns replies into
// WatchResponse messages and tells it when the connection is backed up.
import type { Event } from '../mvcc/store';
import type { KeyValue } from '../mvcc/kv-record';
import type { WatchableStore } from './watchable-store';
import { rangeEnd } from '../mvcc/range-end';
import type { WatchEnd, Watcher, WatchSink } from './watcher';

/** A reply before encoding. `revision` goes into the header (null: none, as etcd leaves it). */
export interface WatchReply {
  watchId: number;
  revision: number | null;
  created?: boolean;
  canceled?: boolean;
  compactRevision?: number;
  cancelReason?: string;
  fragment?: boolean;
  events: Event[];
  /** Whether events carry their previous versions (the watcher asked for prev_kv). */
  prevKv: boolean;
}

export interface WatchOutput {
  send(reply: WatchReply): void;
  /**
   * Encoded sizes, by which etcd fragments: of a reply without its events, and what one event
   * adds to it.
   */
  replyBytes(reply: WatchReply): number;
  eventBytes(ev: Event, prevKv: boolean): number;
  /** Whether the connection is backed up (the store then holds events back in history). */
  blocked(): boolean;
}

export interface CreateRequest {
  key: Buffer;
  rangeEnd: Buffer;
  startRevision: number;
  progressNotify: boolean;
  noPut: boolean;
  noDelete: boolean;
  prevKv: boolean;
  watchId: number;
  fragment: boolean;
}

/** etcd's watch ID for replies that belong to no watcher (refusals, stream-wide progress). */
export const INVALID_WATCH_ID = -1;

export const WatchErrors = {
  emptyRange: 'mvcc: watcher range is empty',
  duplicateId: 'mvcc: duplicate watch ID provided on the WatchStream',
  /** Ours: etcd has no limit; a stream past ours is refused more watchers, with this reason. */
  tooManyWatchers: 'etcdserver: too many watchers on the stream',
};

/**
 * Watchers one stream may hold. etcd sets none; clients multiplex all their watchers over one
 * stream (a kube-apiserver holds a few thousand), so this only stops a runaway client.
 */
export const MAX_WATCHERS_PER_STREAM = 100_000;

/** Bytes of an event beside its key and value, in the buffered-bytes estimate. */
const EVENT_OVERHEAD_BYTES = 40;
/** etcd's watchBatchMaxRevs. */
const MAX_REVISIONS_PER_REPLY = 1000;

export class WatchStream implements WatchSink {
  private readonly watchers = new Map<number, Watcher>();
  private nextId = 0;
  private progressPending = false;
  private closed = false;

  constructor(
    private readonly store: WatchableStore,
    private readonly out: WatchOutput,
    private readonly maxReplyBytes: number,
  ) {}

  get size(): number {
    return this.watchers.size;
  }

  /**
   * A create refused before it got here (auth: etcd's isWatchPermitted): created and canceled at
   * once, with watch ID -1 and the reason, as etcd answers it; the stream goes on.
   */
  refuse(reason: string): void {
    this.out.send({ watchId: INVALID_WATCH_ID, revision: this.store.rev(), created: true, canceled: true, cancelReason: reason, events: [], prevKv: false });
  }

  create(req: CreateRequest): void {
    const refuse = (reason: string): void => this.refuse(reason);
    const rev = this.store.rev();
    // An empty key is the smallest key; a range end of "\0" means every key from key on.
    const key = req.key.length === 0 ? Buffer.from([0]) : req.key;
    const end: WatchEnd = rangeEnd(req.rangeEnd);
    if (end !== undefined && end.length > 0 && Buffer.compare(key, end) >= 0) return refuse(WatchErrors.emptyRange);
    if (this.watchers.size >= MAX_WATCHERS_PER_STREAM) return refuse(WatchErrors.tooManyWatchers);
    let id = req.watchId;
    if (id === 0) {
      // etcd's auto IDs: per stream, from 0, skipping IDs the client chose.
      while (this.watchers.has(this.nextId)) this.nextId++;
      id = this.nextId++;
    } else if (this.watchers.has(id)) {
      return refuse(WatchErrors.duplicateId);
    }
    // The created reply goes out before any event of the watcher: the store hands events over
    // only from the next applied batch or catch-up pass, never from inside watch().
    this.out.send({ watchId: id, revision: rev, created: true, events: [], prevKv: false });
    const w = this.store.watch(
      this,
      id,
      { key, end, noPut: req.noPut, noDelete: req.noDelete, prevKv: req.prevKv, fragment: req.fragment, progressNotify: req.progressNotify },
      req.startRevision,
    );
    this.watchers.set(id, w);
  }

  cancel(id: number): void {
    const w = this.watchers.get(id);
    if (w === undefined) return; // etcd answers nothing for an unknown ID
    this.store.cancel(w);
    this.watchers.delete(id);
    this.out.send({ watchId: id, revision: this.store.rev(), canceled: true, events: [], prevKv: false });
    this.maybeSendProgress();
  }

  /**
   * A progress request for the whole stream: answered (watch ID -1, the store's revision) once
   * every watcher of the stream is synced, so that the revision never runs ahead of events a
   * watcher has yet to receive.
   */
  requestProgress(): void {
    this.progressPending = true;
    this.maybeSendProgress();
  }

  close(): void {
    this.closed = true;
    for (const w of this.watchers.values()) this.store.cancel(w);
    this.watchers.clear();
  }

  // ---- WatchSink ---------------------------------------------------------------------------

  blocked(): boolean {
    return this.closed || this.out.blocked();
  }

  deliver(w: Watcher, events: Event[], revision: number): void {
    if (w.closed) return;
    // As etcd: the events of up to 1000 revisions per reply (however many bytes: a watcher that
    // wants smaller replies asks for fragments); one revision's events always travel together.
    let part: Event[] = [];
    let revisions = 0;
    for (let i = 0; i < events.length; i++) {
      const ev = events[i];
      if (i === 0 || ev.kv.mod_revision !== events[i - 1].kv.mod_revision) {
        if (revisions === MAX_REVISIONS_PER_REPLY) {
          this.sendEvents(w, part, revision);
          part = [];
          revisions = 0;
        }
        revisions++;
      }
      part.push(ev);
    }
    if (part.length > 0) this.sendEvents(w, part, revision);
  }

  compacted(w: Watcher, compactRevision: number): void {
    if (this.watchers.get(w.id) !== w) return;
    // The ID stays taken until the client cancels it, as in etcd: a cancel is answered, the ID
    // cannot be chosen again and auto IDs skip it.
    // etcd's cancel for compaction carries no header revision.
    this.out.send({ watchId: w.id, revision: null, canceled: true, compactRevision, events: [], prevKv: false });
    this.maybeSendProgress();
  }

  progress(w: Watcher, revision: number): void {
    this.out.send({ watchId: w.id, revision, events: [], prevKv: false });
  }

  onSynced(): void {
    this.maybeSendProgress();
  }

  // ---- internals ---------------------------------------------------------------------------

  private maybeSendProgress(): void {
    if (!this.progressPending || !this.store.allSynced(this.watchers.values())) return;
    this.progressPending = false;
    this.out.send({ watchId: INVALID_WATCH_ID, revision: this.store.rev(), events: [], prevKv: false });
  }

  /** One revision-aligned reply; a watcher that asked for fragments gets large ones in pieces. */
  private sendEvents(w: Watcher, events: Event[], revision: number): void {
    const whole: WatchReply = { watchId: w.id, revision, events, prevKv: w.o.prevKv };
    if (!w.o.fragment || events.length < 2) {
      this.out.send(whole);
      return;
    }
    const limit = this.maxReplyBytes;
    const sizes = events.map((ev) => this.out.eventBytes(ev, w.o.prevKv));
    const base = this.out.replyBytes({ ...whole, events: [] });
    if (base + sum(sizes) < limit) {
      this.out.send(whole);
      return;
    }
    // etcd's sendFragments: fill each piece while it stays under the limit (at least one event
    // each), measured with the fragment flag set; every piece but the last is flagged.
    const pieceBase = this.out.replyBytes({ ...whole, events: [], fragment: true });
    let start = 0;
    while (start < events.length) {
      let end = start + 1;
      let bytes = pieceBase + sizes[start];
      while (end < events.length && bytes + sizes[end] < limit) bytes += sizes[end++];
      this.out.send({ ...whole, events: events.slice(start, end), fragment: end < events.length });
      start = end;
    }
  }
}

function kvBytes(kv: KeyValue | undefined): number {
  return kv === undefined ? 0 : kv.key.length + kv.value.length + EVENT_OVERHEAD_BYTES;
}

/** About how many bytes an event takes in a reply (to count what is buffered). */
export function eventBytes(ev: Event, prevKv: boolean): number {
  return kvBytes(ev.kv) + (prevKv ? kvBytes(ev.prevKv) : 0);
}

function sum(xs: number[]): number {
  let n = 0;
  for (const x of xs) n += x;
  return n;
}
