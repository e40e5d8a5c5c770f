// Generated KV requests: Range (every filter, sort and revision option, invalid enums), Put
// (leases, prev_kv, ignore_value/ignore_lease), DeleteRange, and Txns (nested, every compare
// target and result, range compares, every op kind, empty RequestOps, op counts around
// --max-txn-ops 128).
import type { Msg } from './steps';
import type { Values } from './gen-values';

/** etcd's default --max-txn-ops. */
const MAX_TXN_OPS = 128;
const MAX_DEPTH = 3;

/** Sets range_end unless it is undefined (then the field stays off the wire). */
export function withRangeEnd(m: Msg, end: Buffer | undefined): Msg {
  if (end !== undefined) m.range_end = end;
  return m;
}

export class KvGen {
  constructor(private readonly v: Values) {}

  range(inTxn = false): Msg {
    const { v } = this;
    const r = v.r;
    const key = v.key(inTxn);
    const req: Msg = withRangeEnd({ key }, v.rangeEnd(key));
    if (r.chance(0.3)) req.limit = r.pick([1, 2, 3, 5, -1, 0, 1000]);
    if (r.chance(0.3)) req.revision = v.revision();
    if (r.chance(0.25)) req.sort_order = v.enumValue(3, [3, -1, 7], 0.15);
    // Never a sort_target outside the enum: etcd 3.4 sorts with a nil sorter and panics (the whole
    // server goes down, from a Range or from a txn's range alike).
    if (r.chance(0.25)) req.sort_target = v.enumValue(5, [], 0);
    if (r.chance(0.15)) req.serializable = true;
    if (r.chance(0.12)) req.keys_only = true;
    if (r.chance(0.12)) req.count_only = true;
    const around = (): number => Math.max(0, v.st.revision + r.int(-6, 2));
    if (r.chance(0.06)) req.min_mod_revision = around();
    if (r.chance(0.06)) req.max_mod_revision = around();
    if (r.chance(0.06)) req.min_create_revision = around();
    if (r.chance(0.06)) req.max_create_revision = around();
    if (r.chance(0.01)) req.min_mod_revision = -1;
    return req;
  }

  put(inTxn = false): Msg {
    const { v } = this;
    const r = v.r;
    const req: Msg = { key: v.key(inTxn), value: v.value(inTxn) };
    const lease = v.lease();
    if (lease !== 0) req.lease = lease;
    if (r.chance(0.3)) req.prev_kv = true;
    if (r.chance(0.04)) {
      req.ignore_value = true;
      if (r.chance(0.8)) req.value = Buffer.alloc(0);
    }
    if (r.chance(0.04)) {
      req.ignore_lease = true;
      if (r.chance(0.8)) delete req.lease;
    }
    return req;
  }

  deleteRange(inTxn = false): Msg {
    const { v } = this;
    const key = v.key(inTxn);
    const req: Msg = withRangeEnd({ key }, v.rangeEnd(key));
    if (v.r.chance(0.4)) req.prev_kv = true;
    return req;
  }

  compare(): Msg {
    const { v } = this;
    const r = v.r;
    const target = v.enumValue(5, [5, -1, 77], 0.03);
    const result = v.enumValue(4, [4, -1, 9], 0.03);
    const c: Msg = { result, target, key: v.key(true) };
    if (r.chance(0.15)) withRangeEnd(c, v.rangeEnd(c.key as Buffer));
    // The union field normally matches the target; sometimes another one, sometimes none.
    const unionFor = (t: number): string => ['version', 'create_revision', 'mod_revision', 'value', 'lease'][t] ?? 'version';
    const field = r.weighted<string | undefined>([
      [unionFor(target), 90],
      [unionFor(r.int(0, 4)), 7],
      [undefined, 3],
    ]);
    if (field === 'version') c.version = r.int(0, 4);
    else if (field === 'create_revision' || field === 'mod_revision') c[field] = r.chance(0.1) ? v.revision() : r.int(0, v.st.revision + 1);
    else if (field === 'value') c.value = v.value(true);
    else if (field === 'lease') c.lease = v.lease();
    return c;
  }

