// One watch: a key range, where it stands in the history, and what its stream wants of its
// events. Owned by a WatchStream; moved between the synced and unsynced groups by the
// WatchableStore. Pure data and matching: no I/O here.
import type { Event } from '../mvcc/store';

/** Where the watched range ends: undefined = the key alone; empty = every key from it on. */
export type WatchEnd = Buffer | undefined;

export interface WatcherOptions {
  key: Buffer;
  end: WatchEnd;
  noPut: boolean;
  noDelete: boolean;
  prevKv: boolean;
  fragment: boolean;
  progressNotify: boolean;
}

/** What a watcher's owner (its stream) is told by the watchable store. */
export interface WatchSink {
  /** Whether the owner's connection is backed up: then nothing more is handed to it for now. */
  blocked(): boolean;
  /** Events for w, whole revisions, oldest first; revision is the header revision. */
  deliver(w: Watcher, events: Event[], revision: number): void;
  /** w started before the compacted revision: it is gone from the store; cancel it. */
  compacted(w: Watcher, compactRevision: number): void;
  /** A progress notification for w: it has every event up to revision. */
  progress(w: Watcher, revision: number): void;
  /** One of the owner's watchers joined the synced group. */
  onSynced(): void;
}

export class Watcher {
  /** The next revision whose events this watcher has yet to receive. */
  nextRev: number;
  synced = false;
  /** Set once canceled or closed: the store drops it wherever it is. */
  closed = false;
  /** Events were sent since the last progress tick (etcd then skips the progress notification). */
  sentSinceTick = false;

  constructor(
    readonly id: number,
    readonly owner: WatchSink,
    readonly o: WatcherOptions,
    startRev: number,
  ) {
    this.nextRev = startRev;
  }

  /** A single key, or a range (the store indexes the two kinds differently). */
  get isRange(): boolean {
    return this.o.end !== undefined;
  }

  contains(key: Buffer): boolean {
    const { key: start, end } = this.o;
    if (end === undefined) return key.equals(start);
    if (Buffer.compare(key, start) < 0) return false;
    return end.length === 0 || Buffer.compare(key, end) < 0;
  }

  /** Whether this watcher wants ev, whose key is in its range (WatcherGroup.forKey found it): filters and position in history. */
  accepts(ev: Event): boolean {
    if (ev.kv.mod_revision < this.nextRev) return false;
    return !(ev.type === 'put' ? this.o.noPut : this.o.noDelete);
  }
}
