// What of an answer is compared. Removed: the header's cluster_id, member_id and raft_term (they
// name the server, not the answer). Renamed: lease IDs a server chose itself (granted with ID 0)
// become auto#N, N the grant's slot, as requests name them. Loosened: a lease's remaining TTL
// (time-dependent; the two servers granted it some milliseconds apart) compares within a second.
// Relative: the size of the message in grpc's "received message larger than max (N vs. M)" is
// given relative to the size of the request that server was sent (the two requests differ by a
// byte per lease ID the servers chose, when those IDs' varints differ in length).
// Sorted: the keys of a LeaseTimeToLive, which etcd lists from a Go map (a new order every call).
// Everything else is compared as it came, orders too: LeaseLeases lists by expiry in etcd, the
// same order for both servers (the two grants of a lease are sent at once; two leases whose
// expiries are milliseconds apart would need TTLs differing by just their grants' distance).
import * as grpc from '@grpc/grpc-js';
import type { Msg } from './steps';

/** A number that matches another within `tol` (both positive; else exactly). */
export class Approx {
  constructor(
    readonly value: number,
    readonly tol: number,
  ) {}
}

export type Answer = { ok: true; msg: Msg } | { ok: false; code: number; details: string };

const CODE_NAMES = Object.fromEntries(Object.entries(grpc.status).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v, k])) as Record<number, string>;

export const codeName = (code: number): string => CODE_NAMES[code] ?? String(code);

const SIZE_IN_MESSAGE = /(received message larger than max \()(\d+)( vs\.? \d+\))/;

/** The answer with the size in a message-too-large error relative to `sent` (see above). */
export function sizeRelative(a: Answer, sent: number | undefined): Answer {
  if (a.ok || sent === undefined) return a;
  const m = SIZE_IN_MESSAGE.exec(a.details);
  if (m === null) return a;
  const d = Number(m[2]) - sent;
  return { ...a, details: a.details.replace(SIZE_IN_MESSAGE, `$1<size of the request${d === 0 ? '' : d > 0 ? ` + ${d}` : ` - ${-d}`}>$3`) };
}

/** A side's map from the lease IDs it chose to their names (auto#N). */
export type LeaseNames = ReadonlyMap<string, string>;

function walk(v: unknown, names: LeaseNames): unknown {
  if (Buffer.isBuffer(v) || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => walk(x, names));
  const out: Msg = {};
  for (const [k, x] of Object.entries(v as Msg)) {
    if (k === 'header' && x !== null && typeof x === 'object') out[k] = { revision: (x as Msg).revision };
    else if ((k === 'ID' || k === 'lease') && typeof x === 'string') out[k] = names.get(x) ?? x;
    else out[k] = walk(x, names);
  }
  return out;
}

export function normaliseAnswer(method: string, a: Answer, names: LeaseNames): unknown {
  if (!a.ok) return { error: { code: codeName(a.code), message: a.details } };
  const m = walk(a.msg, names) as Msg;
  if (method === 'LeaseTimeToLive') {
    const ttl = Number(m.TTL);
    if (ttl > 0) m.TTL = new Approx(ttl, 1);
    if (Array.isArray(m.keys)) m.keys = [...(m.keys as Buffer[])].sort(Buffer.compare);
  }
  return m;
}

/** A watch response as compared: its header's revision, lease names; every other field as is. */
export function normaliseWatchResponse(r: Msg, names: LeaseNames): Msg {
  return walk(r, names) as Msg;
}
