// The Wing & Gong linearizability search with Lowe's memoisation, as in Porcupine (checkSingle):
// a list of call/return entries in time order; repeatedly linearize a call entry that precedes
// every return entry, that the model accepts, and whose (linearized set, state) pair was not seen
// before; backtrack when none does (the op of the first return entry had to take effect by then).
// Exhaustive, hence exponential in the worst case: a deadline turns "ran out of time" into
// 'unknown', never 'ok'.

export interface SequentialModel<S, O> {
  init: S;
  /** The state after op, or undefined if op cannot happen in s. */
  step(s: S, op: O): S | undefined;
  /** Equal ids for equal states (memoisation key). */
  id(s: S): string;
  /** Optional: candidates with a lower number are tried first (a heuristic; any order is complete). */
  priority?(op: O): number;
}

/** completeMs = Infinity: the call may take effect any time after invokeMs (unknown outcome). */
export interface TimedOp<O> {
  invokeMs: number;
  completeMs: number;
  op: O;
}

export type WglResult =
  | { result: 'ok' }
  | { result: 'unknown'; steps: number }
  /**
   * The deepest partial linearization found (op indices in order), the op whose return came
   * before it could be placed there, and the ops that were candidates at that point.
   */
  | { result: 'violation'; linearized: number[]; blockedBy: number; candidates: number[] };

const CHECK_CLOCK_EVERY = 128;

/**
 * The set of linearized ops as an exact, short memo key. Ops are ranked in the order a search
 * mostly linearizes them (priority, then invocation), so the set is nearly always "every op up to
 * rank p" plus a few beyond: the key is p and those few, not an n-bit copy per visited pair (which
 * made one hot key of tens of thousands of ops quadratic).
 */
class LinearizedSet {
  private readonly rank: Int32Array;
  private readonly has: Uint8Array;
  /** Every rank below prefix is in the set. */
  private prefix = 0;
  /** Ranks >= prefix in the set. */
  private readonly beyond = new Set<number>();

  constructor(ops: readonly { invokeMs: number; completeMs: number }[], priority: (i: number) => number) {
    const p = ops.map((_, i) => priority(i));
    // Infinite times compare as equal (NaN || next) and fall through to the next criterion.
    const order = ops.map((_, i) => i).sort((a, b) => p[a] - p[b] || ops[a].invokeMs - ops[b].invokeMs || ops[a].completeMs - ops[b].completeMs || a - b);
    this.rank = new Int32Array(ops.length);
    order.forEach((op, r) => (this.rank[op] = r));
    this.has = new Uint8Array(ops.length);
  }

  add(op: number): void {
    const r = this.rank[op];
    this.has[r] = 1;
    if (r !== this.prefix) {
      this.beyond.add(r);
      return;
    }
    this.prefix++;
    while (this.prefix < this.has.length && this.has[this.prefix] === 1) this.beyond.delete(this.prefix++);
  }

  remove(op: number): void {
    const r = this.rank[op];
    this.has[r] = 0;
    if (r >= this.prefix) {
      this.beyond.delete(r);
      return;
    }
    for (let x = r + 1; x < this.prefix; x++) this.beyond.add(x);
    this.prefix = r;
  }

  key(): string {
    return this.beyond.size === 0 ? String(this.prefix) : `${this.prefix}+${[...this.beyond].sort((a, b) => a - b).join(',')}`;
  }
}

