// Drives the pure Raft state machine: ticks it on a timer, feeds it proposals, and handles each
// Ready in one LMDB write transaction — append entries, save hard state, apply committed entries
// (the applier records the applied index in that same transaction) — committed with one fsync.
// Every proposal that arrives while a Ready is being written joins the next one: group commit.
// Other parts of the member learn of leader changes and applied entries through onLeaderChange,
// onAppliedIndex and waitFor (events after the Ready that caused them is on disk), not by polling.
import type { Logger } from 'pino';
import type { Backend } from '../backend/backend';
import { Raft } from '../raft/raft';
import { MessageType, Role, hexId, type ConfChange, type Entry, type MemberId, type Message, type ReadState } from '../raft/types';
import { Listeners, Waiters } from './listeners';
import { LogStore } from './log-store';

/** What the node calls to apply committed entries; runs inside the Ready transaction. */
export interface Applier {
  appliedIndex(): number;
  /**
   * Applies entries; returns what to run once the transaction is on disk (release results) and
   * the membership changes raft must make now.
   */
  applyEntries(entries: Entry[]): { release: () => void; confChanges: ConfChange[] };
  /** Inside the transaction that installed a snapshot: the state now stands at index. */
  restore(index: number): void;
}

/** At most this many waiting proposals are written on the event loop thread when idle. */
const SYNC_WRITE_MAX_PROPOSALS = 2;
/**
 * Ready transactions queued or committing at once. Entries stay in memory (LogStore's cache)
 * until their transaction is on disk, so the pipeline's depth bounds them; deeper would not
 * write faster (LMDB commits one transaction at a time).
 */
const MAX_WRITES_IN_FLIGHT = 4;
/**
 * Committed entries one Ready applies, in bytes. Far above etcd-io/raft's default (MaxSizePerMsg,
 * 1 MiB): here each Ready is one fsync'd transaction that also applies (etcd applies apart from
 * its WAL writes), so small batches would cost a sync each; a follower catching up on 50,000
 * entries still applies them in bounded steps.
 */
const MAX_COMMITTED_SIZE_PER_READY_BYTES = 64 * 1024 * 1024;

export type LeaderListener = (leader: MemberId | undefined, term: number) => void;
export type AppliedListener = (index: number) => void;

interface WrittenReady {
  messages: Message[];
  release: (() => void) | undefined;
  readStates: ReadState[];
  applied: number;
  /** Index of the last entry this Ready wrote (-1: none). */
  lastWritten: number;
  /** The term of the hard state this Ready wrote, if it wrote one. */
  hardStateTerm: number | undefined;
  /** performance.now() when the Ready was written into its transaction (its commit + fsync follow). */
  writtenAtMs: number;
}

export interface RaftNodeOptions {
  backend: Backend;
  id: MemberId;
  voters: MemberId[];
  learners?: MemberId[];
  applier: Applier;
  tickMs: number;
  electionTicks: number;
  /** Pre-vote before elections (default on). */
  preVote?: boolean;
  /** Applied entries kept in the log for peers that fall behind before it is compacted. */
  logRetainEntries?: number;
  /** Raft's bound on a leader's uncommitted tail (see RaftConfig; etcd-io/raft's default here). */
  maxUncommittedEntriesBytes?: number;
  /** Raft's bound on an append message (see RaftConfig; etcd's 1 MiB by default). */
  maxSizePerMsgBytes?: number;
  /** Raft's bound on the committed entries of one Ready (see MAX_COMMITTED_SIZE_PER_READY_BYTES). */
  maxCommittedSizePerReadyBytes?: number;
  send?: (messages: Message[]) => void;
  /** A Ready could not be persisted or applied: the member must stop rather than diverge. */
  onFatal: (err: Error) => void;
  /** Answers to readIndex() calls. */
  onReadStates?: (states: ReadState[]) => void;
  /** Entries up to this index are applied and on disk (before the onAppliedIndex listeners). */
  onApplied?: (index: number) => void;
  /** A membership change was applied (inside the transaction). */
  onMembershipChanged?: () => void;
  /** A Ready's transaction (log entries, hard state) committed and fsynced: how long that took, in seconds (etcd's WAL fsync). */
  onReadySynced?: (seconds: number) => void;
  /** Raft's state changes and leader changes are logged here (info), as etcd logs them. */
  log?: Logger;
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
  /** See holdWrites(). */
  private writesHeld = false;
  /** holdWrites() callers waiting for the write transactions in flight to finish (at most one). */
  private idleWaiters: (() => void)[] = [];
  private stopped = false;
  /** A write transaction is queued whose callback has not run yet. */
  private queued = false;
  /** A snapshot is being written. */
  private installing = false;
  /** Asynchronous write transactions queued or committing. */
  private inFlight = 0;
  /** The only voter keeps no log beyond its applied state (see LogStore.appendApplied). */
  private readonly soleVoter: boolean;
  /** Proposals not yet handed out in a Ready. */
  private proposalsSinceReady = 0;
  private readonly leaderListeners: Listeners<[MemberId | undefined, number]>;
  private readonly appliedListeners: Listeners<[number]>;
  private readonly waiters: Waiters;
  private readonly onFatal: (err: Error) => void;
  private readonly onReadStates: (states: ReadState[]) => void;
  private readonly onApplied: (index: number) => void;
  private readonly onReadySynced: ((seconds: number) => void) | undefined;
  private readonly onMembershipChanged: () => void;
  private readonly log: Logger | undefined;
  /** The leader and term last told of (see announceLeader). */
  private knownLeader: MemberId | undefined;
  private knownTerm: number;
  /** The term of the hard state on disk: a newer term raft holds is told once it is there. */
  private durableTerm: number;
  /** See appliedIndex(). */
  private durableApplied: number;

