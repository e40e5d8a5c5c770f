// Request checks done before a request reaches Raft, with etcd's errors (etcd's v3rpc/key.go).
import { Errors } from '../errors';
import { SortOrder, SortTarget, type DeleteRangeRequest, type PutRequest, type RangeRequest, type RequestOp, type TxnRequest } from '../pb/types';

export function checkRange(r: RangeRequest): void {
  if (r.key.length === 0) throw Errors.emptyKey();
  if (!(r.sort_order in SortOrder) || !(r.sort_target in SortTarget)) throw Errors.invalidSortOption();
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

function checkTxnOps(r: TxnRequest, maxTxnOps: number, depth = 1): void {
  if (r.compare.length > maxTxnOps || r.success.length > maxTxnOps || r.failure.length > maxTxnOps) throw Errors.tooManyOps();
  if (depth > MAX_TXN_DEPTH) throw Errors.tooManyOps();
  for (const c of r.compare) if (c.key.length === 0) throw Errors.emptyKey();
  for (const op of [...r.success, ...r.failure]) checkOp(op, maxTxnOps, depth);
}

function checkOp(op: RequestOp, maxTxnOps: number, depth: number): void {
  if (op.request_range) checkRange(op.request_range);
  else if (op.request_put) checkPut(op.request_put);
  else if (op.request_delete_range) checkDeleteRange(op.request_delete_range);
  else if (op.request_txn) checkTxnOps(op.request_txn, maxTxnOps, depth + 1);
}

/** A half-open key interval; end undefined = the single key, empty = no end. */
interface Interval {
  start: Buffer;
  end: Buffer | undefined;
}

function contains(iv: Interval, key: Buffer): boolean {
  if (iv.end === undefined) return iv.start.equals(key);
  const unbounded = iv.end.length === 0 || (iv.end.length === 1 && iv.end[0] === 0);
  return Buffer.compare(key, iv.start) >= 0 && (unbounded || Buffer.compare(key, iv.end) < 0);
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
