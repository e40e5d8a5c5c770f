// Waiting on the member's own watchable store, as etcd's concurrency package waits on a watch:
// for the deletion of the keys ahead of ours (waitDeletes), never by polling. Every wait also ends
// when its call is cancelled (the AbortSignal) or, where a session key is given, when that key is
// deleted (its lease expired or was revoked: nothing is worth waiting for any more).
import type { Caller } from '../etcdserver/pipeline';
import type { Event } from '../mvcc/store';
import type { WatchableStore } from '../watch/watchable-store';
import type { Watcher } from '../watch/watcher';
import { ConcurrencyErrors } from './errors';
import { headerRevision, topByCreate, type KvMember } from './kv-ops';

/** A watcher id no watch stream hands out (those count up from 0): only our own sink sees it. */
const INTERNAL_WATCH_ID = -1;

export interface KeyWatch {
  cancel(): void;
}

/**
 * Watches one key (end undefined) or [key, end) from startRev: onEvents gets each delivered batch
 * (whole revisions, oldest first), onCompacted fires if startRev is already compacted.
 */
export function watchKeys(store: WatchableStore, key: Buffer, end: Buffer | undefined, startRev: number, onEvents: (events: Event[], revision: number) => void, onCompacted: () => void): KeyWatch {
  let canceled = false;
  const w: Watcher = store.watch(
    {
      blocked: () => false,
      deliver: (_w, events, revision) => {
        if (!canceled) onEvents(events, revision);
      },
      compacted: () => {
        if (!canceled) onCompacted();
      },
      progress: () => undefined,
      onSynced: () => undefined,
    },
    INTERNAL_WATCH_ID,
    { key, end, noPut: false, noDelete: false, prevKv: false, fragment: false, progressNotify: false },
    startRev,
  );
  return {
    cancel: () => {
      if (canceled) return;
      canceled = true;
      // Not while the store may be iterating its groups (we are often called from deliver).
      queueMicrotask(() => store.cancel(w));
    },
  };
}

/** The caller's own session key and the revision it was created at. */
export interface OwnKey {
  key: Buffer;
  createRevision: number;
}

export type DeleteOutcome = 'deleted' | 'own-deleted' | 'compacted';

/**
 * Resolves once `key` is deleted at or after startRev ('deleted'), or `ownKey` is ('own-deleted'),
 * or the history from startRev is compacted ('compacted': look again); rejects when signal aborts.
 */
export function waitDelete(store: WatchableStore, key: Buffer, own: OwnKey | undefined, startRev: number, signal: AbortSignal): Promise<DeleteOutcome> {
  return new Promise((resolve, reject) => {
    const watches: KeyWatch[] = [];
    let settled = false;
    const settle = (f: () => void): void => {
      if (settled) return;
      settled = true;
      for (const w of watches) w.cancel();
      signal.removeEventListener('abort', onAbort);
      f();
    };
    const onAbort = (): void => settle(() => reject(ConcurrencyErrors.canceled()));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort);
    const targets: [Buffer, DeleteOutcome, number][] = [[key, 'deleted', startRev]];
    if (own !== undefined && !own.key.equals(key)) targets.push([own.key, 'own-deleted', own.createRevision + 1]);
    for (const [k, outcome, fromRev] of targets) {
      const w = watchKeys(
        store, k, undefined, fromRev,
        (events) => {
          if (events.some((ev) => ev.type === 'delete')) settle(() => resolve(outcome));
        },
        () => settle(() => resolve('compacted')),
      );
      if (settled) w.cancel();
      else watches.push(w);
    }
  });
}

/**
 * etcd's waitDeletes: until no key under prefix is older than maxCreateRev, wait for the youngest
 * of them to go; 'own-deleted' when the caller's own key goes first.
 */
export async function waitDeletes(member: KvMember, caller: Caller, prefix: Buffer, maxCreateRev: number, own: OwnKey | undefined, signal: AbortSignal): Promise<'done' | 'own-deleted'> {
  for (;;) {
    if (signal.aborted) throw ConcurrencyErrors.canceled();
    const resp = await member.range(topByCreate(prefix, true, maxCreateRev), caller);
    if (resp.kvs.length === 0) return 'done';
    const outcome = await waitDelete(member.watchable, resp.kvs[0].key, own, headerRevision(resp), signal);
    if (outcome === 'own-deleted') return outcome;
  }
}
