// The watchable store (etcd's watchableStore): hands committed events to watchers, in revision
// order, with no gaps and no duplicates.
// - synced watchers have every event up to the last notified revision; each applied batch is
//   matched against them (notify) right after its transaction is on disk.
// - unsynced watchers are behind (they started in the past, or their stream was backed up): they
//   catch up from the MVCC history in bounded passes, and join the synced group once a pass reaches
//   the head. There is no third "victim" group: a watcher whose stream is backed up simply becomes
//   unsynced and is replayed from LMDB later, so no event is ever buffered for a slow consumer.
// A watcher's nextRev is the one position that says what it has: every path delivers only events
// at or after it, and moves it past what it delivered.
import type { Logger } from 'pino';
import type { Event, HistoryLimits, MvccStore } from '../mvcc/store';
import type { KeyValue } from '../mvcc/kv-record';
import { Watcher, type WatcherOptions, type WatchSink } from './watcher';

export type { WatchSink } from './watcher';
import { WatcherGroup } from './watcher-group';

type HistorySource = Pick<MvccStore, 'historySince' | 'versionBefore' | 'currentRevision' | 'compactRevision'>;

/**
 * Bounds of one catch-up pass. etcd reads all the history a watcher lacks at once and sends it in
 * one reply (up to 1,000 revisions); we stop at 1,000 events or 16 MiB for the watchers, or 64 MiB
 * read, so that one pass neither holds nor blocks for long, yet a reply holds what etcd's does
 * unless the history behind is that large.
 */
const PASS_LIMITS: HistoryLimits = { maxEvents: 1000, maxBytes: 16 * 1024 * 1024, maxScannedBytes: 64 * 1024 * 1024 };
/** How often watchers held back by a busy stream are looked at again. */
const RETRY_MS = 100;