export function wglSearch<S, O>(model: SequentialModel<S, O>, ops: TimedOp<O>[], deadlineMs: number): WglResult {
  const n = ops.length;
  if (n === 0) return { result: 'ok' };
  // Node 0 is the head; op i has call node 2i+1 and return node 2i+2.
  const isCall = (node: number): boolean => (node & 1) === 1;
  const opOf = (node: number): number => (node - 1) >> 1;
  const time = (node: number): number => (isCall(node) ? ops[opOf(node)].invokeMs : ops[opOf(node)].completeMs);
  const order = Array.from({ length: 2 * n }, (_, i) => i + 1);
  // Calls before returns at equal times: touching intervals count as concurrent.
  order.sort((a, b) => time(a) - time(b) || (isCall(b) ? 1 : 0) - (isCall(a) ? 1 : 0) || a - b);
  const next = new Int32Array(2 * n + 1).fill(-1);
  const prev = new Int32Array(2 * n + 1).fill(-1);
  let last = 0;
  for (const node of order) {
    next[last] = node;
    prev[node] = last;
    last = node;
  }
  const lift = (i: number): void => {
    const c = 2 * i + 1;
    const r = c + 1;
    next[prev[c]] = next[c];
    if (next[c] !== -1) prev[next[c]] = prev[c];
    next[prev[r]] = next[r];
    if (next[r] !== -1) prev[next[r]] = prev[r];
  };
  const unlift = (i: number): void => {
    const c = 2 * i + 1;
    const r = c + 1;
    next[prev[r]] = r;
    if (next[r] !== -1) prev[next[r]] = r;
    next[prev[c]] = c;
    if (next[c] !== -1) prev[next[c]] = c;
  };

  const priority = model.priority;
  const linearized = new LinearizedSet(ops, priority === undefined ? () => 0 : (i) => priority(ops[i].op));
  const stateIds = new Map<string, number>();
  const sid = (s: S): number => {
    const k = model.id(s);
    let v = stateIds.get(k);
    if (v === undefined) {
      v = stateIds.size;
      stateIds.set(k, v);
    }
    return v;
  };
  // (linearized set, state) pairs already explored.
  const seen = new Set<string>();
  const visit = (s: S): boolean => {
    const key = `${linearized.key()}|${sid(s)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  };

  // Candidates: the call entries before the first return entry (no pending op returned before
  // they were invoked). Trying them in the model's priority order instead of list order keeps the
  // search exhaustive (every candidate is still tried before backtracking) but lets a model whose
  // ops carry their place (etcd revisions) walk straight through a correct history.
  const candidatesNow = (): { candidates: number[]; blocker: number } => {
    const candidates: number[] = [];
    let e = next[0];
    for (; e !== -1 && isCall(e); e = next[e]) candidates.push(opOf(e));
    if (priority !== undefined) {
      const p = candidates.map((i) => priority(ops[i].op));
      const order = candidates.map((_, j) => j).sort((a, b) => p[a] - p[b] || a - b);
      return { candidates: order.map((j) => candidates[j]), blocker: e === -1 ? -1 : opOf(e) };
    }
    return { candidates, blocker: e === -1 ? -1 : opOf(e) };
  };
  interface Frame {
    /** The op linearized to reach this frame (-1 at the root) and the state it produced. */
    op: number;
    state: S;
    candidates: number[];
    blocker: number;
    tried: number;
  }
  const frames: Frame[] = [{ op: -1, state: model.init, ...candidatesNow(), tried: 0 }];
  let deepest: Extract<WglResult, { result: 'violation' }> | undefined;
  let steps = 0;
  for (;;) {
    if (steps++ % CHECK_CLOCK_EVERY === 0 && performance.now() > deadlineMs) return { result: 'unknown', steps };
    const f = frames[frames.length - 1];
    if (f.tried < f.candidates.length) {
      const i = f.candidates[f.tried++];
      const after = model.step(f.state, ops[i].op);
      if (after === undefined) continue;
      linearized.add(i);
      if (!visit(after)) {
        linearized.remove(i);
        continue;
      }
      lift(i);
      if (next[0] === -1) return { result: 'ok' };
      frames.push({ op: i, state: after, ...candidatesNow(), tried: 0 });
      continue;
    }
    // Every candidate failed: the blocker had to take effect by now and cannot. Dead end.
    if (deepest === undefined || frames.length - 1 > deepest.linearized.length) {
      deepest = { result: 'violation', linearized: frames.slice(1).map((x) => x.op), blockedBy: f.blocker, candidates: f.candidates };
    }
    if (frames.length === 1) return deepest;
    frames.pop();
    unlift(f.op);
    linearized.remove(f.op);
  }
}
