// Request checks done before a request reaches Raft, with etcd's errors (etcd's v3rpc/key.go).
import { Errors } from '../errors';
import { SortOrder, SortTarget, type DeleteRangeRequest, type PutRequest, type RangeRequest, type RequestOp, type TxnRequest } from '../pb/types';

export function checkRange(r: RangeRequest): void {
  if (r.key.length === 0) throw Errors.emptyKey();
  // etcd 3.4 checks neither enum: an unknown order sorts nothing (whatever the target), and an
  // unknown target with a known order (or none, which sorts ascending by it) crashes etcd. That
  // one case we refuse, with etcd 3.5's error.
  if (!(r.sort_target in SortTarget) && r.sort_order in SortOrder) throw Errors.invalidSortOption();
}

export function checkPut(r: PutRequest): void {
  if (r.key.length === 0) throw Errors.emptyKey();
  if (r.ignore_value && r.value.length !== 0) throw Errors.valueProvided();
  if (r.ignore_lease && BigInt(r.lease) !== 0n) throw Errors.leaseProvided();
}

export function checkDeleteRange(r: DeleteRangeRequest): void {
  if (r.key.length === 0) throw Errors.emptyKey();
}

export function checkTxn(r: TxnRequest, maxTxnOps: number): void {
  checkTxnOps(r, maxTxnOps);
  checkIntervals(r.success);
  checkIntervals(r.failure);
}

/**
 * How deep txns may nest. A nested txn that decodes must also encode into its Raft entry and
 * its response, each one message level deeper (pb/load.ts sets the codec's limit well above
 * twice this). etcd has no such limit short of Go's decoder; a txn nested this deep already
 * holds this many operations, so it is refused as too many.
 */
export const MAX_TXN_DEPTH = 1000;

/** etcd's budget: a nested txn may hold what its parent's budget leaves after the parent's own count. */
function checkTxnOps(r: TxnRequest, maxTxnOps: number, depth = 1): void {
  const count = Math.max(r.compare.length, r.success.length, r.failure.length);
  if (count > maxTxnOps) throw Errors.tooManyOps();
  if (depth > MAX_TXN_DEPTH) throw Errors.tooManyOps();
  for (const c of r.compare) if (c.key.length === 0) throw Errors.emptyKey();
  for (const op of r.success) checkOp(op, maxTxnOps - count, depth);
  for (const op of r.failure) checkOp(op, maxTxnOps - count, depth);
}

function checkOp(op: RequestOp, maxTxnOps: number, depth: number): void {
  if (op.request_range) checkRange(op.request_range);
  else if (op.request_put) checkPut(op.request_put);
  else if (op.request_delete_range) checkDeleteRange(op.request_delete_range);
  else if (op.request_txn) checkTxnOps(op.request_txn, maxTxnOps, depth + 1);
  // An empty op, in either branch, taken or not (etcd's answer, odd as its text is).
  else throw Errors.keyNotFound();
}

/** A half-open key interval; end undefined = the single key, empty = no end. */
interface Interval {
  start: Buffer;
  end: Buffer | undefined;
}

/**
 * etcd checks overlaps on the literal interval [key, range_end): a from-key delete (range_end
 * "\0") and one whose end is below its key are empty there, so they conflict with no put.
 */
function contains(iv: Interval, key: Buffer): boolean {
  if (iv.end === undefined) return iv.start.equals(key);
  return Buffer.compare(key, iv.start) >= 0 && Buffer.compare(key, iv.end) < 0;
}

/**
 * etcd's rule: within one branch a key may be put once and may not be both put and deleted,
 * counting nested txns (whose then and else branches exclude each other).
 */
function checkIntervals(ops: RequestOp[]): { puts: Set<string>; dels: Interval[] } {
  const dels: Interval[] = [];
  for (const op of ops) {
    const d = op.request_delete_range;
    if (d) dels.push({ start: d.key, end: d.range_end.length > 0 ? d.range_end : undefined });
  }
  const deleted = (k: string): boolean => dels.some((iv) => contains(iv, Buffer.from(k, 'binary')));
  const puts = new Set<string>();
  for (const op of ops) {
    const t = op.request_txn;
    if (!t) continue;
    const then = checkIntervals(t.success);
    const otherwise = checkIntervals(t.failure);
    for (const k of then.puts) {
      if (puts.has(k) || deleted(k)) throw Errors.duplicateKey();
      puts.add(k);
    }
    for (const k of otherwise.puts) {
      if ((puts.has(k) && !then.puts.has(k)) || deleted(k)) throw Errors.duplicateKey();
      puts.add(k);
    }
    dels.push(...then.dels, ...otherwise.dels);
  }
  for (const op of ops) {
    const p = op.request_put;
    if (!p) continue;
    const k = p.key.toString('binary');
    if (puts.has(k) || deleted(k)) throw Errors.duplicateKey();
    puts.add(k);
  }
  return { puts, dels };
}

/** etcd lets gRPC frames exceed --max-request-bytes by this much, so its own check answers first. */
export const GRPC_OVERHEAD_BYTES = 512 * 1024;
