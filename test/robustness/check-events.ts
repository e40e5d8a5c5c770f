// Validates h.finalEvents (the committed history every checker trusts) and replays it into a
// per-key timeline that answers "what was key k at revision r". Every checker runs this first:
// if the reference itself is broken (a skipped revision, a version that does not follow, a replay
// that disagrees with the final Range), nothing compared against it would mean anything.
import type { History, WatchEvent } from './history';
import type { Finding } from './check-finding';

/** A key's state after some revision; value null: absent (then the numbers are 0). */
export interface KeyVersion {
  value: string | null;
  modRevision: number;
  createRevision: number;
  version: number;
}

export const ABSENT: KeyVersion = Object.freeze({ value: null, modRevision: 0, createRevision: 0, version: 0 });

/** All events of one revision (one write: a put, a delete, or a lease revoke's deletes). */
export interface EventGroup {
  revision: number;
  events: WatchEvent[];
}

/** The first revision a write can have: a new cluster is at revision 1. */
export const FIRST_WRITE_REVISION = 2;

export class CommittedHistory {
  /** groups[i] holds revision i + FIRST_WRITE_REVISION; every revision up to finalRevision has one. */
  readonly groups: EventGroup[] = [];
  /** Put events by value (values are unique per write, so a value names its write). */
  readonly putsByValue = new Map<string, WatchEvent>();
  private readonly timelines = new Map<string, { revs: number[]; versions: KeyVersion[] }>();

  constructor(readonly finalRevision: number) {}

  group(revision: number): EventGroup | undefined {
    return this.groups[revision - FIRST_WRITE_REVISION];
  }

  /** The key's state after every write with revision <= revision. */
  stateAt(key: string, revision: number): KeyVersion {
    const t = this.timelines.get(key);
    if (t === undefined) return ABSENT;
    // Last write at or before revision (binary search: timelines are in revision order).
    let lo = 0;
    let hi = t.revs.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (t.revs[mid] <= revision) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? ABSENT : t.versions[found];
  }

  /** The revisions (ascending) at which the key was written. */
  writeRevisions(key: string): readonly number[] {
    return this.timelines.get(key)?.revs ?? [];
  }

  keys(): string[] {
    return [...this.timelines.keys()];
  }

  /** The event groups within radius of the given revisions: context for evidence. */
  around(revisions: number[], radius = 1): EventGroup[] {
    const want = new Set<number>();
    for (const r of revisions) for (let x = r - radius; x <= r + radius; x++) want.add(x);
    return [...want]
      .sort((a, b) => a - b)
      .map((r) => this.group(r))
      .filter((g): g is EventGroup => g !== undefined);
  }

  /** Used while replaying only. */
  record(key: string, revision: number, v: KeyVersion): void {
    let t = this.timelines.get(key);
    if (t === undefined) {
      t = { revs: [], versions: [] };
      this.timelines.set(key, t);
    }
    t.revs.push(revision);
    t.versions.push(v);
  }
}

export type Replay = { ok: true; committed: CommittedHistory } | { ok: false; finding: Finding };

/**
 * Checks that finalEvents is a well-formed committed history and replays it. A revision holds
 * either one put or the deletes of one or more distinct existing keys (a delete call, or a lease
 * revoke / expiry removing all of its keys at once); puts' createRevision and version follow
 * from the previous state; deletes carry etcd's tombstone numbers (createRevision 0, version 0).
 */
export function replayFinalEvents(h: History): Replay {
  const committed = new CommittedHistory(h.finalRevision);
  const bad = (message: string, evidence: unknown): Replay => ({ ok: false, finding: { message: `finalEvents: ${message}`, evidence } });
  const current = new Map<string, KeyVersion>();
  let group: EventGroup | undefined;

  for (const ev of h.finalEvents) {
    const rev = ev.modRevision;
    if (group === undefined || rev !== group.revision) {
      const expected = group === undefined ? FIRST_WRITE_REVISION : group.revision + 1;
      if (rev !== expected) {
        const what = rev < expected ? 'revision goes backwards or repeats in a later group' : `revision ${expected} is skipped`;
        return bad(`expected revision ${expected}, got ${rev}: ${what}`, { previous: group, event: ev });
      }
      group = { revision: rev, events: [] };
      committed.groups.push(group);
    }
    const g: EventGroup = group;
    if (g.events.some((e) => e.type === 'put') || (ev.type === 'put' && g.events.length > 0)) {
      return bad(`revision ${rev} holds a put together with other events (a write is one put or only deletes)`, { group: g, event: ev });
    }
    if (g.events.some((e) => e.key === ev.key)) return bad(`revision ${rev} has two events for key ${ev.key}`, { group: g, event: ev });
    const prev = current.get(ev.key) ?? ABSENT;
    if (ev.type === 'put') {
      if (ev.value === undefined) return bad(`put event without value at revision ${rev}`, { event: ev });
      const createRevision = prev.value === null ? rev : prev.createRevision;
      const version = prev.version + 1;
      if (ev.createRevision !== createRevision || ev.version !== version) {
        return bad(`put of ${ev.key} at revision ${rev} has createRevision ${ev.createRevision} version ${ev.version}, expected ${createRevision} ${version}`, {
          previous: prev,
          event: ev,
        });
      }
      const earlier = committed.putsByValue.get(ev.value);
      if (earlier !== undefined) return bad(`value ${JSON.stringify(ev.value)} written twice (values are unique per write)`, { earlier, event: ev });
      committed.putsByValue.set(ev.value, ev);
      const v: KeyVersion = { value: ev.value, modRevision: rev, createRevision, version };
      current.set(ev.key, v);
      committed.record(ev.key, rev, v);
    } else {
      if (prev.value === null) return bad(`delete of ${ev.key} at revision ${rev}, but the key does not exist then`, { event: ev });
      if (ev.createRevision !== 0 || ev.version !== 0) {
        return bad(`delete event of ${ev.key} at revision ${rev} has createRevision/version ${ev.createRevision}/${ev.version}, expected 0/0`, { event: ev });
      }
      current.delete(ev.key);
      committed.record(ev.key, rev, ABSENT);
    }
    g.events.push(ev);
  }

  const last = group?.revision ?? FIRST_WRITE_REVISION - 1;
  if (last !== h.finalRevision) {
    return bad(`events end at revision ${last} but finalRevision is ${h.finalRevision}`, { lastGroup: group, finalRevision: h.finalRevision });
  }
  for (const [key, v] of current) {
    const fin = h.finalState[key];
    if (fin === undefined || fin[0] !== v.value || fin[1] !== v.modRevision) {
      return bad(`replay gives ${key} = ${JSON.stringify([v.value, v.modRevision])} but the final Range read ${JSON.stringify(fin ?? null)}`, {
        key,
        replayed: v,
        finalState: fin ?? null,
        events: committed.around([v.modRevision], 0),
      });
    }
  }
  for (const key of Object.keys(h.finalState)) {
    if (!current.has(key)) {
      return bad(`the final Range read ${key} = ${JSON.stringify(h.finalState[key])} but the replay has no such key`, {
        key,
        finalState: h.finalState[key],
        lastWrite: committed.writeRevisions(key).slice(-1)[0] ?? null,
      });
    }
  }
  return { ok: true, committed };
}