  private count(depth: number): number {
    const r = this.v.r;
    const n = r.weighted([
      [0, 18],
      [1, 35],
      [2, 25],
      [3, 12],
      [5, 6],
      [-1, depth === 0 ? 1.5 : 0.5],
    ]);
    return n >= 0 ? n : r.pick([MAX_TXN_OPS - 1, MAX_TXN_OPS, MAX_TXN_OPS + 1]);
  }

  requestOp(depth: number): Msg {
    const r = this.v.r;
    const kinds: [string, number][] = [
      ['range', 30],
      ['put', 30],
      ['delete', 15],
      ['txn', depth < MAX_DEPTH ? 12 : 0],
      ['empty', 0.5],
    ];
    switch (r.weighted(kinds)) {
      case 'range':
        return { request_range: this.range(true) };
      case 'put':
        return { request_put: this.put(true) };
      case 'delete':
        return { request_delete_range: this.deleteRange(true) };
      case 'txn':
        return { request_txn: this.txnOps(depth + 1) };
      default:
        return {};
    }
  }

  /** A txn; nested ones are its ops. */
  txn(depth = 0): Msg {
    const t = this.txnOps(depth);
    if (depth === 0 && hasDelete(t)) clearIgnoreFlags(t);
    return t;
  }

  private txnOps(depth: number): Msg {
    const r = this.v.r;
    // Many small ops per level but more than the limit over all levels: the budget is per level.
    if (depth === 0 && r.chance(0.015)) return this.wideNested();
    if (depth === 0 && r.chance(0.008)) return this.deepChain();
    const many = (n: number, f: () => Msg): Msg[] => Array.from({ length: n }, f);
    const compare = many(this.count(depth), () => this.compare());
    const success = many(this.count(depth), () => this.requestOp(depth));
    const failure = many(this.count(depth), () => this.requestOp(depth));
    return { compare, success, failure };
  }

  /** One op per level, as deep as etcd's budget allows and a level more (each level gets its
   *  parent's budget less the parent's ops). */
  private deepChain(): Msg {
    const depth = this.v.r.pick([64, MAX_TXN_OPS - 1, MAX_TXN_OPS, MAX_TXN_OPS + 1]);
    let t: Msg = { compare: [], success: [{ request_put: { key: this.v.key(), value: this.v.value() } }], failure: [] };
    for (let i = 1; i < depth; i++) t = { compare: [], success: [{ request_txn: t }], failure: [] };
    return t;
  }

  private wideNested(): Msg {
    const r = this.v.r;
    const leaf = (): Msg => ({ request_range: { key: this.v.key() } });
    const inner = (): Msg => ({ request_txn: { compare: [], success: Array.from({ length: r.int(60, 100) }, leaf), failure: [] } });
    return { compare: [], success: Array.from({ length: r.int(2, 3) }, inner), failure: [] };
  }
}

// etcd 3.4 checks a txn's ignore_value / ignore_lease puts against the store before the txn, and
// applies them after its earlier ops: a put whose key an earlier delete of the txn removed (a
// from-key delete passes the overlap check) fails in the apply loop, which panics, and again at
// every restart (it replays the entry). So a txn with a delete has no ignore flags.
function hasDelete(t: Msg): boolean {
  return [...(t.success as Msg[]), ...(t.failure as Msg[])].some((op) => op.request_delete_range !== undefined || (op.request_txn !== undefined && hasDelete(op.request_txn as Msg)));
}

function clearIgnoreFlags(t: Msg): void {
  for (const op of [...(t.success as Msg[]), ...(t.failure as Msg[])]) {
    const put = op.request_put as Msg | undefined;
    if (put !== undefined) {
      delete put.ignore_value;
      delete put.ignore_lease;
    }
    if (op.request_txn !== undefined) clearIgnoreFlags(op.request_txn as Msg);
  }
}
