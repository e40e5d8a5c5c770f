// KV calls as the views use them: bytes in, decoded key-values out.
import { fromBase64, toBase64 } from './bytes.js';
import { num, type KeyValue, type KeyValueJson, type RangeResponseJson } from './etcd-types.js';
import { call, type CallOptions } from './gateway.js';

export function decodeKv(j: KeyValueJson): KeyValue {
  return {
    key: fromBase64(j.key),
    value: fromBase64(j.value),
    createRevision: num(j.create_revision),
    modRevision: num(j.mod_revision),
    version: num(j.version),
    lease: j.lease ?? '',
  };
}

export interface RangeArgs {
  key: Uint8Array;
  /** Undefined: the key alone. */
  rangeEnd?: Uint8Array;
  limit?: number;
  revision?: number;
  keysOnly?: boolean;
  countOnly?: boolean;
}

export interface RangeResult {
  kvs: KeyValue[];
  more: boolean;
  count: number;
  revision: number;
}

/** The JSON a Range request is sent as (the 1M-key test reads these bodies back). */
export function rangeBody(a: RangeArgs): Record<string, unknown> {
  const body: Record<string, unknown> = { key: toBase64(a.key) };
  if (a.rangeEnd !== undefined) body.range_end = toBase64(a.rangeEnd);
  if (a.limit !== undefined) body.limit = String(a.limit);
  if (a.revision !== undefined) body.revision = String(a.revision);
  if (a.keysOnly === true) body.keys_only = true;
  if (a.countOnly === true) body.count_only = true;
  return body;
}

export async function range(a: RangeArgs, options?: CallOptions): Promise<RangeResult> {
  const r = await call<RangeResponseJson>('kv/range', rangeBody(a), options);
  return { kvs: (r.kvs ?? []).map(decodeKv), more: r.more === true, count: num(r.count), revision: num(r.header?.revision) };
}

export async function get(key: Uint8Array, options?: CallOptions): Promise<{ kv: KeyValue | undefined; revision: number }> {
  const r = await range({ key }, options);
  return { kv: r.kvs[0], revision: r.revision };
}

/** Puts a value; the key keeps the lease it has (ignore_lease) unless it has none. */
export async function put(key: Uint8Array, value: Uint8Array, keepLease: boolean): Promise<number> {
  const body: Record<string, unknown> = { key: toBase64(key), value: toBase64(value) };
  if (keepLease) body.ignore_lease = true;
  const r = await call<{ header?: { revision?: string } }>('kv/put', body);
  return num(r.header?.revision);
}

export async function del(key: Uint8Array): Promise<number> {
  const r = await call<{ header?: { revision?: string }; deleted?: string }>('kv/deleterange', { key: toBase64(key) });
  return num(r.deleted);
}

export async function compact(revision: number): Promise<void> {
  await call('kv/compaction', { revision: String(revision), physical: false });
}
