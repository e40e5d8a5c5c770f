// Resolves every call against the committed history: which calls took effect, at which revision
// (writes), or which revision they observed (reads). Puts and txn puts are found by their unique
// value. Deletes carry no value, so a delete event goes to an ok delete (or lease revoke) answering
// that revision, else to the lease's revoke / expiry if the key's current put had a lease and the
// lease rules allow it, else to an unknown-outcome delete of that key that real time allows there.
// Everything found inconsistent on the way (wrong revision, lost write, event made by no call,
// failed call that took effect, lease misuse) is reported.
import type { Call, History, Op } from './history';
import type { Finding } from './check-finding';
import type { CommittedHistory } from './check-events';
import { CompletedPoints, pointValue, type Placed } from './check-realtime';

/** A lease's keys removed at one revision, by an ok lease-revoke call or with no call (expiry). */
export interface LeaseDeletion {
  revision: number;
  lease: string;
  keys: string[];
  revoke?: Call;
}

export interface Resolution {
  /** Linearizable calls with their point: ok calls, and unknown-outcome writes that took effect. */
  placed: Placed[];
  /** Serializable gets at their header revision (they may be stale, so they have no real-time place). */
  serializable: Placed[];
  leaseDeletions: LeaseDeletion[];
  /** Value -> the put/txn call that wrote it. */
  writerOf: Map<string, Call>;
  /** Ok lease-revoke calls that deleted nothing: the lease had no keys at their revision. */
  emptyRevokes: Placed[];
}

export type Resolved = { ok: true; resolution: Resolution } | { ok: false; finding: Finding };

type OpOf<T extends Op['type']> = Extract<Op, { type: T }>;
const isOp = <T extends Op['type']>(c: Call, t: T): c is Call & { op: OpOf<T> } => c.op.type === t;

/** Kinds whose ok answer must carry a header revision. */
const NEEDS_RESULT = new Set<Op['type']>(['put', 'get', 'delete', 'txn', 'lease-revoke']);

/** Calls grouped by a number (the revision they answered). */
function byRevision(calls: Call[], revisionOf: (c: Call) => number): Map<number, Call[]> {
  const out = new Map<number, Call[]>();
  for (const c of calls) {
    const list = out.get(revisionOf(c)) ?? [];
    list.push(c);
    out.set(revisionOf(c), list);
  }
  return out;
}

/** Calls grouped by the key of their op (deletes only here). */
function byKey(calls: Call[]): Map<string, Call[]> {
  const out = new Map<string, Call[]>();
  for (const c of calls) {
    if (c.op.type !== 'delete') continue;
    const list = out.get(c.op.key) ?? [];
    list.push(c);
    out.set(c.op.key, list);
  }
  return out;
}

