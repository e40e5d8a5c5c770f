// Drives the pure Raft state machine: ticks it on a timer, feeds it proposals, and handles its
// Readies as etcd does, write-ahead log first:
// 1. A Ready's new entries and hard state go to the write-ahead log (wal/); one fdatasync makes
//    them durable, for every Ready queued meanwhile (group commit).
// 2. Then, in one LMDB transaction, committed without a sync of its own: the entries go into the
//    log table, the hard state into meta, committed entries are applied (the applier records
//    the applied index), and the WAL mark of the last record the transaction holds.
// 3. Then clients and peers hear of the results.
// Nothing is visible to readers before it is durable. Every second the backend checkpoints (a
// synced commit it can fall back to after an unclean stop) and the WAL lets go of what the
// checkpoint holds; at start-up the records past the store's mark are redone (recover).
// Other parts of the member learn of leader changes and applied entries through onLeaderChange,
// onAppliedIndex and waitFor (events after the Ready that caused them is on disk), not by polling.
import type { Logger } from 'pino';
import type { Backend } from '../backend/backend';
import { ProposalDroppedError, Raft } from '../raft/raft';
import { EntryType, MessageType, Role, hexId, type ConfChange, type Entry, type HardState, type MemberId, type Message, type ReadState, type Ready } from '../raft/types';
import type { Wal, WalMark, WalRecord } from '../wal/wal';
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

/** At most this many waiting proposals are synced on the event loop thread when idle. */
const SYNC_WRITE_MAX_PROPOSALS = 2;
/**
 * Readies taken from raft whose WAL sync or LMDB transaction is pending. Their entries stay in
 * memory (LogStore's cache) and their results wait, so this bounds both; the WAL syncs every
 * queued Ready at once anyway, so a deeper pipeline would not sync less often.
 */
const MAX_READIES_IN_FLIGHT = 4;
/**
 * How often, at most, the backend checkpoints when written since, so that the WAL can let records
 * go: etcd's backend batch interval (100 ms there). A checkpoint costs a put in flight about a
 * millisecond: its commit on this thread, then its fdatasync of the store, which the next WAL
 * writes queue behind on the same disk. Measured at one client after the load suite, put p99
 * was 1.6-1.7 ms with one every 100 ms and 1.0-1.6 ms with one a second; in run-baseline,
 * 1.25-1.38x etcd's (5 runs) against 0.96-1.15x (10 runs, median 1.06x). Busy members
 * checkpoint sooner, by volume (CHECKPOINT_MAX_ENTRIES).
 */
const CHECKPOINT_INTERVAL_MS = 1000;
/** How often the checkpoint timer looks; an idle member gives back mapped pages on one of these. */
const CHECKPOINT_TICK_MS = 100;
/**
 * ...or sooner, once this many entries were applied since the last (etcd's backend batch limit,
 * 10,000 operations there). LMDB reuses no page freed after the last checkpoint until the next
 * one, so what the file grows by under load follows what is written between two: measured at 50
 * clients, checkpoints every second doubled the file (67 vs 31 MB after 60,000 puts) and with it
 * the pages mapped (RSS). 3,000 entries are about 150 ms of that load.
 */
const CHECKPOINT_MAX_ENTRIES = 3000;
/**
 * When idle, the store's file is unmapped and mapped again once this much more of it came to be
 * mapped (Backend.releaseMappedPages): under random updates, LMDB's map otherwise ends up all
 * resident, counted in the RSS.
 */
const RELEASE_MAPPED_BYTES = 32 * 1024 * 1024;
/**
 * Applies share one open LMDB transaction until the next checkpoint (Backend.batched); it is
 * committed sooner once the entries applied in it hold this many bytes, which bounds the dirty
 * pages it keeps in memory when values are large.
 */
const BATCH_MAX_ENTRY_BYTES = 4 * 1024 * 1024;
/**
 * Committed entries one Ready applies, in bytes. Far above etcd-io/raft's default (MaxSizePerMsg,
 * 1 MiB): each Ready is one pass through the write pipeline (WAL write, apply, replies), so a
 * follower catching up takes few of them; 50,000 entries are still applied in bounded steps.
 */
const MAX_COMMITTED_SIZE_PER_READY_BYTES = 64 * 1024 * 1024;

export type LeaderListener = (leader: MemberId | undefined, term: number) => void;
export type AppliedListener = (index: number) => void;

