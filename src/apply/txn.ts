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
import { mvccOpSum, mvccOps } from '../metrics/mvcc-counts';

export interface LeaseLookup {
  leaseExists(id: bigint): boolean;
}

export function put(txn: WriteTxn, p: PutRequest, leases: LeaseLookup, checked = false): PutResponse {
  // A Put on its own checks the lease first (etcd's applierV3backend.Put), one in a txn the key first.
  if (!checked) {
    checkLease(p, leases);
    checkPut(txn, p, leases);
  }
  let value = p.value;
  let lease = BigInt(p.lease);
  const prev = p.ignore_value || p.ignore_lease || p.prev_kv ? (mvccOps.range++, txn.get(p.key)) : undefined;
  if (p.ignore_value && prev !== undefined) value = prev.value;
  if (p.ignore_lease && prev !== undefined) lease = prev.lease;
  const { kv } = txn.put(p.key, value, lease);
  mvccOps.put++;
  const resp: PutResponse = { header: { revision: kv.mod_revision } };
  if (p.prev_kv && prev !== undefined) resp.prev_kv = toPb(prev);
  return resp;
}

export function deleteRange(txn: WriteTxn, d: DeleteRangeRequest): DeleteRangeResponse {
  const deleted = txn.deleteRange(d.key, rangeEnd(d.range_end));
  mvccOps.delete++;
  const revision = deleted.length > 0 || txn.events.length > 0 ? txn.beginRevision + 1 : txn.beginRevision;
  return { header: { revision }, deleted: deleted.length, prev_kvs: d.prev_kv ? deleted.map((kv) => toPb(kv)) : [] };
}

export function txn(w: WriteTxn, t: TxnRequest, leases: LeaseLookup): TxnResponse {
  // etcd counts a txn of more than one range, put or delete (compares are ranges).
  const opsBefore = mvccOpSum();
  try {
    const path = comparePath(w, t);
    checkOps(w, t, path.slice(), leases);
    return execute(w, t, path, leases);
  } finally {
    if (mvccOpSum() - opsBefore > 1) mvccOps.txn++;
  }
}

/**
 * etcd's isTxnReadonly: every op of both branches is a Range. A nested txn counts as a write even
 * when it only reads, so it goes through raft (and the request size limit) as in etcd.
 */
export function isReadOnly(t: TxnRequest): boolean {
  return t.success.every(isRange) && t.failure.every(isRange);
}

/** etcd's isTxnSerializable: every op a serializable Range (true for a txn without ops), read without the linearizable barrier. */
export function isSerializable(t: TxnRequest): boolean {
  return [...t.success, ...t.failure].every((op) => isRange(op) && op.request_range?.serializable === true);
}

const isRange = (op: RequestOp): boolean => op.request_range !== undefined && op.request_range !== null;

function comparePath(w: WriteTxn, t: TxnRequest): boolean[] {
  const ok = t.compare.every((c) => compare(w, c));
  const path = [ok];
  for (const op of ok ? t.success : t.failure) if (op.request_txn) path.push(...comparePath(w, op.request_txn));
  return path;
}

/**
 * etcd's order: every put of the taken path (nested txns included) first, then every range; the
 * first failure refuses the whole txn.
 */
function checkOps(w: WriteTxn, t: TxnRequest, path: boolean[], leases: LeaseLookup): void {
  forTakenOps(t, path.slice(), (op) => {
    if (op.request_put) checkPut(w, op.request_put, leases);
  });
  forTakenOps(t, path.slice(), (op) => {
    if (op.request_range) checkRangeRevision(w, Number(op.request_range.revision));
  });
}

/** Calls fn for each op (not txn) of the branches path takes, in order; consumes path. */
function forTakenOps(t: TxnRequest, path: boolean[], fn: (op: RequestOp) => void): void {
  const ok = path.shift();
  for (const op of ok ? t.success : t.failure) {
    if (op.request_txn) forTakenOps(op.request_txn, path, fn);
    else fn(op);
  }
}

/** A range's revision against the state before the txn: 0 is the head; compacted means below it. */
function checkRangeRevision(w: WriteTxn, rev: number): void {
  if (rev === 0) return;
  if (rev > w.beginRevision) throw Errors.futureRev();
  // Also a negative revision: etcd compares it with its compacted revision, which is -1 on a
  // store never compacted (so -1 reads the head there and -2 is compacted).
  if (rev < w.compactRevision()) throw Errors.compacted();
}

function checkPut(w: WriteTxn, p: PutRequest, leases: LeaseLookup): void {
  if ((p.ignore_value || p.ignore_lease) && w.get(p.key) === undefined) throw Errors.keyNotFound();
  checkLease(p, leases);
}

function checkLease(p: PutRequest, leases: LeaseLookup): void {
  const lease = BigInt(p.lease);
  if (lease !== 0n && !leases.leaseExists(lease)) throw Errors.leaseNotFound();
}

function execute(w: WriteTxn, t: TxnRequest, path: boolean[], leases: LeaseLookup, nested = false): TxnResponse {
  const ok = path.shift() ?? false;
  const responses: ResponseOp[] = [];
  for (const op of ok ? t.success : t.failure) {
    if (op.request_range) responses.push({ response_range: range(w, op.request_range) });
    else if (op.request_put) responses.push({ response_put: put(w, op.request_put, leases, true) });
    else if (op.request_delete_range) responses.push({ response_delete_range: deleteRange(w, op.request_delete_range) });
    else if (op.request_txn) responses.push({ response_txn: execute(w, op.request_txn, path, leases, true) });
  }
  // A nested txn's response carries an empty header in etcd (its ops' responses carry theirs).
  if (nested) return { header: {}, succeeded: ok, responses };
  const revision = w.events.length > 0 ? w.beginRevision + 1 : w.beginRevision;
  return { header: { revision }, succeeded: ok, responses };
}

function compare(w: WriteTxn, c: Compare): boolean {
  mvccOps.range++;
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
    case CompareTarget.VERSION:
      result = Math.sign((kv?.version ?? 0) - Number(c.version ?? 0));
      break;
    default:
      // An unknown target compares nothing: as equal (etcd).
      result = 0;
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
      // An unknown result holds (etcd).
      return true;
  }
}
