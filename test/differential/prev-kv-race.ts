// etcd 3.4's second nondeterminism in what a watch stream says: it reads an event's prev_kv when
// its send loop sends the event (the key at the event's revision - 1), so a compaction past that
// revision that lands first makes the read fail and the event goes out without prev_kv (seen in
// etcd against etcd). Where one side's event lacks a prev_kv the other has, and the run has
// compacted past it, the prev_kv is not compared. Only etcd drops it: etcd-ts reads it at apply.
import type { Msg } from './steps';

/** `a` and `b` with the prev_kvs a compaction could have raced away taken out of both. */
export function withoutRacedPrevKvs(a: Msg | null, b: Msg | null, compacted: number, bIsEtcd: boolean): [Msg | null, Msg | null] {
  const [ea, eb] = [a?.events, b?.events];
  if (!Array.isArray(ea) || !Array.isArray(eb) || ea.length !== eb.length) return [a, b];
  let changed = false;
  const [xa, xb] = [[...ea] as Msg[], [...eb] as Msg[]];
  for (let i = 0; i < xa.length; i++) {
    const [pa, pb] = [xa[i].prev_kv ?? null, xb[i].prev_kv ?? null];
    const dropped = (pa === null && pb !== null) || (bIsEtcd && pb === null && pa !== null);
    if (!dropped || Number(xa[i].kv?.mod_revision) > compacted) continue;
    xa[i] = { ...xa[i], prev_kv: null };
    xb[i] = { ...xb[i], prev_kv: null };
    changed = true;
  }
  return changed ? [{ ...a, events: xa }, { ...b, events: xb }] : [a, b];
}