/** A Ready taken from raft whose WAL records are not yet known durable, or not yet applied. */
interface PendingReady {
  rd: Ready;
  /** The WAL mark of its last record (that of an earlier Ready when it wrote none). */
  mark: WalMark;
  /** Messages to send once it is applied (a leader's appends went out already). */
  messages: Message[];
  /** performance.now() when its records were queued for the WAL. */
  queuedAtMs: number;
  /** It applies a membership change (see confChangesPending). */
  changesMembership: boolean;
}

interface WrittenReady {
  messages: Message[];
  release: (() => void) | undefined;
  readStates: ReadState[];
  applied: number;
  /** Index of the last entry this Ready wrote (-1: none). */
  lastWritten: number;
  /** The term of the hard state this Ready wrote, if it wrote one. */
  hardStateTerm: number | undefined;
}

export interface RaftNodeOptions {
  backend: Backend;
  /** The write-ahead log, and the records it held when opened (redone here past the store's mark). */
  wal: Wal;
  walRecords: WalRecord[];
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
  /** See CHECKPOINT_INTERVAL_MS (--backend-batch-interval). */
  checkpointIntervalMs?: number;
  /** See CHECKPOINT_MAX_ENTRIES (--backend-batch-limit). */
  checkpointMaxEntries?: number;
  /** See RELEASE_MAPPED_BYTES. */
  releaseMappedBytes?: number;
  send?: (messages: Message[]) => void;
  /** A Ready could not be persisted or applied: the member must stop rather than diverge. */
  onFatal: (err: Error) => void;
  /** Answers to readIndex() calls. */
  onReadStates?: (states: ReadState[]) => void;
  /** Entries up to this index are applied and on disk (before the onAppliedIndex listeners). */
  onApplied?: (index: number) => void;
  /** A membership change was applied (inside the transaction). */
  onMembershipChanged?: () => void;
  /** A Ready's WAL records (log entries, hard state) synced: how long that took, in seconds (etcd's WAL fsync). */
  onReadySynced?: (seconds: number) => void;
  /** Raft's state changes and leader changes are logged here (info), as etcd logs them. */
  log?: Logger;
}

export class RaftNode {
  readonly raft: Raft;
  private readonly store: LogStore;
  private readonly backend: Backend;
  private readonly wal: Wal;
  private checkpointTimer: NodeJS.Timeout | undefined;
  private readonly checkpointIntervalMs: number;
  private readonly checkpointMaxEntries: number;
  /** performance.now() when the last checkpoint started. */
  private lastCheckpointAt = 0;
  /** Entries applied since the last checkpoint started. */
  private entriesSinceCheckpoint = 0;
  /** Whether entries were applied since the checkpoint timer last looked. */
  private appliedSinceTick = false;
  private readonly releaseMappedBytes: number;
  /** Readies taken from raft and not yet applied, in order. */
  private pending: PendingReady[] = [];
  /** The WAL mark the store's state holds (that of the last Ready applied). */
  private appliedMark: WalMark;
  /** Membership changes handed out for applying and not yet applied (see proposeConfChange). */
  private confChangesPending = 0;
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
  /** A snapshot is being written. */
  private installing = false;
  /** Readies pending (see `pending`), and a snapshot being installed. */
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
  /** The term and vote of the newest hard state in the WAL (see walHardState). */
  private walTerm: number;
  private walVote: string;
  /** Bytes of entries applied in the open batch transaction (see BATCH_MAX_ENTRY_BYTES). */
  private batchEntryBytes = 0;

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
    this.wal = options.wal;
    this.appliedMark = this.recover(options.walRecords);
    this.checkpointIntervalMs = options.checkpointIntervalMs ?? CHECKPOINT_INTERVAL_MS;
    this.checkpointMaxEntries = options.checkpointMaxEntries ?? CHECKPOINT_MAX_ENTRIES;
    this.releaseMappedBytes = options.releaseMappedBytes ?? RELEASE_MAPPED_BYTES;
    this.lastCheckpointAt = performance.now();
    this.checkpointTimer = setInterval(() => this.onCheckpointTick(), Math.min(CHECKPOINT_TICK_MS, this.checkpointIntervalMs));
    this.checkpointTimer.unref();
    this.leaderListeners = new Listeners('leader change', options.log);
    this.appliedListeners = new Listeners('applied index', options.log);
    this.waiters = new Waiters(options.log);
    const hardState = this.store.hardState();
    this.durableTerm = hardState.term;
    this.knownTerm = hardState.term;
    this.walTerm = hardState.term;
    this.walVote = hardState.vote;
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
    let conf: { voters: MemberId[]; learners: MemberId[] } | undefined;
    let term = this.durableTerm;
    let hs = this.raft.hardState();
    // Readies in flight apply first: the snapshot replaces the state they build on.
    return this.drained()
      .then(() => {
        if (this.stopped) throw new Error('raftnode: stopped before the snapshot was installed');
        this.inFlight++;
        return this.backend.transactionAsync(() => {
          conf = install();
          this.store.resetTo(snap.index, snap.term);
          this.applier.restore(snap.index);
          hs = { ...this.raft.hardState(), commit: snap.index };
          this.store.setHardState(hs);
          this.store.setWalMark(this.wal.lastMark(), this.wal.positionOf(this.wal.lastMark()));
          term = hs.term;
        });
      })
      .then(() => {
        // The install is the state to fall back to from now on, before the WAL says it happened:
        // a crash in between falls back to the state before it, which the WAL redoes.
        this.backend.checkpoint(true);
        this.appliedMark = this.wal.append([{ kind: 'snapshot', index: snap.index, term: snap.term }, { kind: 'hardstate', hardState: hs }]);
        this.walTerm = hs.term;
        this.walVote = hs.vote;
        return this.wal.sync();
      })
      .then(() => {
        this.inFlight--;
        this.installing = false;
        if (this.inFlight === 0) this.wakeIdleWaiters();
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
    // raft counts a change applied once its Ready is taken; the member's configuration changes
    // only when that Ready is applied here. Changes go one at a time until then too.
    if (this.confChangesPending > 0) throw new ProposalDroppedError('a membership change is in progress');
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
    await this.drained();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.writesHeld = false;
      this.schedule();
    };
  }

