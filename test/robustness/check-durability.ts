// Durability: nothing acknowledged is lost. Every ok put and successful txn is in the committed
// history; every ok delete either has its delete event at the revision it answered or found the
// key already absent there (the answer does not say whether it deleted anything, so that is the
// most the history shows); and the committed history replays to the final Range (checked by the
// replay). Leases are not checked: the history records no lease listing at the end.
import type { Call, History, Verdict } from './history';
import { violation } from './check-finding';
import { replayFinalEvents } from './check-events';

export function checkDurability(h: History): Verdict {
  const replay = replayFinalEvents(h);
  if (!replay.ok) return violation('durability', replay.finding);
  const committed = replay.committed;
  const lost = (c: Call, what: string, revision: number): Verdict =>
    violation('durability', {
      message: `lost acknowledged write: call ${c.id} (${what}) was acknowledged at revision ${revision} but ${
        c.op.type === 'delete' ? 'the key still existed then and no delete of it is committed there' : 'its value is not in the committed history'
      }`,
      evidence: { call: c, events: committed.around([revision]) },
    });

  for (const c of h.calls) {
    if (c.outcome !== 'ok') continue;
    const op = c.op;
    const revision = c.result?.revision ?? 0;
    switch (op.type) {
      case 'put':
      case 'txn':
        if (op.type === 'txn' && c.result?.succeeded !== true) break;
        if (!committed.putsByValue.has(op.value)) return lost(c, `${op.type} ${op.key}=${op.value}`, revision);
        break;
      case 'delete': {
        const g = committed.group(revision);
        const deletedThere = g?.events.some((e) => e.type === 'delete' && e.key === op.key) ?? false;
        if (!deletedThere && committed.stateAt(op.key, revision).value !== null) return lost(c, `delete ${op.key}`, revision);
        break;
      }
      default:
        break;
    }
  }
  return { checker: 'durability', result: 'ok' };
}
