// Linearizability of the KV calls, with etcd revisions. Three layers, each trusting the one before:
//  1. finalEvents are validated and replayed (check-events);
//  2. every call is resolved against them — which unknown outcomes took effect and where, which
//     event each write made, what each read saw — and the exact global checks run: revisions of
//     acknowledged writes, reads equal to the state at their revision, real-time order of all
//     placed calls (check-resolution, check-reads, check-realtime);
//  3. a WGL search per key (Porcupine's algorithm, partitioned by key) over an explicit per-key
//     model re-derives a linearization independently. Revisions make it nearly deterministic, but
//     it is exhaustive, so it has the time limit: out of time is 'unknown', never 'ok'.
import type { Call, History, Verdict } from './history';
import { violation } from './check-finding';
import { replayFinalEvents, type CommittedHistory } from './check-events';
import { resolveCalls, type Resolution } from './check-resolution';
import { checkReads } from './check-reads';
import { checkRealTime, CompletedPoints } from './check-realtime';
import { wglSearch, type SequentialModel, type TimedOp } from './check-wgl';
import { INITIAL_KEY_STATE, keyOpPlace, keyStateId, stepKey, type KeyOp, type KeyState } from './model-kv-key';

/** Where a per-key operation came from: a call, or a lease expiry nobody asked for. */
type Source = { call: Call } | { leaseExpiry: { lease: string; revision: number } };

interface KeyOps {
  ops: TimedOp<KeyOp>[];
  sources: Source[];
}

const KEY_MODEL: SequentialModel<KeyState, KeyOp> = { init: INITIAL_KEY_STATE, step: stepKey, id: keyStateId, priority: keyOpPlace };

/**
 * timeLimitMs bounds the whole check (the exact layers are near-linear; the search is what can run
 * long). Lease grants, keep-alives and compactions are only checked for answering a revision that
 * exists; lease revokes count where they deleted keys.
 */
export function checkLinearizability(h: History, timeLimitMs: number): Verdict {
  const started = performance.now();
  const deadline = started + timeLimitMs;
  const replay = replayFinalEvents(h);
  if (!replay.ok) return violation('linearizability', replay.finding);
  const committed = replay.committed;
  const resolved = resolveCalls(h, committed);
  if (!resolved.ok) return violation('linearizability', resolved.finding);
  const res = resolved.resolution;
  const found = checkReads([...res.placed, ...res.serializable], committed) ?? checkRealTime(res.placed, new CompletedPoints(res.placed), committed);
  if (found !== undefined) return violation('linearizability', found);

  const perKey = keyOps(res, committed);
  const keys = [...perKey.keys()].sort();
  for (const [done, key] of keys.entries()) {
    const { ops, sources } = perKey.get(key) as KeyOps;
    const r = wglSearch(KEY_MODEL, ops, deadline);
    if (r.result === 'unknown') {
      return {
        checker: 'linearizability',
        result: 'unknown',
        message: `search exceeded the ${timeLimitMs} ms time limit on key ${key} (${done} of ${keys.length} keys checked, ${r.steps} steps on this key)`,
        evidence: { key, keysChecked: done, keysTotal: keys.length, opsOnKey: ops.length },
      };
    }
    if (r.result === 'violation') {
      const show = (i: number): unknown => ({ ...sources[i], as: ops[i].op });
      return violation('linearizability', {
        message: `no linearization of the calls on key ${key}: after ${r.linearized.length} operations none of the candidates fits before ${describe(sources[r.blockedBy])} returned`,
        evidence: {
          key,
          linearizedTail: r.linearized.slice(-5).map(show),
          blockedBy: show(r.blockedBy),
          candidates: r.candidates.map(show),
          events: committed.around([...r.linearized.slice(-1), r.blockedBy, ...r.candidates].map((i) => ops[i].op.revision), 0),
        },
      });
    }
  }
  return { checker: 'linearizability', result: 'ok' };
}

const describe = (s: Source): string => ('call' in s ? `call ${s.call.id}` : `the expiry of lease ${s.leaseExpiry.lease}`);

/** Splits the resolved calls into per-key operations of the key model. */
function keyOps(res: Resolution, committed: CommittedHistory): Map<string, KeyOps> {
  const out = new Map<string, KeyOps>();
  const add = (key: string, op: KeyOp, source: Source, invokeMs: number, completeMs: number): void => {
    let k = out.get(key);
    if (k === undefined) {
      k = { ops: [], sources: [] };
      out.set(key, k);
    }
    k.ops.push({ op, invokeMs, completeMs });
    k.sources.push(source);
  };
  // An unknown outcome never completes: it may have taken effect any time after its invocation.
  const completion = (c: Call): number => (c.outcome === 'ok' && c.completeMs !== undefined ? c.completeMs : Infinity);

  for (const { call: c, point } of res.placed) {
    const op = c.op;
    const source = { call: c };
    const span = [c.invokeMs, completion(c)] as const;
    const read = (value: string | null, modRevision: number, failedCompare?: number): KeyOp => ({ kind: 'read', revision: point.revision, value, modRevision, failedCompare });
    switch (op.type) {
      case 'put':
      case 'txn': {
        if (point.kind === 'read') {
          add(op.key, read(c.result?.value ?? null, c.result?.modRevision ?? 0, op.type === 'txn' ? op.expectModRev : undefined), source, ...span);
          break;
        }
        const ev = committed.putsByValue.get(op.value);
        if (ev === undefined) throw new Error(`resolved write ${c.id} has no event`); // resolveCalls guarantees it
        const expectModRev = op.type === 'txn' ? op.expectModRev : undefined;
        const lease = op.type === 'put' ? op.lease : undefined;
        add(op.key, { kind: 'put', revision: point.revision, value: op.value, lease, expectModRev, createRevision: ev.createRevision, version: ev.version }, source, ...span);
        break;
      }
      case 'delete':
        add(op.key, point.kind === 'write' ? { kind: 'delete', revision: point.revision } : read(null, 0), source, ...span);
        break;
      case 'get':
        add(op.key, read(c.result?.value ?? null, c.result?.modRevision ?? 0), source, ...span);
        break;
      default:
        break; // lease revokes: below, one operation per key they deleted
    }
  }
  for (const d of res.leaseDeletions) {
    const source: Source = d.revoke !== undefined ? { call: d.revoke } : { leaseExpiry: { lease: d.lease, revision: d.revision } };
    const span = d.revoke !== undefined ? ([d.revoke.invokeMs, completion(d.revoke)] as const) : ([-Infinity, Infinity] as const);
    for (const key of d.keys) add(key, { kind: 'lease-delete', revision: d.revision, lease: d.lease }, source, ...span);
  }
  return out;
}
