// etcd 3.4's one nondeterminism in what a watch stream says: a watcher's first responses that
// reach the stream's send loop before its created answer has gone out are held back and then sent
// whole, unfragmented, even by a watcher with fragment set (the created answer and the catch-up
// are ready at once; Go's select picks either; seen about once in a thousand catch-ups on a loaded
// machine). Where etcd did that, a watcher's fragments are compared joined up: the events and
// their order, not where they were cut.
import type { Msg } from './steps';
import { GRPC_RECV_LIMIT } from './gen-values';

const kvBytes = (kv: Msg | null): number => (kv === null ? 0 : (kv.key as Buffer).length + (kv.value as Buffer).length);

/** An unfragmented response of 2+ events that etcd would have split (its encoded size is at least
 *  its keys' and values' bytes, already at etcd's 2 MiB fragment limit): one that was held back. */
export function heldBackWhole(r: Msg): boolean {
  const evs = (r.events ?? []) as Msg[];
  return r.fragment !== true && evs.length >= 2 && evs.reduce((s, e) => s + kvBytes(e.kv as Msg) + kvBytes(e.prev_kv as Msg | null), 0) >= GRPC_RECV_LIMIT;
}

/** The responses with every complete run of fragments joined into one (an incomplete last run,
 *  still arriving, is left out). */
export function joinFragments(rs: readonly Msg[]): Msg[] {
  const out: Msg[] = [];
  let run: Msg[] = [];
  for (const r of rs) {
    if (r.fragment === true) {
      run.push(r);
      continue;
    }
    out.push(run.length === 0 ? r : { ...r, events: [...run.flatMap((f) => f.events as Msg[]), ...(r.events as Msg[])] });
    run = [];
  }
  return out;
}
