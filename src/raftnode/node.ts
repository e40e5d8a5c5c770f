// Drives the pure Raft state machine: ticks it on a timer, feeds it proposals, and handles each
// Ready in one LMDB write transaction — append entries, save hard state, apply committed entries
// (the applier records the applied index in that same transaction) — committed with one fsync.
// Every proposal that arrives while a Ready is being written joins the next one: group commit.
import type { Backend } from '../backend/backend';
import { Raft } from '../raft/raft';
import { Role, type Entry, type MemberId, type Message } from '../raft/types';
import { LogStore } from './log-store';

/** What the node calls to apply committed entries; runs inside the Ready transaction. */
export interface Applier {
  appliedIndex(): number;
  applyEntries(entries: Entry[]): void;
  /** After the transaction is on disk: results may now be released to clients. */
  afterCommit(): void;
}

export interface RaftNodeOptions {
  backend: Backend;
  id: MemberId;
  voters: MemberId[];
  applier: Applier;
  tickMs: number;
  electionTicks: number;
  /** Applied entries kept in the log for peers that fall behind before it is compacted. */
  logRetainEntries?: number;
  send?: (messages: Message[]) => void;
  /** A Ready could not be persisted or applied: the member must stop rather than diverge. */
  onFatal: (err: Error) => void;
}

export class RaftNode {
  readonly raft: Raft;
  private readonly store: LogStore;
  private readonly backend: Backend;
  private readonly applier: Applier;
  private readonly send: (messages: Message[]) => void;
  private readonly logRetainEntries: number;
  private ticker: NodeJS.Timeout | undefined;
  private scheduled = false;
  private stopped = false;
  private leaderWaiters: (() => void)[] = [];
  private readonly onFatal: (err: Error) => void;

  constructor(options: RaftNodeOptions) {
    this.backend = options.backend;
    this.applier = options.applier;
    this.onFatal = options.onFatal;
    this.send = options.send ?? (() => undefined);
    this.logRetainEntries = options.logRetainEntries ?? 10_000;
    this.store = new LogStore(options.backend);
    this.raft = new Raft({
      id: options.id,
      voters: options.voters,
      storage: this.store,
      hardState: this.store.hardState(),
      applied: options.applier.appliedIndex(),
      electionTicks: options.electionTicks,
      heartbeatTicks: 1,
      seed: Number(BigInt.asUintN(32, BigInt(options.id))) ^ Date.now(),
    });
    this.ticker = setInterval(() => this.tick(), options.tickMs);
    this.ticker.unref();
    // A member that is the only voter need not wait an election timeout to lead.
    if (options.voters.length === 1 && options.voters[0] === options.id) this.raft.campaign();
    this.processReady();
  }

  isLeader(): boolean {
    return this.raft.role === Role.Leader;
  }

  leader(): MemberId | undefined {
    return this.raft.leader;
  }

  term(): number {
    return this.raft.term;
  }

  committedIndex(): number {
    return this.raft.log.committed;
  }

  appliedIndex(): number {
    return this.raft.log.applied;
  }

  /** Appends data to the log (throws if this member does not lead); the Ready runs soon after. */
  propose(data: Buffer): number {
    const index = this.raft.propose([data]);
    this.schedule();
    return index;
  }

  step(m: Message): void {
    this.raft.step(m);
    this.schedule();
  }

  /** Resolves once some member leads (at once if one does). */
  waitLeader(): Promise<void> {
    if (this.raft.leader !== undefined) return Promise.resolve();
    return new Promise((resolve) => this.leaderWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    if (this.ticker !== undefined) clearInterval(this.ticker);
    this.ticker = undefined;
  }

  private tick(): void {
    if (this.stopped) return;
    this.raft.tick();
    this.processReady();
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    // setImmediate runs after the I/O callbacks of this loop turn: every request that arrived in
    // the turn is already proposed, so they all share one Ready and one fsync.
    setImmediate(() => {
      this.scheduled = false;
      this.processReady();
    });
  }

  private processReady(): void {
    if (this.stopped) return;
    try {
      this.handleReadies();
    } catch (err) {
      this.stop();
      this.onFatal(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private handleReadies(): void {
    while (this.raft.hasReady()) {
      const rd = this.raft.ready();
      this.backend.transaction(() => {
        this.store.append(rd.entries);
        if (rd.hardState !== undefined) this.store.setHardState(rd.hardState);
        if (rd.committedEntries.length > 0) {
          this.applier.applyEntries(rd.committedEntries);
          this.maybeCompactLog(rd.committedEntries[rd.committedEntries.length - 1].index);
        }
      });
      if (rd.messages.length > 0) this.send(rd.messages);
      this.raft.advance(rd);
      this.applier.afterCommit();
    }
    if (this.raft.leader !== undefined && this.leaderWaiters.length > 0) {
      const waiters = this.leaderWaiters;
      this.leaderWaiters = [];
      for (const w of waiters) w();
    }
  }

  private maybeCompactLog(applied: number): void {
    // Compact in steps of half the retention so that the cost is paid rarely, in bulk.
    if (applied - this.store.firstIndex() > this.logRetainEntries * 1.5) this.store.compactTo(applied - this.logRetainEntries);
  }
}