export class WatchableStore {
  private readonly synced = new WatcherGroup();
  private readonly unsynced = new Set<Watcher>();
  /** The newest revision whose events have been handed to the synced watchers. */
  private notifiedRev: number;
  private passScheduled = false;
  private readonly retry: NodeJS.Timeout;
  private readonly progressTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly mvcc: HistorySource,
    private readonly log: Logger,
    progressIntervalMs: number,
  ) {
    this.notifiedRev = mvcc.currentRevision();
    this.retry = setInterval(() => this.schedulePass(), RETRY_MS);
    this.retry.unref();
    if (progressIntervalMs > 0) {
      this.progressTimer = setInterval(() => this.progressTick(), progressIntervalMs);
      this.progressTimer.unref();
    }
  }

  /** The revision every synced watcher has seen up to (headers of watch responses). */
  rev(): number {
    return this.notifiedRev;
  }

  watcherCount(): { synced: number; unsynced: number } {
    return { synced: this.synced.size, unsynced: this.unsynced.size };
  }

  /** A new watcher from startRev (0 = after the current revision). */
  watch(sink: WatchSink, id: number, o: WatcherOptions, startRev: number): Watcher {
    // 0 watches from now on. A negative start is compared with the compacted revision, as etcd
    // does: below it (below -1 on a store never compacted) the watcher is canceled as compacted
    // by the catch-up pass; otherwise it watches from now on.
    const belowCompacted = startRev < 0 && startRev < this.mvcc.compactRevision();
    const w = new Watcher(id, sink, o, startRev > 0 || belowCompacted ? startRev : this.notifiedRev + 1);
    if (w.nextRev > this.notifiedRev) this.toSynced(w);
    else {
      this.unsynced.add(w);
      this.schedulePass();
    }
    return w;
  }

  cancel(w: Watcher): void {
    w.closed = true;
    if (w.synced) this.synced.delete(w);
    else this.unsynced.delete(w);
  }

  /** Whether all of ws still watching are synced (a progress notification for them can claim rev()). */
  allSynced(ws: Iterable<Watcher>): boolean {
    for (const w of ws) if (!w.synced && !w.closed) return false;
    return true;
  }

  /** The events of an applied batch, now on disk; revision is the store's revision after it. */
  notify(applied: Event[], revision: number): void {
    const firstRev = this.notifiedRev + 1;
    this.notifiedRev = revision;
    if (this.synced.size === 0) return;
    const events = prevKvsBeforeRevision(applied);
    const per = new Map<Watcher, Event[]>();
    for (const ev of events) {
      this.synced.forKey(ev.kv.key, (w) => {
        if (!w.accepts(ev)) return;
        const list = per.get(w);
        if (list === undefined) per.set(w, [ev]);
        else list.push(ev);
      });
    }
    for (const [w, evs] of per) {
      if (w.owner.blocked()) {
        // Nothing is queued for a slow stream: the watcher replays from history once it drains.
        this.synced.delete(w);
        w.synced = false;
        w.nextRev = Math.max(w.nextRev, firstRev);
        this.unsynced.add(w);
        continue;
      }
      // One reply for the whole batch (several txns when writes were batched), with the batch's
      // revision in the header. etcd's notify sends each txn's events on their own, but its
      // catch-up sends many revisions in one reply, and its documented guarantee is only that a
      // revision is never split across replies, which holds. Per event, this is far fewer
      // replies to encode, write and decode on both ends.
      w.owner.deliver(w, evs, revision);
      w.nextRev = revision + 1;
      w.sentSinceTick = true;
    }
    if (this.unsynced.size > 0) this.schedulePass();
  }

  /** A snapshot replaced the whole state: every watcher catches up from the new history. */
  restore(): void {
    for (const w of [...this.synced.all()]) {
      this.synced.delete(w);
      w.synced = false;
      w.nextRev = Math.max(w.nextRev, this.notifiedRev + 1);
      this.unsynced.add(w);
    }
    this.notifiedRev = this.mvcc.currentRevision();
    this.schedulePass();
  }

  /** A stream drained: serve the watchers it held back now rather than at the next retry. */
  kick(): void {
    this.schedulePass();
  }

  close(): void {
    clearInterval(this.retry);
    if (this.progressTimer !== undefined) clearInterval(this.progressTimer);
  }

  private toSynced(w: Watcher): void {
    w.synced = true;
    this.synced.add(w);
  }

  private schedulePass(): void {
    if (this.passScheduled || this.unsynced.size === 0) return;
    this.passScheduled = true;
    setImmediate(() => {
      this.passScheduled = false;
      try {
        if (this.syncPass()) this.schedulePass();
      } catch (err) {
        this.log.error({ err }, 'watch catch-up failed');
      }
    });
  }

  /**
   * One bounded catch-up step for the unsynced watchers whose streams can take more. Returns
   * whether another pass is worth running right away.
   */
  private syncPass(): boolean {
    const ready = new WatcherGroup();
    let minRev = Infinity;
    for (const w of this.unsynced) {
      if (w.owner.blocked()) continue;
      ready.add(w);
      minRev = Math.min(minRev, Math.max(1, w.nextRev));
    }
    if (ready.size === 0) return false;
    const { events, through, head, compacted } = this.mvcc.historySince(minRev, PASS_LIMITS, (key) => ready.watches(key));
    const per = new Map<Watcher, Event[]>();
    for (const ev of events) {
      ready.forKey(ev.kv.key, (w) => {
        if (!w.accepts(ev)) return;
        const list = per.get(w);
        if (list === undefined) per.set(w, [ev]);
        else list.push(ev);
      });
    }
    // The read may see a commit whose notify has not run yet (never the other way round); a
    // watcher joins the synced group only when the read covered everything notified.
    const caughtUp = through >= head && head >= this.notifiedRev;
    const prevCache = new Map<Event, KeyValue | undefined>();
    for (const w of ready.all()) {
      const sink = w.owner;
      if (w.nextRev < compacted) {
        this.unsynced.delete(w);
        w.closed = true;
        sink.compacted(w, compacted);
        continue;
      }
      const evs = per.get(w);
      if (evs !== undefined) {
        // The header carries the store's revision, as etcd's catch-up does, also when this read
        // stopped short of it (more events follow in the next pass).
        sink.deliver(w, w.o.prevKv ? evs.map((ev) => this.withPrevKv(ev, prevCache)) : evs, head);
        w.sentSinceTick = true;
      }
      w.nextRev = Math.max(w.nextRev, through + 1);
      if (caughtUp) {
        this.unsynced.delete(w);
        this.toSynced(w);
        sink.onSynced();
      }
    }
    // Watchers left behind wait for their streams to drain (the retry timer looks again).
    return !caughtUp;
  }

  /** Events read back from history lack the previous version; look it up like etcd does. */
  private withPrevKv(ev: Event, cache: Map<Event, KeyValue | undefined>): Event {
    if (ev.prevKv !== undefined) return ev;
    // etcd does not look for one of a put that created the key, even when the same txn deleted an
    // earlier version of it.
    if (isCreate(ev)) return ev;
    if (!cache.has(ev)) cache.set(ev, this.mvcc.versionBefore(ev.kv.key, ev.kv.mod_revision));
    const prevKv = cache.get(ev);
    return prevKv === undefined ? ev : { ...ev, prevKv };
  }

  /** etcd's progress notify: synced watchers that asked for it and got no events since the last tick. */
  private progressTick(): void {
    for (const w of this.synced.all()) {
      if (!w.o.progressNotify) continue;
      if (!w.sentSinceTick && !w.owner.blocked()) w.owner.progress(w, this.notifiedRev);
      w.sentSinceTick = false;
    }
  }
}

/**
 * etcd reads a watch event's prev_kv at the revision before the event, so every event of one
 * txn sees the state before the txn: a key deleted after a put in the same txn (a from-key delete
 * can follow a put under it) has the pre-txn version as the delete's prev_kv, not the put. The
 * applied events carry each write's previous version within the txn, which the lessor needs.
 * A put that creates the key gets none (etcd's isCreateEvent). Only revisions with more than one
 * event can repeat a key, so single writes pay one comparison.
 */
function prevKvsBeforeRevision(events: Event[]): Event[] {
  let out: Event[] | undefined;
  let first = new Map<string, KeyValue | undefined>();
  for (let i = 1; i < events.length; i++) {
    const rev = events[i].kv.mod_revision;
    if (rev !== events[i - 1].kv.mod_revision) continue;
    if (i === 1 || events[i - 2].kv.mod_revision !== rev) {
      first = new Map();
      first.set(events[i - 1].kv.key.toString('latin1'), events[i - 1].prevKv);
    }
    const k = events[i].kv.key.toString('latin1');
    if (!first.has(k)) {
      first.set(k, events[i].prevKv);
      continue;
    }
    if (isCreate(events[i])) continue;
    out ??= events.slice();
    out[i] = { ...events[i], prevKv: first.get(k) };
  }
  return out ?? events;
}

const isCreate = (ev: Event): boolean => ev.type === 'put' && ev.kv.create_revision === ev.kv.mod_revision;
