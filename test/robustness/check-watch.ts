// Watch guarantees, against the committed history: each session receives exactly the committed
// events of its range from its start revision on — in revision order, each revision complete and
// in one response, no duplicates, no gaps, the same fields — up to wherever it ended (a prefix);
// and a watcher resuming after a session ended restarts at the revision after the last one it
// received, so the concatenation of its sessions is gapless and duplicate-free too.
import type { History, Verdict, WatchEvent, WatchSession } from './history';
import { violation, type Finding } from './check-finding';
import { replayFinalEvents, type EventGroup } from './check-events';

/** etcd's range: '' rangeEnd is the key alone, '\0' is every key >= key, else [key, rangeEnd) in byte order. */
export function inWatchRange(key: string, s: Pick<WatchSession, 'key' | 'rangeEnd'>): boolean {
  if (s.rangeEnd === '') return key === s.key;
  if (Buffer.compare(Buffer.from(key), Buffer.from(s.key)) < 0) return false;
  return s.rangeEnd === '\0' || Buffer.compare(Buffer.from(key), Buffer.from(s.rangeEnd)) < 0;
}

const sameEvent = (a: WatchEvent, b: WatchEvent): boolean =>
  a.type === b.type &&
  a.key === b.key &&
  (a.type === 'delete' || a.value === b.value) && // deletes carry no value
  a.modRevision === b.modRevision &&
  a.createRevision === b.createRevision &&
  a.version === b.version;

/** The session without its responses, to name it in evidence. */
const sessionId = (s: WatchSession, index: number): unknown => ({
  index,
  watcher: s.watcher,
  endpoint: s.endpoint,
  key: s.key,
  rangeEnd: s.rangeEnd,
  startRevision: s.startRevision,
  compactRevision: s.compactRevision,
  endedMs: s.endedMs,
});

/** A run of received events of one revision, and the responses they came in. */
interface ReceivedGroup {
  revision: number;
  events: WatchEvent[];
  responses: Set<number>;
}

function receivedGroups(s: WatchSession): ReceivedGroup[] {
  const out: ReceivedGroup[] = [];
  s.responses.forEach((resp, i) => {
    for (const ev of resp.events) {
      const last = out[out.length - 1];
      if (last !== undefined && last.revision === ev.modRevision) {
        last.events.push(ev);
        last.responses.add(i);
      } else out.push({ revision: ev.modRevision, events: [ev], responses: new Set([i]) });
    }
  });
  return out;
}

/**
 * Revisions some Compact call asked for. Compacting at R removes a tombstone at R (etcd 3.4 does
 * the same: put k, delete k at R, compact R, watch from R: the delete is not delivered).
 */
function compactedRevisions(h: History): Set<number> {
  const out = new Set<number>();
  for (const c of h.calls) if (c.op.type === 'compact' && c.outcome !== 'fail') out.add(c.op.revision);
  return out;
}

