// What of an answer is compared. Removed: the header's cluster_id, member_id and raft_term (they
// name the server, not the answer). Renamed: lease IDs a server chose itself (granted with ID 0)
// become auto#N, N the grant's slot, as requests name them. Loosened: a lease's remaining TTL
// (time-dependent; the two servers granted it some milliseconds apart) compares within a second.
// Sorted: lists etcd builds from Go maps, so their order is not part of its answer (the keys of a
// LeaseTimeToLive, the leases of LeaseLeases). Everything else is compared as it came.
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

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function normaliseAnswer(method: string, a: Answer, names: LeaseNames): unknown {
  if (!a.ok) return { error: { code: codeName(a.code), message: a.details } };
  const m = walk(a.msg, names) as Msg;
  if (method === 'LeaseTimeToLive') {
    const ttl = Number(m.TTL);
    if (ttl > 0) m.TTL = new Approx(ttl, 1);
    if (Array.isArray(m.keys)) m.keys = [...(m.keys as Buffer[])].sort(Buffer.compare);
  }
  if (method === 'LeaseLeases' && Array.isArray(m.leases)) m.leases = [...(m.leases as Msg[])].sort((x, y) => byString(String(x.ID), String(y.ID)));
  return m;
}

/** A watch response as compared: its header's revision, lease names; every other field as is. */
export function normaliseWatchResponse(r: Msg, names: LeaseNames): Msg {
  return walk(r, names) as Msg;
}