  /** Resolves once no Ready is pending and no snapshot being installed (at once when stopped). */
  private async drained(): Promise<void> {
    while (this.inFlight > 0 && !this.stopped) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
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
    if (this.checkpointTimer !== undefined) clearInterval(this.checkpointTimer);
    this.checkpointTimer = undefined;
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
   * Takes a Ready from raft and hands its records to the WAL, in one of two ways.
   * - When a sole voter is idle (nothing in flight, a proposal or two waiting), on this thread:
   *   one fdatasync here costs less latency than the hand-offs to and from the thread pool; it is
   *   applied at once. A member with peers never blocks on its disk: acks and appends keep
   *   arriving meanwhile, and its write overlaps the followers' anyway (3 members at 50 clients:
   *   +3.5% req/s, 8 of 9 alternating reps; syncNow was 7% of a leader's time).
   * - Under load, on the thread pool: Readies taken meanwhile queue their records, and the WAL
   *   writes all of them with the next single fdatasync (group commit); each is applied once its
   *   records are durable, in order (applyDurable).
   * raft is advanced at once, so that the next Ready can be taken while this one is on its way.
   */
  private processReady(): void {
    if (this.stopped || this.installing) return;
    if (!this.raft.hasReady()) {
      // A change that needs no write (a leader lost without a new term) is told here.
      this.announceLeader();
      return;
    }
    if (!this.raft.needsPersist()) {
      // Only messages (heartbeats, votes) and read states: nothing to write.
      const rd = this.raft.ready();
      this.raft.advance(rd);
      this.afterWrite({ messages: rd.messages, release: undefined, readStates: rd.readStates, applied: -1, lastWritten: -1, hardStateTerm: undefined });
      return;
    }
    // The pipeline is full: the oldest Ready's application schedules this again.
    if (this.inFlight >= MAX_READIES_IN_FLIGHT) return;
    // A defragment holds writes: heartbeats and votes above still go out, the rest waits.
    if (this.writesHeld) return;
    const idle = this.soleVoter && this.inFlight === 0 && !this.wal.busy() && this.proposalsSinceReady <= SYNC_WRITE_MAX_PROPOSALS;
    let pending: PendingReady;
    try {
      pending = this.takeReady();
      if (idle) this.wal.syncNow();
    } catch (err) {
      this.fail(err);
      return;
    }
    this.inFlight++;
    if (idle) {
      if (pending.queuedAtMs >= 0) this.onReadySynced?.((performance.now() - pending.queuedAtMs) / 1000);
      this.applyDurable(pending.mark);
    } else {
      this.wal.sync().then(
        () => {
          if (pending.queuedAtMs >= 0) this.onReadySynced?.((performance.now() - pending.queuedAtMs) / 1000);
          this.applyDurable(pending.mark);
        },
        (err: unknown) => this.fail(err),
      );
    }
    // Proposals that came meanwhile make the next Ready at once.
    if (this.raft.hasReady()) this.schedule();
  }

  /** Takes the next Ready: the leader's appends go out, the entries are staged, the records queued for the WAL; raft advances. */
  private takeReady(): PendingReady {
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
    const records: WalRecord[] = [];
    if (rd.entries.length > 0) records.push({ kind: 'entries', entries: rd.entries });
    if (this.walHardState(rd)) records.push({ kind: 'hardstate', hardState: rd.hardState });
    const mark = records.length > 0 ? this.wal.append(records) : this.wal.lastMark();
    if (this.appliesAllItWrites(rd)) this.store.stageApplied(rd.entries);
    else this.store.stage(rd.entries);
    const changesMembership = rd.committedEntries.some((e) => e.type === EntryType.ConfChange);
    if (changesMembership) this.confChangesPending++;
    this.raft.advance(rd);
    const pending = { rd, mark, messages, queuedAtMs: records.length > 0 && this.onReadySynced !== undefined ? performance.now() : -1, changesMembership };
    this.pending.push(pending);
    return pending;
  }

  /**
   * Whether the Ready's hard state goes into the WAL: with entries (the commit index rides
   * along), or when the term or vote changed (those must be durable before any message says
   * so). A change of the commit index alone is not written, as etcd does not sync it (raft's
   * MustSync): a leader's every quorum of acks moves it, and a write there put a durable write
   * between a commit and its apply, each time (a quarter of a 3-member cluster's Readies). The
   * store still records it with what the Ready applies, so the hard state it opens with commits
   * at least what it applied; an acknowledged entry past that is in the WAL, and a leader
   * commits it again (a committed entry is in a quorum's logs).
   */
  private walHardState(rd: Ready): rd is Ready & { hardState: HardState } {
    const hs = rd.hardState;
    if (hs === undefined) return false;
    if (rd.entries.length === 0 && hs.term === this.walTerm && hs.vote === this.walVote) return false;
    this.walTerm = hs.term;
    this.walVote = hs.vote;
    return true;
  }

  /** The only voter applies in the same Ready every entry it writes: it keeps no log (see LogStore.appendApplied). */
  private appliesAllItWrites(rd: Ready): boolean {
    const last = rd.entries[rd.entries.length - 1];
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    return this.soleVoter && last !== undefined && lastCommitted !== undefined && lastCommitted.index >= last.index;
  }

  /**
   * The WAL holds every record up to `durable`: applies the pending Readies it covers, in order,
   * in the backend's batch transaction (committed unsynced at the next checkpoint: the WAL has
   * them, and reads see them at once), then tells their results.
   */
  private applyDurable(durable: WalMark): void {
    if (this.stopped) return;
    let n = 0;
    while (n < this.pending.length && this.pending[n].mark <= durable) n++;
    if (n === 0) return;
    const batch = this.pending.splice(0, n);
    let written: (WrittenReady | undefined)[];
    try {
      written = this.backend.batched(() => {
        const out = batch.map((p) => this.writeReady(p));
        const mark = batch[batch.length - 1].mark;
        this.store.setWalMark(mark, this.wal.positionOf(mark));
        return out;
      });
    } catch (err) {
      this.fail(err);
      return;
    }
    this.appliedMark = batch[batch.length - 1].mark;
    this.inFlight -= n;
    for (const p of batch) {
      this.entriesSinceCheckpoint += p.rd.committedEntries.length;
      if (p.rd.committedEntries.length > 0) this.appliedSinceTick = true;
      for (const e of p.rd.committedEntries) this.batchEntryBytes += e.data.length;
    }
    if (this.batchEntryBytes >= BATCH_MAX_ENTRY_BYTES) this.commitBatch();
    for (const done of written) this.afterWrite(done);
    if (this.entriesSinceCheckpoint >= this.checkpointMaxEntries) this.checkpoint();
    if (this.inFlight === 0) this.wakeIdleWaiters();
    if (this.raft.hasReady()) this.schedule();
  }

  /** Inside the LMDB transaction: persist the Ready's entries and hard state, apply what it commits. */
  private writeReady(p: PendingReady): WrittenReady | undefined {
    const rd = p.rd;
    if (this.appliesAllItWrites(rd)) this.store.persistApplied(rd.entries);
    else this.store.persist(rd.entries);
    if (rd.hardState !== undefined) this.store.setHardState(rd.hardState);
    let release: (() => void) | undefined;
    if (rd.committedEntries.length > 0) {
      const applied = this.applier.applyEntries(rd.committedEntries);
      release = applied.release;
      for (const cc of applied.confChanges) this.raft.applyConfChange(cc);
      if (applied.confChanges.length > 0) this.onMembershipChanged();
      if (p.changesMembership) this.confChangesPending--;
      this.maybeCompactLog(rd.committedEntries[rd.committedEntries.length - 1].index);
    }
    const applied = rd.committedEntries.length > 0 ? rd.committedEntries[rd.committedEntries.length - 1].index : -1;
    const lastWritten = rd.entries.length > 0 ? rd.entries[rd.entries.length - 1].index : -1;
    return { messages: p.messages, release, readStates: rd.readStates, applied, lastWritten, hardStateTerm: rd.hardState?.term };
  }

  /**
   * At start-up: redoes the WAL records after the store's mark in one transaction (the store
   * opened at its last checkpoint; the WAL holds what came after). A store past the WAL's
   * end (a WAL directory that was lost or replaced) keeps its state, and its mark comes down to
   * the WAL's end so that new records are never taken as held. Returns the mark the store holds.
   */
  private recover(records: WalRecord[]): WalMark {
    const stored = this.store.walMark();
    const last = this.wal.lastMark();
    const firstMark = last - records.length + 1;
    if (records.length > 0 && stored < firstMark - 1) {
      throw new Error(`raftnode: the store holds write-ahead log records up to ${stored}, but the log starts at record ${firstMark}`);
    }
    const redo = records.slice(Math.max(0, stored - firstMark + 1));
    // Unsynced (a crash redoes it all again), unless the mark comes down: a store that fell back
    // to its checkpoint with the higher mark would take the WAL's next records as held.
    this.backend.transaction(
      () => {
        this.store.redo(redo);
        this.store.setWalMark(last, this.wal.positionOf(last));
      },
      { sync: stored > last },
    );
    this.store.markDurable(this.store.lastIndex());
    if (redo.length > 0) this.log?.info({ records: redo.length, 'last-index': this.store.lastIndex() }, 'redid write-ahead log records past the store\'s last checkpoint');
    return last;
  }

  /** Commits the backend's batch transaction (see BATCH_MAX_ENTRY_BYTES). */
  private commitBatch(): void {
    try {
      this.backend.commitBatch();
    } catch (err) {
      this.fail(err);
    }
    this.batchEntryBytes = 0;
  }

  /**
   * The checkpoint timer. Written since the last checkpoint: a checkpoint once the interval has
   * passed, or at once when nothing was applied since the last look (it delays nobody then).
   * Nothing written since: gives back mapped pages.
   */
  private onCheckpointTick(): void {
    const applied = this.appliedSinceTick;
    this.appliedSinceTick = false;
    // Both steps do nothing while stopped, installing a snapshot or holding writes.
    if (this.backend.uncheckpointedCommits() === 0) this.releaseMappedPages();
    else if (!applied) this.checkpoint(true);
    else if (performance.now() - this.lastCheckpointAt >= this.checkpointIntervalMs) this.checkpoint(false);
  }

  /** Idle and checkpointed: a moment to give back the store's mapped pages (see RELEASE_MAPPED_BYTES). */
  private releaseMappedPages(): void {
    if (this.stopped || this.installing || this.backend.writesHeld) return;
    this.backend.releaseMappedPages(this.releaseMappedBytes).then(
      (released) => {
        if (released) this.log?.debug('gave back the pages of the store mapped since it was opened (closed and opened it again)');
      },
      (err: unknown) => this.fail(err),
    );
  }

  /**
   * Makes every applied Ready durable in LMDB (a checkpoint the store falls back to after an
   * unclean stop; its flush runs in the background) and then lets the WAL drop the records it
   * holds. Started between Readies' transactions (this thread runs them), so the checkpoint's
   * state holds exactly the records up to appliedMark. `idle`: taken because the member went
   * idle; if it still is once the checkpoint is saved, the mapped pages go back at once.
   */
  private checkpoint(idle = false): void {
    // One at a time: until the running one is saved, another would only commit the batch early.
    if (this.stopped || this.installing || this.backend.writesHeld || this.backend.checkpointRunning) return;
    this.lastCheckpointAt = performance.now();
    this.entriesSinceCheckpoint = 0;
    this.batchEntryBytes = 0;
    const mark = this.appliedMark;
    this.backend.checkpointInBackground().then(
      (saved) => {
        if (!saved || this.stopped) return;
        void this.wal.releaseBefore(mark);
        // As the timer's next look would, if nothing was applied meanwhile.
        if (idle && !this.appliedSinceTick && this.backend.uncheckpointedCommits() === 0) this.releaseMappedPages();
      },
      (err: unknown) => this.fail(err),
    );
  }

  /** After the Ready's transaction is on disk. */
  private afterWrite(done: WrittenReady | undefined): void {
    if (done === undefined || this.stopped) return;
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
    // Stopped already (a shutdown stops the node, then closes the WAL and the store): a write
    // or checkpoint still in flight then fails with "closed", which is no error of the member.
    if (this.stopped) return;
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
