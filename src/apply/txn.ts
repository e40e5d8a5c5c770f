// etcd's Put, DeleteRange and Txn semantics on one mvcc write. A Txn first evaluates every
// compare it will need (nested ones too) against the state before it, then checks the chosen
// ops, then executes them; so a failing check leaves nothing written, as in etcd.
import type { KeyValue } from '../mvcc/kv-record';
import type { WriteTxn } from '../mvcc/store';
import { Errors } from '../errors';
import {
  CompareResult,
  CompareTarget,
  type Compare,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type PutRequest,
  type PutResponse,
  type RequestOp,
  type ResponseOp,
  type TxnRequest,
  type TxnResponse,
} from '../pb/types';
import { mvccCall, range, rangeEnd, toPb } from './range';

export interface LeaseLookup {
  leaseExists(id: bigint): boolean;
}

export function put(txn: WriteTxn, p: PutRequest, leases: LeaseLookup, checked = false): PutResponse {
  if (!checked) checkPut(txn, p, leases);
  let value = p.value;
  let lease = BigInt(p.lease);
  const prev = p.ignore_value || p.ignore_lease || p.prev_kv ? txn.get(p.key) : undefined;
  if (p.ignore_value && prev !== undefined) value = prev.value;
  if (p.ignore_lease && prev !== undefined) lease = prev.lease;
  const { kv } = txn.put(p.key, value, lease);
  const resp: PutResponse = { header: { revision: kv.mod_revision } };
  if (p.prev_kv && prev !== undefined) resp.prev_kv = toPb(prev);
  return resp;
}

export function deleteRange(txn: WriteTxn, d: DeleteRangeRequest): DeleteRangeResponse {
  const deleted = txn.deleteRange(d.key, rangeEnd(d.range_end));
  const revision = deleted.length > 0 || txn.events.length > 0 ? txn.beginRevision + 1 : txn.beginRevision;
  return { header: { revision }, deleted: deleted.length, prev_kvs: d.prev_kv ? deleted.map((kv) => toPb(kv)) : [] };
}

export function txn(w: WriteTxn, t: TxnRequest, leases: LeaseLookup): TxnResponse {
  const path = comparePath(w, t);
  checkOps(w, t, path.slice(), leases);
  const resp = execute(w, t, path, leases);
  return resp;
}

/** True when no op of the txn (in either branch, nested too) writes. */
export function isReadOnly(t: TxnRequest): boolean {
  const ro = (ops: RequestOp[]): boolean =>
    ops.every((op) => (op.request_txn ? isReadOnly(op.request_txn) : !op.request_put && !op.request_delete_range));
  return ro(t.success) && ro(t.failure);
}

function comparePath(w: WriteTxn, t: TxnRequest): boolean[] {
  const ok = t.compare.every((c) => compare(w, c));
  const path = [ok];
  for (const op of ok ? t.success : t.failure) if (op.request_txn) path.push(...comparePath(w, op.request_txn));
  return path;
}

function checkOps(w: WriteTxn, t: TxnRequest, path: boolean[], leases: LeaseLookup): void {
  const ok = path.shift();
  for (const op of ok ? t.success : t.failure) {
    if (op.request_range) {
      const rev = Number(op.request_range.revision);
      if (rev > 0) mvccCall(() => w.range(op.request_range?.key ?? Buffer.alloc(0), undefined, { revision: rev, countOnly: true }));
    } else if (op.request_put) {
      checkPut(w, op.request_put, leases);
    } else if (op.request_txn) {
      checkOps(w, op.request_txn, path, leases);
    }
  }
}

function checkPut(w: WriteTxn, p: PutRequest, leases: LeaseLookup): void {
  const lease = BigInt(p.lease);
  if (lease !== 0n && !leases.leaseExists(lease)) throw Errors.leaseNotFound();
  if ((p.ignore_value || p.ignore_lease) && w.get(p.key) === undefined) throw Errors.keyNotFound();
}

function execute(w: WriteTxn, t: TxnRequest, path: boolean[], leases: LeaseLookup): TxnResponse {
  const ok = path.shift() ?? false;
  const responses: ResponseOp[] = [];
  for (const op of ok ? t.success : t.failure) {
    if (op.request_range) responses.push({ response_range: range(w, op.request_range) });
    else if (op.request_put) responses.push({ response_put: put(w, op.request_put, leases, true) });
    else if (op.request_delete_range) responses.push({ response_delete_range: deleteRange(w, op.request_delete_range) });
    else if (op.request_txn) responses.push({ response_txn: execute(w, op.request_txn, path, leases) });
  }
  const revision = w.events.length > 0 ? w.beginRevision + 1 : w.beginRevision;
  return { header: { revision }, succeeded: ok, responses };
}

function compare(w: WriteTxn, c: Compare): boolean {
  const kvs = mvccCall(() => w.range(c.key, rangeEnd(c.range_end))).kvs;
  if (kvs.length === 0) {
    // A missing key has no value to compare (nil and "" look the same on the wire): always false.
    if (c.target === CompareTarget.VALUE) return false;
    return compareOne(c, undefined);
  }
  return kvs.every((kv) => compareOne(c, kv));
}

function compareOne(c: Compare, kv: KeyValue | undefined): boolean {
  let result: number;
  switch (c.target) {
    case CompareTarget.VALUE:
      result = Buffer.compare(kv?.value ?? Buffer.alloc(0), c.value ?? Buffer.alloc(0));
      break;
    case CompareTarget.CREATE:
      result = Math.sign((kv?.create_revision ?? 0) - Number(c.create_revision ?? 0));
      break;
    case CompareTarget.MOD:
      result = Math.sign((kv?.mod_revision ?? 0) - Number(c.mod_revision ?? 0));
      break;
    case CompareTarget.LEASE: {
      const a = kv?.lease ?? 0n;
      const b = BigInt(c.lease ?? 0);
      result = a === b ? 0 : a > b ? 1 : -1;
      break;
    }
    default:
      result = Math.sign((kv?.version ?? 0) - Number(c.version ?? 0));
  }
  switch (c.result) {
    case CompareResult.EQUAL:
      return result === 0;
    case CompareResult.GREATER:
      return result > 0;
    case CompareResult.LESS:
      return result < 0;
    case CompareResult.NOT_EQUAL:
      return result !== 0;
    default:
      return false;
  }
}
