// Linearizable reads (etcd's linearizableReadNotify): reads that arrive while no ReadIndex round
// is open join the next round; one round (one quorum confirmation) serves all of them. A round
// ends when raft answers with a read index and this member has applied up to it. A round that
// goes unanswered (its messages lost, or leadership moved) is asked again every RETRY_MS with a
// new context, as etcd does, rather than holding every read until the request timeout.
import { Errors } from '../errors';

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface ReadIndexer {
  /** Starts a round identified by context; throws (no leader) if raft cannot. */
  readIndex(context: Buffer): void;
  appliedIndex(): number;
}

const RETRY_MS = 500;

export class ReadBarrier {
  /** Reads waiting for the next round to start. */
  private pending: Waiter[] = [];
  /** The round in flight: its id and its readers. */
  private round: { id: bigint; waiters: Waiter[]; timer: NodeJS.Timeout; deadline: number } | undefined;
  /** A round whose index is known, waiting for apply to catch up. */
  private waitingApply: { index: number; waiters: Waiter[] }[] = [];
  private nextId = 1n;
  private scheduled = false;

  constructor(
    private readonly raft: ReadIndexer,
    private readonly timeoutMs: number,
  ) {}

  wait(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.scheduleRound();
    });
  }

  /** raft answered a round. */
  onReadState(index: number, context: Buffer): void {
    const r = this.round;
    if (r === undefined || context.length !== 8 || context.readBigUInt64BE(0) !== r.id) return;
    clearInterval(r.timer);
    this.round = undefined;
    this.waitingApply.push({ index, waiters: r.waiters });
    this.onApplied(this.raft.appliedIndex());
    this.scheduleRound();
  }

  onApplied(applied: number): void {
    if (this.waitingApply.length === 0) return;
    const still: { index: number; waiters: Waiter[] }[] = [];
    for (const w of this.waitingApply) {
      if (w.index <= applied) for (const x of w.waiters) x.resolve();
      else still.push(w);
    }
    this.waitingApply = still;
  }

  /** Fails every read (the member is stopping). */
  close(err: Error): void {
    if (this.round !== undefined) {
      clearInterval(this.round.timer);
      for (const w of this.round.waiters) w.reject(err);
      this.round = undefined;
    }
    for (const w of this.pending) w.reject(err);
    for (const g of this.waitingApply) for (const w of g.waiters) w.reject(err);
    this.pending = [];
    this.waitingApply = [];
  }

  private scheduleRound(): void {
    if (this.scheduled || this.round !== undefined || this.pending.length === 0) return;
    this.scheduled = true;
    // Let every read of this event-loop turn join the round.
    setImmediate(() => {
      this.scheduled = false;
      this.startRound();
    });
  }

  private startRound(): void {
    if (this.round !== undefined || this.pending.length === 0) return;
    const waiters = this.pending;
    this.pending = [];
    const id = this.ask();
    if (id === undefined) {
      for (const w of waiters) w.reject(Errors.noLeader());
      return;
    }
    const timer = setInterval(() => this.retry(), RETRY_MS);
    timer.unref();
    this.round = { id, waiters, timer, deadline: Date.now() + this.timeoutMs };
  }

  /** Asks raft for a read index under a new context; undefined when raft cannot (no leader). */
  private ask(): bigint | undefined {
    const id = this.nextId++;
    const context = Buffer.alloc(8);
    context.writeBigUInt64BE(id);
    try {
      this.raft.readIndex(context);
      return id;
    } catch {
      return undefined;
    }
  }

  /** The round is still unanswered: ask again (answers to older contexts are ignored), or give up. */
  private retry(): void {
    const r = this.round;
    if (r === undefined) return;
    if (Date.now() >= r.deadline) {
      clearInterval(r.timer);
      this.round = undefined;
      for (const w of r.waiters) w.reject(Errors.timeout());
      this.scheduleRound();
      return;
    }
    r.id = this.ask() ?? r.id;
  }
}
