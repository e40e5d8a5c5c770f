// The compacted revision, which no API reports directly: a Range at revision r fails with
// "required revision has been compacted" exactly when r is below it, so a binary search over
// [1, head] finds it in about log2(head) one-key reads (each answered from the key index).
import { utf8 } from './bytes.js';
import { Code, GatewayError } from './gateway.js';
import { range } from './kv.js';

const PROBE_KEY = utf8('\0etcd-ts-ui-compaction-probe');

async function compactedBelow(revision: number): Promise<boolean> {
  try {
    await range({ key: PROBE_KEY, revision });
    return false;
  } catch (err) {
    if (err instanceof GatewayError && err.code === Code.OUT_OF_RANGE && /compacted/.test(err.message)) return true;
    throw err;
  }
}

/** The compacted revision (0: never compacted) and the head revision. */
export async function compactedRevision(): Promise<{ compacted: number; head: number }> {
  const head = (await range({ key: PROBE_KEY })).revision;
  if (!(await compactedBelow(1))) return { compacted: 0, head };
  // Invariant: lo is compacted away, hi is readable.
  let lo = 1;
  let hi = head;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (await compactedBelow(mid)) lo = mid;
    else hi = mid;
  }
  return { compacted: hi, head };
}