function checkSession(s: WatchSession, index: number, committed: EventGroup[], compacted: Set<number>): Finding | undefined {
  const id = sessionId(s, index);
  if (!Number.isInteger(s.startRevision) || s.startRevision < 1) {
    return { message: `malformed history: watch session ${index} has start revision ${s.startRevision} (must be an explicit revision >= 1)`, evidence: { session: id } };
  }
  for (const [i, resp] of s.responses.entries()) {
    const top = Math.max(...resp.events.map((e) => e.modRevision));
    if (resp.revision < top) {
      return { message: `watcher ${s.watcher}: response ${i} has header revision ${resp.revision}, below its events' revision ${top}`, evidence: { session: id, response: resp } };
    }
  }
  const expected = committed
    .filter((g) => g.revision >= s.startRevision)
    .map((g) => ({ revision: g.revision, events: g.events.filter((e) => inWatchRange(e.key, s)) }))
    .filter((g) => g.events.length > 0);
  const got = receivedGroups(s);
  // A watch from exactly a compacted revision may miss that revision's deletes (see above).
  const first = expected[0];
  if (first !== undefined && first.revision === s.startRevision && compacted.has(s.startRevision)) {
    const deliveredDeletes = got[0]?.revision === s.startRevision && got[0].events.some((e) => e.type === 'delete');
    if (!deliveredDeletes) {
      first.events = first.events.filter((e) => e.type !== 'delete');
      if (first.events.length === 0) expected.shift();
    }
  }
  const responses = (g: ReceivedGroup): unknown[] => [...g.responses].map((i) => ({ index: i, ...s.responses[i] }));
  const who = `watcher ${s.watcher} (session ${index}, ${s.endpoint}, from revision ${s.startRevision})`;

  for (const [i, g] of got.entries()) {
    const prev = got[i - 1];
    if (prev !== undefined && g.revision < prev.revision) {
      const first = got.slice(0, i).find((p) => p.events.some((e) => g.events.some((x) => sameEvent(e, x))));
      return {
        message: `${who}: ${first !== undefined ? 'duplicate watch event' : 'events out of revision order'}: revision ${g.revision} after ${prev.revision}`,
        evidence: { session: id, earlier: responses(first ?? prev), later: responses(g) },
      };
    }
    const keys = new Set<string>();
    for (const ev of g.events) {
      if (keys.has(ev.key)) return { message: `${who}: duplicate watch event: ${ev.key} at revision ${g.revision} twice`, evidence: { session: id, responses: responses(g) } };
      keys.add(ev.key);
    }
    if (g.responses.size > 1) {
      return { message: `${who}: the events of revision ${g.revision} were split over ${g.responses.size} responses`, evidence: { session: id, responses: responses(g) } };
    }
    // Earlier groups matched expected[0..i) one for one, so this one must be expected[i].
    const want = expected[i];
    if (want === undefined || g.revision < want.revision) {
      return {
        message: `${who}: received revision ${g.revision}, which has no committed event in the watched range`,
        evidence: { session: id, received: responses(g), committed: committed.find((c) => c.revision === g.revision) ?? null },
      };
    }
    if (g.revision > want.revision) {
      return {
        message: `${who}: watch gap: missed revision ${want.revision}, next received ${g.revision}`,
        evidence: { session: id, missed: want, received: responses(g), previous: prev === undefined ? null : responses(prev) },
      };
    }
    for (const ev of g.events) {
      const c = want.events.find((e) => e.key === ev.key);
      if (c === undefined || !sameEvent(ev, c)) {
        return { message: `${who}: event for ${ev.key} at revision ${g.revision} differs from the committed history`, evidence: { session: id, received: ev, committed: want } };
      }
    }
    if (g.events.length !== want.events.length) {
      return { message: `${who}: revision ${g.revision} delivered ${g.events.length} of its ${want.events.length} events`, evidence: { session: id, received: responses(g), committed: want } };
    }
  }
  const lastRev = got[got.length - 1]?.revision;
  if (s.compactRevision !== undefined && lastRev !== undefined && lastRev >= s.compactRevision) {
    return { message: `${who}: canceled for compaction at ${s.compactRevision} though it had received revision ${lastRev}`, evidence: { session: id } };
  }
  return undefined;
}

/** Sessions of one watcher, in the order they appear in h.watches (assumed chronological). */
function checkResumption(sessions: { s: WatchSession; index: number }[]): Finding | undefined {
  for (let i = 1; i < sessions.length; i++) {
    const { s: a, index: ai } = sessions[i - 1];
    const { s: b, index: bi } = sessions[i];
    if (a.key !== b.key || a.rangeEnd !== b.rangeEnd) {
      return { message: `malformed history: sessions ${ai} and ${bi} of watcher ${a.watcher} watch different ranges`, evidence: { sessions: [sessionId(a, ai), sessionId(b, bi)] } };
    }
    const lastEvents = a.responses.flatMap((r) => r.events);
    const last = lastEvents[lastEvents.length - 1]?.modRevision;
    const want = last === undefined ? a.startRevision : last + 1;
    // After a compaction cancel the revisions up to compactRevision are gone: resuming anywhere
    // from the wanted revision up to it is the best a watcher can do.
    const latest = a.compactRevision !== undefined ? Math.max(want, a.compactRevision) : want;
    if (b.startRevision < want || b.startRevision > latest) {
      const what = b.startRevision > want ? `skips revisions ${want}..${b.startRevision - 1}` : `repeats revisions ${b.startRevision}..${want - 1}`;
      return {
        message: `watcher ${a.watcher}: resumption ${what}: session ${bi} starts at ${b.startRevision}, the previous one ${last === undefined ? `received nothing from ${a.startRevision}` : `received up to ${last}`}`,
        evidence: { previous: sessionId(a, ai), lastResponse: a.responses[a.responses.length - 1] ?? null, next: sessionId(b, bi) },
      };
    }
  }
  return undefined;
}

export function checkWatches(h: History): Verdict {
  const replay = replayFinalEvents(h);
  if (!replay.ok) return violation('watch', replay.finding);
  const groups = replay.committed.groups;
  const compacted = compactedRevisions(h);
  const byWatcher = new Map<number, { s: WatchSession; index: number }[]>();
  for (const [index, s] of h.watches.entries()) {
    const f = checkSession(s, index, groups, compacted);
    if (f !== undefined) return violation('watch', f);
    const list = byWatcher.get(s.watcher) ?? [];
    list.push({ s, index });
    byWatcher.set(s.watcher, list);
  }
  for (const sessions of byWatcher.values()) {
    const f = checkResumption(sessions);
    if (f !== undefined) return violation('watch', f);
  }
  return { checker: 'watch', result: 'ok' };
}