export function resolveCalls(h: History, committed: CommittedHistory): Resolved {
  const fail = (message: string, evidence: unknown): Resolved => ({ ok: false, finding: { message, evidence } });
  const placed: Placed[] = [];
  const serializable: Placed[] = [];
  const leaseDeletions: LeaseDeletion[] = [];
  const emptyRevokes: Placed[] = [];
  const writerOf = new Map<string, Call>();

  for (const c of h.calls) {
    if (c.outcome !== 'ok') continue;
    if (c.result === undefined) {
      if (NEEDS_RESULT.has(c.op.type)) return fail(`malformed history: ok ${c.op.type} call ${c.id} has no result`, { call: c });
      continue;
    }
    const r = c.result.revision;
    if (!Number.isInteger(r) || r < 1 || r > h.finalRevision) {
      return fail(`call ${c.id} (${c.op.type}) answered revision ${r}, outside [1, finalRevision ${h.finalRevision}]`, { call: c });
    }
  }
  const rev = (c: Call): number => (c.result as { revision: number }).revision;

  // Puts and txns: the value names the event.
  for (const c of h.calls) {
    if (!isOp(c, 'put') && !isOp(c, 'txn')) continue;
    const op = c.op;
    const ev = committed.putsByValue.get(op.value);
    if (ev === undefined) {
      if (c.outcome !== 'ok') continue; // failed, or unknown and did not happen
      if (op.type === 'put' || c.result?.succeeded === true) {
        return fail(`lost acknowledged write: call ${c.id} (${op.type} ${op.key}=${op.value}) was acknowledged at revision ${rev(c)} but is not in the committed history`, {
          call: c,
          events: committed.around([rev(c)]),
        });
      }
      placed.push({ call: c, point: { kind: 'read', revision: rev(c) } }); // failed compare: a read
      continue;
    }
    const at = ev.modRevision;
    const other = writerOf.get(op.value);
    if (other !== undefined) return fail(`calls ${other.id} and ${c.id} both claim the put event at revision ${at} (same value)`, { calls: [other, c], event: ev });
    writerOf.set(op.value, c);
    if (ev.key !== op.key) return fail(`call ${c.id} wrote ${op.key} but its value appears at key ${ev.key}`, { call: c, event: ev });
    if (c.outcome === 'fail') {
      return fail(`call ${c.id} failed (${c.error ?? 'no error text'}) but its write is committed at revision ${at}`, { call: c, events: committed.around([at]) });
    }
    if (c.outcome === 'ok') {
      if (op.type === 'txn' && c.result?.succeeded !== true) {
        return fail(`txn call ${c.id} answered compare failed, but its put is committed at revision ${at}`, { call: c, events: committed.around([at]) });
      }
      if (rev(c) !== at) {
        return fail(`write acknowledged with the wrong revision: call ${c.id} answered ${rev(c)}, its event is at revision ${at}`, {
          call: c,
          events: committed.around([at, rev(c)], 0),
        });
      }
    }
    if (op.type === 'txn') {
      const before = committed.stateAt(op.key, at - 1);
      if (before.modRevision !== op.expectModRev) {
        return fail(`txn call ${c.id} put ${op.key} at revision ${at} though its compare (mod_revision == ${op.expectModRev}) did not hold: it was ${before.modRevision}`, {
          call: c,
          before,
          events: committed.around([at]),
        });
      }
    }
    placed.push({ call: c, point: { kind: 'write', revision: at } });
  }
  for (const ev of committed.putsByValue.values()) {
    if (!writerOf.has(ev.value as string)) {
      return fail(`put event at revision ${ev.modRevision} (${ev.key}=${ev.value}) was made by no call`, { events: committed.around([ev.modRevision]) });
    }
  }

  // Which lease the current version of a key was put with (txn puts carry none).
  const leaseAt = (key: string, revision: number): string | undefined => {
    const v = committed.stateAt(key, revision).value;
    const w = v === null ? undefined : writerOf.get(v);
    return w !== undefined && w.op.type === 'put' ? w.op.lease : undefined;
  };
  const keysOfLease = new Map<string, Set<string>>();
  for (const w of writerOf.values()) {
    if (w.op.type !== 'put' || w.op.lease === undefined) continue;
    const s = keysOfLease.get(w.op.lease) ?? new Set<string>();
    s.add(w.op.key);
    keysOfLease.set(w.op.lease, s);
  }
  const attached = (lease: string, revision: number): string[] => [...(keysOfLease.get(lease) ?? [])].filter((k) => leaseAt(k, revision) === lease);

  for (const c of h.calls) {
    if (!isOp(c, 'get') || c.outcome !== 'ok') continue;
    (c.op.serializable ? serializable : placed).push({ call: c, point: { kind: 'read', revision: rev(c) } });
  }

  // Delete events. Candidates for a revision's deletes: ok deletes of the key answering that
  // revision, ok revokes of the key's lease answering it, unknown-outcome deletes of the key, and
  // the lease's expiry. Real time decides between them: a candidate invoked after something placed
  // at or beyond the revision had completed cannot have made it. To judge that, ok deletes count
  // provisionally as reads at their revision; that changes nothing for other revisions and, for
  // this one, rightly excludes any candidate invoked after another delete had already answered it.
  const okDeletes = h.calls.filter((c) => isOp(c, 'delete') && c.outcome === 'ok');
  const okRevokes = h.calls.filter((c): c is Call & { op: OpOf<'lease-revoke'> } => isOp(c, 'lease-revoke') && c.outcome === 'ok');
  const answeringAt = byRevision([...okDeletes, ...okRevokes], rev);
  // Unknown deletes per key, earliest invocation first, taken from the front (see below).
  const unknownDeletes = byKey(h.calls.filter((c) => isOp(c, 'delete') && c.outcome === 'unknown'));
  for (const list of unknownDeletes.values()) list.sort((a, b) => a.invokeMs - b.invokeMs);
  const provisional = new CompletedPoints([...placed, ...okDeletes.map((call) => ({ call, point: { kind: 'read' as const, revision: rev(call) } }))]);
  const feasible = (c: Call, revision: number): boolean => {
    const before = provisional.highestBefore(c.invokeMs);
    return before === undefined || pointValue(before.point) <= 2 * revision;
  };
  const claimed = new Set<Call>();
  const claim = (c: Call, revision: number): void => {
    claimed.add(c);
    placed.push({ call: c, point: { kind: 'write', revision } });
  };
  // Puts made with each lease, for "nothing is put with a lease after it is gone".
  const putsWithLease = new Map<string, { call: Call; revision: number }[]>();
  for (const [value, w] of writerOf) {
    if (w.op.type !== 'put' || w.op.lease === undefined) continue;
    const list = putsWithLease.get(w.op.lease) ?? [];
    list.push({ call: w, revision: (committed.putsByValue.get(value) as { modRevision: number }).modRevision });
    putsWithLease.set(w.op.lease, list);
  }
  const putsWithLeaseAfter = (lease: string, revision: number): Call[] => (putsWithLease.get(lease) ?? []).filter((p) => p.revision > revision).map((p) => p.call);
  // The lease's revoke or expiry can have made these deletes: they are all of its keys and it is
  // not used again.
  const leaseCanEnd = (lease: string | undefined, keys: string[], revision: number): boolean =>
    lease !== undefined && attached(lease, revision - 1).every((k) => keys.includes(k)) && putsWithLeaseAfter(lease, revision).length === 0;

  for (const g of committed.groups) {
    if (g.events.some((e) => e.type !== 'delete')) continue;
    const keys = g.events.map((e) => e.key);
    const leases = new Set(keys.map((k) => leaseAt(k, g.revision - 1)));
    const [lease] = leases;
    const oneLease = leases.size === 1 && lease !== undefined ? lease : undefined;
    const answering = answeringAt.get(g.revision) ?? [];
    const revokes = answering.filter((c): c is Call & { op: OpOf<'lease-revoke'> } => c.op.type === 'lease-revoke' && c.op.lease === oneLease);
    if (keys.length === 1) {
      // In order: an ok call answering this revision (it can be nothing else), the lease's end
      // (unlimited, no real-time constraint), an unknown-outcome delete (each makes one event
      // at most, so they are kept for events nothing else can explain). Each kind by earliest
      // invocation: the least constrained by what completed before it (if the earliest does not
      // fit, none does). Unknown deletes go to revisions in increasing order, and one that fits a
      // revision fits every later one, so taking the earliest never starves a later revision.
      const deletes = answering.filter((c) => c.op.type === 'delete' && c.op.key === keys[0]);
      const fits = (c: Call): boolean => feasible(c, g.revision);
      const okPick = [...deletes, ...revokes].sort((a, b) => a.invokeMs - b.invokeMs).find(fits);
      const unknown = unknownDeletes.get(keys[0]) ?? [];
      const unknownPick = (): Call | undefined => (unknown.length > 0 && (fits(unknown[0]) || deletes.length === 0) ? unknown.shift() : deletes[0]);
      const pick = okPick ?? (leaseCanEnd(oneLease, keys, g.revision) ? undefined : unknownPick());
      if (pick !== undefined) {
        // A pick that does not fit (no other explanation left) is reported by the real-time check.
        claim(pick, g.revision);
        if (pick.op.type === 'lease-revoke') leaseDeletions.push({ revision: g.revision, lease: pick.op.lease, keys, revoke: pick });
        continue;
      }
    } else if (revokes.length > 0) {
      // A lease's keys: only its revoke answers exactly this revision (a second revoke fails).
      claim(revokes[0], g.revision);
      leaseDeletions.push({ revision: g.revision, lease: revokes[0].op.lease, keys, revoke: revokes[0] });
      continue;
    }
    if (oneLease === undefined) {
      const what = keys.length === 1 ? 'no delete call of the key can have made it and the key had no lease' : 'its keys were not all put with one lease';
      return fail(`delete event(s) at revision ${g.revision} made by no call: ${what}`, {
        group: g,
        leases: keys.map((key) => ({ key, lease: leaseAt(key, g.revision - 1) ?? null })),
        unknownDeletesOfKey: keys.length === 1 ? (unknownDeletes.get(keys[0]) ?? []) : [],
        events: committed.around([g.revision]),
      });
    }
    leaseDeletions.push({ revision: g.revision, lease: oneLease, keys }); // checked below
  }
  // Ok deletes that made no event deleted nothing: reads of an absent key at their revision.
  for (const c of okDeletes) if (!claimed.has(c)) placed.push({ call: c, point: { kind: 'read', revision: rev(c) } });
  for (const c of okRevokes) if (!claimed.has(c)) emptyRevokes.push({ call: c, point: { kind: 'read', revision: rev(c) } });

  // A lease goes away with all of its keys at once, and nothing can be put with it afterwards.
  for (const d of leaseDeletions) {
    const left = attached(d.lease, d.revision - 1).filter((k) => !d.keys.includes(k));
    if (left.length > 0) {
      return fail(`lease ${d.lease} lost keys ${d.keys.join(',')} at revision ${d.revision} but its key(s) ${left.join(',')} survived`, {
        deletion: d,
        events: committed.around([d.revision]),
      });
    }
    const late = putsWithLeaseAfter(d.lease, d.revision);
    if (late.length > 0) return fail(`put with lease ${d.lease} committed after the lease was revoked/expired at revision ${d.revision}`, { deletion: d, calls: late });
  }
  for (const p of emptyRevokes) {
    const lease = (p.call.op as OpOf<'lease-revoke'>).lease;
    const left = attached(lease, p.point.revision);
    if (left.length > 0) {
      return fail(`lease-revoke call ${p.call.id} was acknowledged at revision ${p.point.revision} but key(s) ${left.join(',')} still held lease ${lease} then`, {
        call: p.call,
        events: committed.around([p.point.revision]),
      });
    }
    const late = putsWithLeaseAfter(lease, p.point.revision);
    if (late.length > 0) return fail(`put with lease ${lease} committed after lease-revoke call ${p.call.id} (revision ${p.point.revision})`, { revoke: p.call, calls: late });
  }

  return { ok: true, resolution: { placed, serializable, leaseDeletions, writerOf, emptyRevokes } };
}
