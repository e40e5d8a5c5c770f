// What each read saw must be a real state: the key as the committed history has it at the
// revision the read was served at. Applies to gets (linearizable and serializable), txns whose
// compare failed (they read the key), and ok deletes that deleted nothing (the key was absent).
import type { Call } from './history';
import type { Finding } from './check-finding';
import type { CommittedHistory } from './check-events';
import type { Placed } from './check-realtime';

/** The answer as (value, modRevision); a missing value means no such key. */
const seen = (c: Call): { value: string | null; modRevision: number } => ({ value: c.result?.value ?? null, modRevision: c.result?.modRevision ?? 0 });

export function checkReads(reads: Placed[], committed: CommittedHistory): Finding | undefined {
  for (const { call: c, point } of reads) {
    if (point.kind !== 'read') continue;
    const op = c.op;
    if (op.type !== 'get' && op.type !== 'txn' && op.type !== 'delete') continue;
    const R = point.revision;
    const state = committed.stateAt(op.key, R);
    const evidence = { call: c, stateAtRevision: state, events: committed.around([R, state.modRevision].filter((r) => r > 0), 0) };
    if (op.type === 'delete') {
      if (state.value !== null) {
        return { message: `lost delete: call ${c.id} deleted ${op.key} acknowledged at revision ${R}, but there is no delete of it at ${R} and it existed then`, evidence };
      }
      continue;
    }
    const got = seen(c);
    if (got.value !== state.value || got.modRevision !== state.modRevision) {
      const kind = op.type === 'txn' ? 'failed txn' : op.serializable ? 'serializable read' : 'read';
      return {
        message: `${kind} call ${c.id} of ${op.key} at revision ${R} returned ${JSON.stringify(got.value)} (mod ${got.modRevision}), but the key was ${JSON.stringify(state.value)} (mod ${state.modRevision}) at that revision`,
        evidence,
      };
    }
    if (op.type === 'txn' && state.modRevision === op.expectModRev) {
      return { message: `txn call ${c.id} answered compare failed at revision ${R}, but ${op.key}'s mod_revision was ${op.expectModRev} as compared`, evidence };
    }
  }
  return undefined;
}