  constructor(options: RaftNodeOptions) {
    this.log = options.log;
    this.durableApplied = options.applier.appliedIndex();
    this.backend = options.backend;
    this.applier = options.applier;
    this.onFatal = options.onFatal;
    this.onReadStates = options.onReadStates ?? (() => undefined);
    this.onApplied = options.onApplied ?? (() => undefined);
    this.onReadySynced = options.onReadySynced;
    this.onMembershipChanged = options.onMembershipChanged ?? (() => undefined);
    this.send = options.send ?? (() => undefined);
    this.logRetainEntries = options.logRetainEntries ?? 10_000;
    this.store = new LogStore(options.backend);
    this.leaderListeners = new Listeners('leader change', options.log);
    this.appliedListeners = new Listeners('applied index', options.log);
    this.waiters = new Waiters(options.log);
    const hardState = this.store.hardState();
    this.durableTerm = hardState.term;
    this.knownTerm = hardState.term;
    this.soleVoter = options.voters.length === 1 && options.voters[0] === options.id;
    this.raft = new Raft({
      id: options.id,
      voters: options.voters,
      learners: options.learners,
      storage: this.store,
      hardState,
      applied: options.applier.appliedIndex(),
      electionTicks: options.electionTicks,
      heartbeatTicks: 1,
      preVote: options.preVote ?? true,
      maxUncommittedEntriesBytes: options.maxUncommittedEntriesBytes,
      maxSizePerMsgBytes: options.maxSizePerMsgBytes,
      maxCommittedSizePerReadyBytes: options.maxCommittedSizePerReadyBytes ?? MAX_COMMITTED_SIZE_PER_READY_BYTES,
      seed: Number(BigInt.asUintN(32, BigInt(options.id))) ^ Date.now(),
      logger: options.log === undefined ? undefined : raftLogger(options.log),
    });
    this.ticker = setInterval(() => this.tick(), options.tickMs);
    this.ticker.unref();
    // A member that is the only voter need not wait an election timeout to lead.
    if (this.soleVoter) this.raft.campaign();
    // The first Ready runs on the next turn: listeners registered right after construction hear
    // of everything it does (a sole voter's election among them).
    this.schedule();
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

  /**
   * Entries up to here are applied and on disk: what reads see. raft's own applied index moves
   * inside the write transaction, before it commits, so a read released against it could be
   * served from the state before those entries (a stale linearizable read, found by the
   * robustness harness after a blackhole of every member).
   */
  appliedIndex(): number {
    return this.durableApplied;
  }

  /** Appends data to the log (throws if this member does not lead); the Ready runs soon after. */
  propose(data: Buffer): number {
    const index = this.raft.propose([data]);
    this.proposalsSinceReady++;
    this.schedule();
    return index;
  }

  step(m: Message): void {
    if (this.stopped || this.installing) return;
    try {
      this.raft.step(m);
    } catch (err) {
      this.fail(err);
      return;
    }
    // Entries from the leader (appends) or for it (forwarded proposals) are writes to come, as
    // local proposals are: under load they take the asynchronous path (see processReady).
    if (m.entries !== undefined && m.entries.length > 0 && (m.type === MessageType.App || m.type === MessageType.Prop)) {
      this.proposalsSinceReady += m.entries.length;
    }
    this.schedule();
  }

  /** Asks raft for a read index (answered through onReadStates); throws without a leader. */
  readIndex(context: Buffer): void {
    this.raft.readIndex(context);
    this.schedule();
  }

  /**
   * Installs a leader's snapshot: `install` writes its data (inside one write transaction, with
   * the log reset to start after it), then raft learns of it. Messages arriving meanwhile are
   * dropped; raft sends again.
   */
  /** Resolves with whether the snapshot's data was installed (else raft only stepped the message). */
  installSnapshot(m: Message, install: () => { voters: MemberId[]; learners: MemberId[] }): Promise<boolean> {
    const snap = m.snapshot;
    if (snap === undefined || this.stopped || this.installing) return Promise.resolve(false);
    // Nothing to install when we are past it, or our log already holds its last entry (raft then
    // only moves the commit index, and the entries apply as usual), or the message is from an
    // older term (raft drops it unstepped: its data must not land either).
    if (snap.index <= this.raft.log.committed || this.raft.log.matchTerm(snap.index, snap.term) || m.term < this.raft.term) {
      this.step(m);
      return Promise.resolve(false);
    }
    this.installing = true;
    this.inFlight++;
    let conf: { voters: MemberId[]; learners: MemberId[] } | undefined;
    let term = this.durableTerm;
    return this.backend
      .transactionAsync(() => {
        conf = install();
        this.store.resetTo(snap.index, snap.term);
        this.applier.restore(snap.index);
        const hs = { ...this.raft.hardState(), commit: snap.index };
        this.store.setHardState(hs);
        term = hs.term;
      })
      .then(() => {
        this.inFlight--;
        this.installing = false;
        if (conf !== undefined) this.raft.setConfiguration(conf.voters, conf.learners);
        this.durableTerm = Math.max(this.durableTerm, term);
        this.durableApplied = Math.max(this.durableApplied, snap.index);
        this.tellApplied(snap.index);
        this.step(m);
        return true;
      })
      .catch((err: unknown) => {
        this.fail(err);
        return false;
      });
  }

  /** Proposes a membership change (encoded by the caller); throws when raft refuses it now. */
  proposeConfChange(data: Buffer): void {
    this.raft.proposeConfChange(data);
    this.proposalsSinceReady++;
    this.schedule();
  }

  /** Starts handing leadership to target (this member must lead). */
  transferLeader(target: MemberId): void {
    this.raft.transferLeader(target);
    this.schedule();
  }

  isSoleVoter(): boolean {
    return this.soleVoter;
  }

  /**
   * Calls listener whenever the leader raft knows, or its term, changes: once the Ready that
   * changed it is handled (a new term is on disk first). Changes in quick succession may be told
   * as one, with the newest state. Returns the function that unsubscribes. Throws
   * ListenerLimitError past MAX_LISTENERS listeners.
   */
  onLeaderChange(listener: LeaderListener): () => void {
    return this.leaderListeners.add(listener);
  }

  /**
   * Calls listener whenever entries up to index are applied and on disk (after the onApplied
   * option). Returns the function that unsubscribes. Throws ListenerLimitError past MAX_LISTENERS.
   */
  onAppliedIndex(listener: AppliedListener): () => void {
    return this.appliedListeners.add(listener);
  }

  /**
   * Resolves true once predicate() holds: checked now, and after each leader change and each
   * applied index this node tells of (so it should read leader(), term(), isLeader(),
   * appliedIndex(), committedIndex()). Resolves false after timeoutMs or when the node stops.
   */
  waitFor(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    return this.waiters.wait(predicate, timeoutMs);
  }

  /** Resolves once some member is known to lead (at once if one is), or when the node stops. */
  async waitLeader(): Promise<void> {
    await this.waitFor(() => this.knownLeader !== undefined, Infinity);
  }

  /**
   * Holds Readies that need a write (messages-only Readies still go out, so a leader keeps its
   * followers) and resolves, once no write transaction is in flight, with the function that
   * lets writes go on. For a defragment, which swaps the LMDB environment.
   */
  async holdWrites(): Promise<() => void> {
    if (this.writesHeld) throw new Error('raftnode: writes are held already');
    this.writesHeld = true;
    while (this.inFlight > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.writesHeld = false;
      this.schedule();
    };
  }

  private wakeIdleWaiters(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  stop(): void {
    this.stopped = true;
    this.wakeIdleWaiters();
    if (this.ticker !== undefined) clearInterval(this.ticker);
    this.ticker = undefined;
    this.waiters.close();
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

  /**
   * Hands Readies to the disk, in one of two ways.
   * - Under load, asynchronously: the Ready is taken inside the write transaction's callback,
   *   when LMDB's writer thread has opened it, so it carries every proposal that arrived up to
   *   then (group commit). Commit and fsync run on the writer thread while the event loop keeps
   *   serving and the next transaction is already queued (pipelining).
   * - When idle (nothing in flight, a proposal or two waiting), synchronously: one fsync on this
   *   thread costs less latency than the hand-offs to and from the writer thread.
   * Either way, clients hear of a Ready's results only once its transaction is on disk.
   */
  private processReady(): void {
    if (this.stopped || this.queued || this.installing) return;
    if (!this.raft.hasReady()) {
      // A change that needs no write (a leader lost without a new term) is told here.
      this.announceLeader();
      return;
    }
    if (!this.raft.needsPersist()) {
      // Only messages (heartbeats, votes) and read states: nothing to write.
      const rd = this.raft.ready();
      this.raft.advance(rd);
      this.afterWrite({ messages: rd.messages, release: undefined, readStates: rd.readStates, applied: -1, lastWritten: -1, hardStateTerm: undefined, writtenAtMs: -1 });
      return;
    }
    // The pipeline is full: the oldest transaction's afterWrite schedules this again.
    if (this.inFlight >= MAX_WRITES_IN_FLIGHT) return;
    // A defragment holds writes: heartbeats and votes above still go out, the rest waits.
    if (this.writesHeld) return;
    if (this.inFlight === 0 && this.proposalsSinceReady <= SYNC_WRITE_MAX_PROPOSALS) {
      let done: WrittenReady | undefined;
      try {
        done = this.backend.transaction(() => this.writeReady());
      } catch (err) {
        this.fail(err);
        return;
      }
      this.afterWrite(done);
      return;
    }
    this.queued = true;
    this.inFlight++;
    this.backend
      .transactionAsync(() => {
        this.queued = false;
        const done = this.writeReady();
        // More proposals may have come while this ran; queue the next transaction behind this one.
        this.schedule();
        return done;
      })
      .then((done) => {
        this.inFlight--;
        this.afterWrite(done);
        if (this.inFlight === 0) this.wakeIdleWaiters();
      })
      .catch((err: unknown) => this.fail(err));
  }

  /** Inside the write transaction: persist the Ready, apply what it commits, advance raft. */
  private writeReady(): WrittenReady | undefined {
    if (this.stopped || !this.raft.hasReady()) return undefined;
    this.proposalsSinceReady = 0;
    const rd = this.raft.ready();
    // A leader's appends and heartbeats need not wait for its own fsync (Raft thesis §10.2.1):
    // sending them now overlaps the followers' disk writes with ours. Everything else (votes,
    // a follower's acks) goes out only once this Ready is on disk.
    let messages = rd.messages;
    if (this.raft.role === Role.Leader && messages.length > 0) {
      const early = messages.filter((m) => m.type === MessageType.App || m.type === MessageType.Heartbeat);
      if (early.length > 0) {
        messages = messages.filter((m) => m.type !== MessageType.App && m.type !== MessageType.Heartbeat);
        this.send(early);
      }
    }
    const last = rd.entries[rd.entries.length - 1];
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    if (this.soleVoter && last !== undefined && lastCommitted !== undefined && lastCommitted.index >= last.index) {
      this.store.appendApplied(rd.entries);
    } else {
      this.store.append(rd.entries);
    }
    if (rd.hardState !== undefined) this.store.setHardState(rd.hardState);
    let release: (() => void) | undefined;
    if (rd.committedEntries.length > 0) {
      const applied = this.applier.applyEntries(rd.committedEntries);
      release = applied.release;
      for (const cc of applied.confChanges) this.raft.applyConfChange(cc);
      if (applied.confChanges.length > 0) this.onMembershipChanged();
      this.maybeCompactLog(rd.committedEntries[rd.committedEntries.length - 1].index);
    }
    this.raft.advance(rd);
    const applied = rd.committedEntries.length > 0 ? rd.committedEntries[rd.committedEntries.length - 1].index : -1;
    const lastWritten = rd.entries.length > 0 ? rd.entries[rd.entries.length - 1].index : -1;
    return { messages, release, readStates: rd.readStates, applied, lastWritten, hardStateTerm: rd.hardState?.term, writtenAtMs: this.onReadySynced === undefined ? -1 : performance.now() };
  }

  /** After the Ready's transaction is on disk. */
  private afterWrite(done: WrittenReady | undefined): void {
    if (done === undefined || this.stopped) return;
    if (done.writtenAtMs >= 0) this.onReadySynced?.((performance.now() - done.writtenAtMs) / 1000);
    if (done.lastWritten >= 0) this.store.markDurable(done.lastWritten);
    if (done.hardStateTerm !== undefined) this.durableTerm = Math.max(this.durableTerm, done.hardStateTerm);
    if (done.messages.length > 0) this.send(done.messages);
    done.release?.();
    if (done.applied >= 0) {
      this.durableApplied = Math.max(this.durableApplied, done.applied);
      this.tellApplied(done.applied);
    }
    if (done.readStates.length > 0) this.onReadStates(done.readStates);
    this.announceLeader();
    if (this.raft.hasReady()) this.schedule();
  }

  private tellApplied(index: number): void {
    this.onApplied(index);
    this.appliedListeners.emit(index);
    this.waiters.check();
  }

  /**
   * Tells a change of leader or term, once raft's term is on disk: logs it as etcd's raft node
   * does ("elected", "lost", "changed leader") and calls the listeners.
   */
  private announceLeader(): void {
    const leader = this.raft.leader;
    const term = this.raft.term;
    if (term !== this.durableTerm || this.stopped) return;
    if (leader === this.knownLeader && term === this.knownTerm) return;
    const was = this.knownLeader;
    this.knownLeader = leader;
    this.knownTerm = term;
    if (this.log !== undefined && leader !== was) {
      const me = hexId(this.raft.id);
      if (was === undefined && leader !== undefined) this.log.info({ logger: 'raft' }, `raft.node: ${me} elected leader ${hexId(leader)} at term ${term}`);
      else if (was !== undefined && leader === undefined) this.log.info({ logger: 'raft' }, `raft.node: ${me} lost leader ${hexId(was)} at term ${term}`);
      else if (was !== undefined && leader !== undefined) this.log.info({ logger: 'raft' }, `raft.node: ${me} changed leader from ${hexId(was)} to ${hexId(leader)} at term ${term}`);
    }
    this.leaderListeners.emit(leader, term);
    this.waiters.check();
  }

  /** How streaming a snapshot to `to` ended (see Raft.reportSnapshot). */
  reportSnapshot(to: MemberId, ok: boolean): void {
    if (this.stopped) return;
    this.raft.reportSnapshot(to, ok);
    this.schedule();
  }

  private fail(err: unknown): void {
    this.stop();
    this.onFatal(err instanceof Error ? err : new Error(String(err)));
  }

  private maybeCompactLog(applied: number): void {
    // Compact in steps of half the retention so that the cost is paid rarely, in bulk. A follower
    // that falls further behind than the retention catches up from a snapshot (as in etcd).
    if (applied - this.store.firstIndex() > this.logRetainEntries * 1.5) this.store.compactTo(applied - this.logRetainEntries);
  }

}

/** raft's lines under etcd's logger name for them, at raft's level (etcd-io/raft's Infof, Warningf). */
function raftLogger(log: Logger): (msg: string, level?: 'info' | 'warn') => void {
  return (msg, level) => {
    if (level === 'warn') log.warn({ logger: 'raft' }, msg);
    else log.info({ logger: 'raft' }, msg);
  };
}
