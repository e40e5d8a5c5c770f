// etcd's Range semantics on top of the store's plain range: limit + more, the min/max
// revision filters, sorting, keys_only and count_only.
import { CompactedError, FutureRevisionError } from '../mvcc/errors';
import type { KeyValue } from '../mvcc/kv-record';
import type { RangeEnd, RangeResult, RangeOptions } from '../mvcc/store';
import { Errors } from '../errors';
import { goSort } from './go-sort';
import { SortOrder, SortTarget, type KeyValuePb, type RangeRequest, type RangeResponse } from '../pb/types';
import { mvccOps } from '../metrics/mvcc-counts';

/** What a range reads from: the store's head or a write transaction's view. */
export interface RangeSource {
  range(key: Buffer, end: RangeEnd, options?: RangeOptions): RangeResult;
}

import { rangeEnd } from '../mvcc/range-end';
export { rangeEnd };

export function toPb(kv: KeyValue, keysOnly = false): KeyValuePb {
  return {
    key: kv.key,
    create_revision: kv.create_revision,
    mod_revision: kv.mod_revision,
    version: kv.version,
    value: keysOnly ? Buffer.alloc(0) : kv.value,
    lease: kv.lease === 0n ? 0 : kv.lease.toString(),
  };
}

/** Runs an mvcc call, turning its errors into etcd's client errors. */
export function mvccCall<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw mvccError(err);
  }
}

/** mvcc's errors as etcd's client errors; any other error as it is. */
export function mvccError(err: unknown): unknown {
  if (err instanceof CompactedError) return Errors.compacted();
  if (err instanceof FutureRevisionError) return Errors.futureRev();
  return err;
}

export function range(view: RangeSource, r: RangeRequest): RangeResponse {
  mvccOps.range++;
  const limit = Number(r.limit);
  const minMod = Number(r.min_mod_revision);
  const maxMod = Number(r.max_mod_revision);
  const minCreate = Number(r.min_create_revision);
  const maxCreate = Number(r.max_create_revision);
  const filtered = minMod !== 0 || maxMod !== 0 || minCreate !== 0 || maxCreate !== 0;
  // Sorting or filtering needs every key first; otherwise fetch one more than the limit to learn `more`.
  const fetchLimit = r.sort_order !== SortOrder.NONE || filtered ? 0 : limit > 0 ? limit + 1 : 0;
  const rr = mvccCall(() => view.range(r.key, rangeEnd(r.range_end), { revision: Number(r.revision), limit: fetchLimit, countOnly: r.count_only }));
  let kvs = rr.kvs;
  if (filtered) {
    kvs = kvs.filter(
      (kv) =>
        !(maxMod !== 0 && kv.mod_revision > maxMod) &&
        !(minMod !== 0 && kv.mod_revision < minMod) &&
        !(maxCreate !== 0 && kv.create_revision > maxCreate) &&
        !(minCreate !== 0 && kv.create_revision < minCreate),
    );
  }
  let order = r.sort_order;
  // The store returns keys ascending; any other target sorts ascending unless told otherwise.
  if (r.sort_target !== SortTarget.KEY && order === SortOrder.NONE) order = SortOrder.ASCEND;
  // An unknown order sorts nothing (etcd 3.4 checks for ascending and descending only).
  if (order === SortOrder.ASCEND || order === SortOrder.DESCEND) {
    const less = lessBy(r.sort_target);
    kvs = [...kvs];
    // etcd's own (unstable) sort, so that keys with equal values come in etcd's order.
    goSort(kvs, order === SortOrder.DESCEND ? (a, b) => less(b, a) : less);
  }
  let more = false;
  if (limit > 0 && kvs.length > limit) {
    kvs = kvs.slice(0, limit);
    more = true;
  }
  return { header: { revision: rr.revision }, kvs: kvs.map((kv) => toPb(kv, r.keys_only)), more, count: rr.count };
}

function lessBy(target: SortTarget): (a: KeyValue, b: KeyValue) => boolean {
  switch (target) {
    case SortTarget.VERSION:
      return (a, b) => a.version < b.version;
    case SortTarget.CREATE:
      return (a, b) => a.create_revision < b.create_revision;
    case SortTarget.MOD:
      return (a, b) => a.mod_revision < b.mod_revision;
    case SortTarget.VALUE:
      return (a, b) => Buffer.compare(a.value, b.value) < 0;
    default:
      return (a, b) => Buffer.compare(a.key, b.key) < 0;
  }
}
