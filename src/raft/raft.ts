// The Raft consensus algorithm as a pure, deterministic state machine in etcd-io/raft's shape:
// inputs are tick(), step(message) and propose(data); the output is a Ready that the driver
// persists, sends and applies before calling advance(). No timers, no I/O, no clocks; the only
// randomness is the election timeout, drawn from a seeded generator so runs replay exactly.
//
// Implemented: election with pre-vote, check-quorum (a leader that loses touch with a quorum
// steps down; followers in touch with a leader ignore elections), log replication, commit by
// quorum of the current term, proposal forwarding from followers, ReadIndex, leader transfer,
// flow control (probe/replicate, bounded in-flight appends), snapshots for followers that fell
// behind the log, and membership changes one at a time (voters, learners, promotion, removal).
// Bounds, as etcd-io/raft's: bytes per append message, bytes of committed entries per Ready, and
// the payload bytes of a leader's uncommitted tail (proposals past it are dropped).
//
// Beside this file: progress.ts (the leader's per-follower flow control), read-only.ts (ReadIndex
// bookkeeping), quorum.ts (majority arithmetic), log.ts (the log), types.ts (messages, Ready).
import { RaftLog, entrySizeBytes, type LogStorage } from './log';
import { Progress, SNAPSHOT_TIMEOUT_ELECTIONS } from './progress';
import { hasMajority, quorumIndex, voteResult } from './quorum';
import { ReadOnly, newReadRequest, type ReadRequest } from './read-only';
import { EntryType, MessageType, Role, emptyMessage, hexId, type ConfChange, type Entry, type HardState, type MemberId, type Message, type ReadState, type Ready, type SoftState } from './types';

export interface RaftConfig {
  id: MemberId;
  voters: MemberId[];
  /** Members that receive the log but neither vote nor count for a quorum. */
  learners?: MemberId[];
  storage: LogStorage;
  hardState: HardState;
  applied: number;
  electionTicks: number;
  heartbeatTicks: number;
  /** Seed for the randomized election timeout. */
  seed: number;
  /** Upper bound of entries in one AppendEntries message. */
  maxEntriesPerMsg?: number;
  /**
   * Upper bound of an AppendEntries message's entries in bytes (entrySizeBytes; one entry always
   * goes). etcd's MaxSizePerMsg, DEFAULT_MAX_SIZE_PER_MSG_BYTES.
   */
  maxSizePerMsgBytes?: number;
  /**
   * Upper bound of the committed entries one Ready hands out to apply, in bytes (one entry always
   * goes). etcd-io/raft's MaxCommittedSizePerReady, which defaults to MaxSizePerMsg.
   */
  maxCommittedSizePerReadyBytes?: number;
  /**
   * A leader drops proposals once the payload bytes of its uncommitted entries would pass this
   * (etcd-io/raft's MaxUncommittedEntriesSize; see DEFAULT_MAX_UNCOMMITTED_ENTRIES_BYTES).
   */
  maxUncommittedEntriesBytes?: number;
  /** Ask for votes in a pre-election first, so a rejoining member cannot disrupt (default on). */
  preVote?: boolean;
  /** A leader steps down when a quorum is silent for an election timeout (default on). */
  checkQuorum?: boolean;
  /** Where state changes are told, in etcd-io/raft's words (a pure sink: no effect on raft). */
  logger?: RaftLogger;
}

/** etcd-io/raft's Infof and Warningf. */
export type RaftLogger = (msg: string, level?: 'info' | 'warn') => void;

/** etcd's maxSizePerMsg (server/etcdserver/raft.go: 1 MiB). */
export const DEFAULT_MAX_SIZE_PER_MSG_BYTES = 1024 * 1024;
/**
 * 1 GiB, as etcd's raftexample (contrib/raftexample/raft.go) and etcd-io/raft's rafttest set
 * MaxUncommittedEntriesSize. etcd's server itself leaves it unset, which etcd-io/raft takes as no
 * limit; we keep a bound (TigerBeetle's rule), far above what a healthy cluster holds uncommitted.
 */
export const DEFAULT_MAX_UNCOMMITTED_ENTRIES_BYTES = 1024 * 1024 * 1024;


/** Marks the votes of an election a leader asked for (leader transfer): lease checks let it pass. */
const TRANSFER_CONTEXT = Buffer.from('CampaignTransfer');

export class ProposalDroppedError extends Error {
  constructor(reason: string) {
    super(`raft: proposal dropped: ${reason}`);
  }
}

const UNCOMMITTED_FULL = 'the uncommitted log is over its size limit';

export class Raft {
  readonly id: MemberId;
  term: number;
  vote: MemberId;
  role: Role = Role.Follower;
  leader: MemberId | undefined;
  readonly log: RaftLog;
  private voters: MemberId[];
  private learners: MemberId[];
  /** Index of the newest ConfChange entry appended (leader): one change at a time. */
  private pendingConfIndex = 0;
  private progress = new Map<MemberId, Progress>();
  private votes = new Map<MemberId, boolean>();
  private msgs: Message[] = [];
  /**
   * Peers owed an append since the last Ready (leader), sent when the Ready is taken: one message
   * to each for everything proposed meanwhile, where one per proposal went before (3 members at
   * 200 clients: a Ready carries tens of proposals, and each append costs an encode, a decode, a
   * follower's handling and an answer the leader handles in turn).
   */
  private appendsOwed = new Set<MemberId>();
  /** Entries this follower proposed since the last Ready, forwarded to the leader in one message. */
  private propsOwed: Entry[] = [];
  private propsOwedBytes = 0;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly maxEntriesPerMsg: number;
  private readonly maxSizePerMsgBytes: number;
  private readonly maxCommittedSizePerReadyBytes: number;
  private readonly maxUncommittedBytes: number;
  /**
   * Leader: payload bytes of the entries it appended this term that were not yet handed out
   * applied (etcd-io/raft's uncommittedSize). It may undercount (inherited entries are not
   * counted, yet subtract when applied: it saturates at 0), never overcount.
   */
  private uncommittedBytes = 0;
  /** Proposals are being dropped for the uncommitted bound (told once per episode). */
  private droppingUncommitted = false;
  private rng: number;
  private prevHardState: HardState;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  /** Peers heard from during the current check-quorum window (leader only). */
  private recentActive = new Set<MemberId>();
  /** ReadIndex requests not yet answered (leader only). */
  private readOnly = new ReadOnly();
  private readStates: ReadState[] = [];
  /** The member leadership is being handed to, and for how many ticks (leader only). */
  private leadTransferee: MemberId | undefined;
  private transferElapsed = 0;
  private readonly logger: RaftLogger;
  private readonly hex: string;

  constructor(config: RaftConfig) {
    this.id = config.id;
    this.voters = [...config.voters].sort();
    this.learners = [...(config.learners ?? [])].sort();
    this.term = config.hardState.term;
    this.vote = config.hardState.vote;
    this.log = new RaftLog(config.storage, config.hardState.commit, config.applied);
    this.electionTicks = config.electionTicks;
    this.heartbeatTicks = config.heartbeatTicks;
    this.maxEntriesPerMsg = config.maxEntriesPerMsg ?? 1024;
    this.maxSizePerMsgBytes = config.maxSizePerMsgBytes ?? DEFAULT_MAX_SIZE_PER_MSG_BYTES;
    this.maxCommittedSizePerReadyBytes = config.maxCommittedSizePerReadyBytes ?? this.maxSizePerMsgBytes;
    this.maxUncommittedBytes = config.maxUncommittedEntriesBytes ?? DEFAULT_MAX_UNCOMMITTED_ENTRIES_BYTES;
    if (!(this.maxSizePerMsgBytes > 0 && this.maxCommittedSizePerReadyBytes > 0 && this.maxUncommittedBytes > 0)) {
      throw new Error('raft: byte limits must be positive');
    }
    this.rng = config.seed >>> 0 || 1;
    this.prevHardState = { ...config.hardState };
    this.preVote = config.preVote ?? true;
    this.checkQuorum = config.checkQuorum ?? true;
    this.logger = config.logger ?? (() => undefined);
    this.hex = hexId(this.id);
    this.becomeFollower(this.term, undefined);
  }

  // ---- inputs ----------------------------------------------------------------------------

  tick(): void {
    if (this.role === Role.Leader) {
      this.heartbeatElapsed++;
      this.electionElapsed++;
      if (this.checkQuorum && this.electionElapsed >= this.electionTicks) {
        this.electionElapsed = 0;
        if (!this.quorumActive()) {
          this.logger(`${this.hex} stepped down to follower since quorum is not active`, 'warn');
          this.becomeFollower(this.term, undefined);
          return;
        }
        this.recentActive = new Set([this.id]);
      }
      for (const pr of this.progress.values()) pr.tickSnapshot(SNAPSHOT_TIMEOUT_ELECTIONS * this.electionTicks);
      if (this.leadTransferee !== undefined && ++this.transferElapsed >= this.electionTicks) {
        this.leadTransferee = undefined; // the transferee did not take over in time: keep leading
      }
      if (this.heartbeatElapsed >= this.heartbeatTicks) {
        this.heartbeatElapsed = 0;
        this.broadcastHeartbeat(undefined);
      }
      return;
    }
    this.electionElapsed++;
    if (this.voters.includes(this.id) && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.logger(`${this.hex} is starting a new election at term ${this.term}`);
      if (this.preVote) this.preCampaign();
      else this.campaign();
    }
  }

  /** Starts a real election now (etcd's MsgHup without pre-vote); a single voter wins it at once. */
  campaign(transfer = false): void {
    if (this.role === Role.Leader) return;
    this.becomeCandidate();
    this.requestVotes(MessageType.Vote, this.term, transfer ? TRANSFER_CONTEXT : undefined);
  }

  /**
   * Hands leadership to `target` (a voter): once its log is up to date it is told to campaign at
   * once. Proposals are refused meanwhile; the attempt ends after an election timeout.
   */
  transferLeader(target: MemberId): void {
    if (this.role !== Role.Leader) throw new ProposalDroppedError('not leader');
    if (target === this.id) return;
    const pr = this.progress.get(target);
    if (pr === undefined) throw new Error(`raft: ${target} is not a voter`);
    this.leadTransferee = target;
    this.transferElapsed = 0;
    if (pr.match === this.log.lastIndex()) this.send(emptyMessage(MessageType.TimeoutNow, this.id, target, this.term));
    else this.sendAppend(target);
  }

  /**
   * Proposes a membership change (data is the driver's encoding of it). Refused while an earlier
   * change is not yet applied: changes go one at a time, which keeps any two quorums overlapping.
   */
  proposeConfChange(data: Buffer): number {
    const entry = { term: this.term, index: 0, type: EntryType.ConfChange, data };
    if (this.role === Role.Leader) {
      if (this.leadTransferee !== undefined) throw new ProposalDroppedError('leader transfer in progress');
      if (this.pendingConfIndex > this.log.applied) throw new ProposalDroppedError('a membership change is in progress');
      const index = this.appendEntries([entry]);
      if (index === undefined) throw new ProposalDroppedError(UNCOMMITTED_FULL);
      this.pendingConfIndex = index;
      return index;
    }
    if (this.leader === undefined) throw new ProposalDroppedError('no leader');
    this.send({ ...emptyMessage(MessageType.Prop, this.id, this.leader, 0), entries: [entry] });
    return 0;
  }

  /** The driver applied a committed ConfChange entry: the member sets change now. */
  applyConfChange(cc: ConfChange): void {
    const without = (list: MemberId[]): MemberId[] => list.filter((x) => x !== cc.id);
    if (cc.type === 'remove') {
      this.voters = without(this.voters);
      this.learners = without(this.learners);
      this.progress.delete(cc.id);
    } else if (cc.type === 'addLearner') {
      if (!this.voters.includes(cc.id) && !this.learners.includes(cc.id)) this.learners = [...this.learners, cc.id].sort();
    } else {
      this.learners = without(this.learners);
      if (!this.voters.includes(cc.id)) this.voters = [...this.voters, cc.id].sort();
    }
    if (this.role !== Role.Leader) return;
    if (cc.id === this.id && cc.type === 'remove') {
      this.becomeFollower(this.term, undefined);
      return;
    }
    if (cc.type !== 'remove' && !this.progress.has(cc.id)) {
      this.progress.set(cc.id, new Progress(this.log.lastIndex() + 1));
      this.sendAppend(cc.id);
    }
    // The quorum changed: an index the new majority holds may commit now.
    if (this.maybeCommit()) for (const peer of this.peers()) this.sendAppend(peer);
  }

  /** A snapshot was installed: take the membership it carries. */
  setConfiguration(voters: MemberId[], learners: MemberId[]): void {
    this.voters = [...voters].sort();
    this.learners = [...learners].sort();
  }

  voterIds(): MemberId[] {
    return [...this.voters];
  }

  learnerIds(): MemberId[] {
    return [...this.learners];
  }

  /** Leader: how far a member's log matches (undefined when unknown). */
  matchOf(id: MemberId): number | undefined {
    return this.role === Role.Leader ? this.progress.get(id)?.match : undefined;
  }

  /**
   * The driver's word on a snapshot it streamed to `id` (etcd's ReportSnapshot): a failed one is
   * sent again once the follower is heard from, instead of waiting out the snapshot timeout.
   */
  reportSnapshot(id: MemberId, ok: boolean): void {
    if (this.role !== Role.Leader) return;
    const pr = this.progress.get(id);
    if (pr === undefined || pr.state !== 'snapshot') return;
    pr.snapshotDone(ok);
    this.logger(`${this.hex} snapshot ${ok ? 'succeeded' : 'failed'}, resumed sending replication messages to ${hexId(id)}`);
  }

  /** Proposes entries: appended here if this member leads, else forwarded to the leader. */
  propose(data: Buffer[]): number {
    const entries = data.map((d) => ({ term: this.term, index: 0, type: EntryType.Normal, data: d }));
    if (this.role === Role.Leader) {
      if (this.leadTransferee !== undefined) throw new ProposalDroppedError('leader transfer in progress');
      const index = this.appendEntries(entries);
      if (index === undefined) throw new ProposalDroppedError(UNCOMMITTED_FULL);
      return index;
    }
    if (this.leader === undefined) throw new ProposalDroppedError('no leader');
    for (const e of entries) {
      this.propsOwed.push(e);
      this.propsOwedBytes += entrySizeBytes(e);
    }
    // A message never grows past the bound on appends; beyond it the next one starts.
    if (this.propsOwedBytes >= this.maxSizePerMsgBytes) this.flushProps();
    return 0;
  }

  /**
   * Asks for a read index: a later Ready's readStates carries {index, context} once this member
   * may serve a linearizable read after applying up to index. Throws if there is no leader.
   */
  readIndex(context: Buffer): void {
    if (this.role === Role.Leader) {
      if (!this.readOnly.hasRoom()) throw new ProposalDroppedError('too many pending read requests');
      this.leaderReadIndex(newReadRequest(context, this.id));
      return;
    }
    if (this.leader === undefined) throw new ProposalDroppedError('no leader');
    this.send({ ...emptyMessage(MessageType.ReadIndex, this.id, this.leader, 0), context });
  }

  step(m: Message): void {
    // Term 0 marks messages outside the term protocol (forwarded proposals and read requests).
    if (m.term > 0 && m.term > this.term) {
      const transfer = m.context !== undefined && m.context.equals(TRANSFER_CONTEXT);
      if ((m.type === MessageType.Vote || m.type === MessageType.PreVote) && this.inLease() && !transfer) {
        // We hear from a live leader: a member that lost touch must not depose it.
        this.logger(`${this.voteState()} ignored ${msgName(m.type)} from ${hexId(m.from)} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}: lease is not expired (remaining ticks: ${this.electionTicks - this.electionElapsed})`);
        return;
      }
      const preVoteTraffic = m.type === MessageType.PreVote || (m.type === MessageType.PreVoteResp && !m.reject);
      if (!preVoteTraffic) {
        this.logger(`${this.hex} [term: ${this.term}] received a ${msgName(m.type)} message with higher term from ${hexId(m.from)} [term: ${m.term}]`);
        const leader = m.type === MessageType.App || m.type === MessageType.Heartbeat ? m.from : undefined;
        this.becomeFollower(m.term, leader);
      }
    } else if (m.term > 0 && m.term < this.term) {
      // Stale sender: tell it the current term so it steps down.
      if (m.type === MessageType.App || m.type === MessageType.Heartbeat) this.send(emptyMessage(MessageType.AppResp, this.id, m.from, this.term));
      else if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        this.send({ ...emptyMessage(m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp, this.id, m.from, this.term), reject: true });
      }
      return;
    }
    if (this.role === Role.Leader && m.from !== this.id) this.recentActive.add(m.from);
    switch (m.type) {
      case MessageType.Vote:
      case MessageType.PreVote:
        return this.handleVote(m);
      case MessageType.VoteResp:
      case MessageType.PreVoteResp:
        return this.handleVoteResp(m);
      case MessageType.Prop:
        return this.handleProp(m);
      case MessageType.ReadIndex:
        return this.handleReadIndex(m);
      case MessageType.ReadIndexResp:
        if (m.context !== undefined) this.readStates.push({ index: m.index, context: m.context });
        return;
      case MessageType.TimeoutNow:
        // The leader hands over: campaign now, past pre-vote and the others' leases.
        if (this.voters.includes(this.id)) this.campaign(true);
        return;
      case MessageType.App:
        return this.handleAppend(m);
      case MessageType.Snap:
        return this.handleSnapshot(m);
      case MessageType.Heartbeat:
        return this.handleHeartbeat(m);
      case MessageType.AppResp:
        return this.handleAppendResp(m);
      case MessageType.HeartbeatResp:
        return this.handleHeartbeatResp(m);
      default:
        return;
    }
  }

  // ---- output ----------------------------------------------------------------------------

  hasReady(): boolean {
    return this.msgs.length > 0 || this.appendsOwed.size > 0 || this.propsOwed.length > 0 || this.readStates.length > 0 || this.log.hasUnstable() || this.log.committed > this.log.applied || this.hardStateChanged();
  }

  /** Whether the next Ready has anything to write to disk or apply (else only messages). */
  needsPersist(): boolean {
    return this.log.hasUnstable() || this.log.committed > this.log.applied || this.hardStateChanged();
  }

  ready(): Ready {
    this.flushProps();
    this.flushAppends();
    const hs = this.hardState();
    const rd: Ready = {
      entries: this.log.takeUnstable(),
      hardState: this.hardStateChanged() ? hs : undefined,
      committedEntries: this.log.nextCommitted(this.maxCommittedSizePerReadyBytes),
      messages: this.msgs,
      softState: this.softState(),
      readStates: this.readStates,
    };
    this.msgs = [];
    this.readStates = [];
    this.prevHardState = hs;
    return rd;
  }

  /** The driver has persisted rd.entries and applied rd.committedEntries. */
  advance(rd: Ready): void {
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      this.log.stableTo(last.index, last.term);
    }
    if (rd.committedEntries.length > 0) {
      this.log.appliedTo(rd.committedEntries[rd.committedEntries.length - 1].index);
      this.reduceUncommittedSize(payloadBytes(rd.committedEntries));
    }
  }

  /** Leader: payload bytes counted against maxUncommittedEntriesBytes now (0 otherwise). */
  uncommittedSizeBytes(): number {
    return this.uncommittedBytes;
  }

  softState(): SoftState {
    return { leader: this.leader, role: this.role };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  // ---- roles -----------------------------------------------------------------------------

  private becomeFollower(term: number, leader: MemberId | undefined): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = '';
    }
    const was = this.role;
    this.role = Role.Follower;
    this.leader = leader;
    this.uncommittedBytes = 0;
    this.readOnly.reset();
    this.leadTransferee = undefined;
    this.resetTimers();
    if (was !== Role.Follower || term !== this.loggedTerm) this.logger(`${this.hex} became follower at term ${this.term}`);
    this.loggedTerm = term;
  }

  /** The term of the last role change told (a follower that stays one at its term says it once). */
  private loggedTerm = -1;

  /** A pre-election: ask whether we could win at term + 1 without disturbing anyone's term. */
  private preCampaign(): void {
    if (this.role === Role.Leader) return;
    this.role = Role.PreCandidate;
    this.leader = undefined;
    this.votes = new Map([[this.id, true]]);
    this.resetTimers();
    this.logger(`${this.hex} became pre-candidate at term ${this.term}`);
    this.requestVotes(MessageType.PreVote, this.term + 1);
  }

  private requestVotes(type: MessageType.Vote | MessageType.PreVote, term: number, context?: Buffer): void {
    if (voteResult(this.voters, this.votes) === 'won') {
      if (type === MessageType.PreVote) this.campaign();
      else this.becomeLeader();
      return;
    }
    for (const peer of this.voters) {
      if (peer === this.id) continue;
      this.logger(`${this.hex} [logterm: ${this.log.lastTerm()}, index: ${this.log.lastIndex()}] sent ${msgName(type)} request to ${hexId(peer)} at term ${this.term}`);
      const m = emptyMessage(type, this.id, peer, term);
      m.index = this.log.lastIndex();
      m.logTerm = this.log.lastTerm();
      if (context !== undefined) m.context = context;
      this.send(m);
    }
  }

  private becomeCandidate(): void {
    this.term++;
    this.vote = this.id;
    this.role = Role.Candidate;
    this.leader = undefined;
    this.uncommittedBytes = 0;
    this.votes = new Map([[this.id, true]]);
    this.resetTimers();
    this.logger(`${this.hex} became candidate at term ${this.term}`);
  }

  private becomeLeader(): void {
    this.role = Role.Leader;
    this.leader = this.id;
    this.leadTransferee = undefined;
    this.uncommittedBytes = 0;
    this.droppingUncommitted = false;
    this.recentActive = new Set([this.id]);
    this.progress = new Map();
    for (const peer of [...this.voters, ...this.learners]) this.progress.set(peer, new Progress(this.log.lastIndex() + 1));
    // A change may sit uncommitted in the log this leader inherited: wait for it before another.
    this.pendingConfIndex = this.log.lastIndex();
    this.resetTimers();
    // An empty entry of the new term lets the leader commit what earlier terms left behind. Its
    // payload is empty, so it never counts against the uncommitted bound (and is never refused).
    if (this.appendEntries([{ term: this.term, index: 0, type: EntryType.Normal, data: Buffer.alloc(0) }]) === undefined) {
      throw new Error('raft: the new leader\'s empty entry was refused');
    }
    this.logger(`${this.hex} became leader at term ${this.term}`);
  }

  private resetTimers(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTicks + (this.nextRandom() % this.electionTicks);
  }

  // ---- leader ----------------------------------------------------------------------------

  /** Appends entries as the leader; undefined when the uncommitted bound refuses them (all of them). */
  private appendEntries(entries: Entry[]): number | undefined {
    if (!this.increaseUncommittedSize(entries)) return undefined;
    let index = this.log.lastIndex();
    for (const e of entries) {
      e.index = ++index;
      e.term = this.term;
    }
    this.log.append(entries);
    const self = this.progress.get(this.id);
    // The leader counts its own entries as matched: the driver persists them (in the same write
    // as applying them, for a single member) before anything committed is acted on.
    if (self !== undefined) {
      self.match = index;
      self.next = index + 1;
    }
    this.maybeCommit();
    this.oweAppendToAll();
    return index;
  }

  private oweAppendToAll(): void {
    for (const peer of this.peers()) this.appendsOwed.add(peer);
  }

  /** Sends the appends owed (see appendsOwed); as many to each peer as its window takes. */
  private flushAppends(): void {
    if (this.appendsOwed.size === 0) return;
    if (this.role === Role.Leader) {
      for (const peer of this.appendsOwed) {
        this.sendAppend(peer);
        // More than one message holds: go on while the window takes them and each one moves on.
        const pr = this.progress.get(peer);
        let sentFrom = -1;
        while (pr !== undefined && pr.state === 'replicate' && pr.next !== sentFrom && pr.next <= this.log.lastIndex() && pr.canSendAppend()) {
          sentFrom = pr.next;
          this.sendAppend(peer);
        }
      }
    }
    this.appendsOwed.clear();
  }

  /**
   * Forwards the proposals owed (see propsOwed) to the leader. A member that lost its leader
   * meanwhile (it cannot lead before a Ready has sent its votes) drops them, as a proposal sent
   * to a lost leader is; the proposers time out.
   */
  private flushProps(): void {
    if (this.propsOwed.length === 0) return;
    const entries = this.propsOwed;
    this.propsOwed = [];
    this.propsOwedBytes = 0;
    if (this.role !== Role.Leader && this.leader !== undefined) this.send({ ...emptyMessage(MessageType.Prop, this.id, this.leader, 0), entries });
  }

  private sendAppend(peer: MemberId): void {
    const pr = this.progress.get(peer);
    if (pr === undefined) return;
    if (!pr.canSendAppend()) return;
    if (pr.next < this.log.firstIndex()) {
      // Entries the follower needs were compacted away: send the state instead. The driver fills
      // in the data and may move the snapshot up to what it has applied when it sends it.
      const index = this.log.applied;
      this.send({ ...emptyMessage(MessageType.Snap, this.id, peer, this.term), snapshot: { index, term: this.log.term(index) } });
      pr.becomeSnapshot(index);
      return;
    }
    const m = emptyMessage(MessageType.App, this.id, peer, this.term);
    m.index = pr.next - 1;
    m.logTerm = this.log.term(m.index);
    m.entries = this.log.entries(pr.next, Math.min(this.log.lastIndex() + 1, pr.next + this.maxEntriesPerMsg), this.maxSizePerMsgBytes);
    m.commit = this.log.committed;
    this.send(m);
    let bytes = 0;
    for (const e of m.entries) bytes += entrySizeBytes(e);
    pr.sentAppend(m.entries.length > 0 ? m.entries[m.entries.length - 1].index : undefined, bytes);
  }

  private broadcastHeartbeat(context: Buffer | undefined): void {
    for (const peer of this.peers()) {
      const pr = this.progress.get(peer);
      const m = emptyMessage(MessageType.Heartbeat, this.id, peer, this.term);
      m.commit = Math.min(pr?.match ?? 0, this.log.committed);
      pr?.onHeartbeatSent();
      if (context !== undefined) m.context = context;
      this.send(m);
    }
  }

  private handleProp(m: Message): void {
    if (this.role === Role.Leader) {
      if (this.leadTransferee !== undefined) return;
      const entries = m.entries.map((e) => ({ ...e }));
      const first = this.log.lastIndex() + 1;
      let confIndex = this.pendingConfIndex;
      entries.forEach((e, k) => {
        if (e.type !== EntryType.ConfChange) return;
        // One change at a time: a second one becomes an empty entry, and its proposer times out.
        if (confIndex > this.log.applied) {
          e.type = EntryType.Normal;
          e.data = Buffer.alloc(0);
        } else {
          confIndex = first + k;
        }
      });
      // Refused by the uncommitted bound: dropped like a proposal that finds no leader.
      if (this.appendEntries(entries) !== undefined) this.pendingConfIndex = confIndex;
    } else if (this.leader !== undefined && this.leader !== m.from) {
      this.send({ ...m, from: this.id, to: this.leader });
    }
    // Without a leader the proposal is dropped; the proposer times out and may retry.
  }

  private handleReadIndex(m: Message): void {
    // Past the bound the follower's read times out, as when the request is lost.
    if (this.role !== Role.Leader || m.context === undefined || !this.readOnly.hasRoom()) return;
    this.leaderReadIndex(newReadRequest(m.context, m.from));
  }

  /**
   * The leader's side of ReadIndex (Raft thesis §6.4): note the commit index, then confirm with a
   * quorum of heartbeat acks that no newer leader exists before answering.
   */
  private leaderReadIndex(req: ReadRequest): void {
    // Until an entry of this term commits, the commit index may lag what earlier leaders acked.
    if (this.log.term(this.log.committed) !== this.term) {
      this.readOnly.waitForCommit(req);
      return;
    }
    req.index = this.log.committed;
    req.acks = new Set([this.id]);
    if (hasMajority(this.voters, req.acks)) {
      this.answerRead(req);
      return;
    }
    this.readOnly.waitForAcks(req);
    this.broadcastHeartbeat(req.context);
  }

  private answerRead(req: ReadRequest): void {
    if (req.from === this.id) this.readStates.push({ index: req.index, context: req.context });
    else this.send({ ...emptyMessage(MessageType.ReadIndexResp, this.id, req.from, this.term), index: req.index, context: req.context });
  }

  private handleAppendResp(m: Message): void {
    if (this.role !== Role.Leader) return;
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    pr.onAppendResp(m.index);
    if (m.reject) {
      if (pr.onReject(m.index, m.rejectHint)) this.sendAppend(m.from);
      return;
    }
    const advanced = pr.onAccept(m.index);
    if (m.from === this.leadTransferee && m.index >= this.log.lastIndex()) {
      this.send(emptyMessage(MessageType.TimeoutNow, this.id, m.from, this.term));
    }
    if (advanced) {
      if (this.maybeCommit()) this.oweAppendToAll();
      else if (pr.next <= this.log.lastIndex()) this.appendsOwed.add(m.from);
    }
  }

  private handleHeartbeatResp(m: Message): void {
    if (this.role !== Role.Leader) return;
    const pr = this.progress.get(m.from);
    if (pr !== undefined) {
      pr.onHeartbeatResp();
      if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
    }
    if (m.context !== undefined) {
      for (const r of this.readOnly.ack(m.from, m.context, this.voters)) this.answerRead(r);
    }
  }

  /** Commits the highest index a quorum has, if it is of the current term (Raft §5.4.2). */
  private maybeCommit(): boolean {
    const index = quorumIndex(this.voters, (v) => this.progress.get(v)?.match ?? 0);
    if (index > this.log.committed && this.log.term(index) === this.term) {
      this.log.commitTo(index);
      for (const r of this.readOnly.takeWaitingForCommit()) this.leaderReadIndex(r);
      return true;
    }
    return false;
  }

  // ---- follower / candidate --------------------------------------------------------------

  private handleVote(m: Message): void {
    const pre = m.type === MessageType.PreVote;
    const canVote = this.vote === m.from || (this.vote === '' && this.leader === undefined) || (pre && m.term > this.term);
    const grant = canVote && this.log.isUpToDate(m.index, m.logTerm);
    const respType = pre ? MessageType.PreVoteResp : MessageType.VoteResp;
    const them = `${hexId(m.from)} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`;
    this.logger(grant ? `${this.voteState()} cast ${msgName(m.type)} for ${them}` : `${this.voteState()} rejected ${msgName(m.type)} from ${them}`);
    if (grant) {
      // A pre-vote grant records nothing: it only says "you could win".
      if (!pre) {
        this.vote = m.from;
        this.electionElapsed = 0;
      }
      this.send(emptyMessage(respType, this.id, m.from, m.term));
    } else {
      this.send({ ...emptyMessage(respType, this.id, m.from, this.term), reject: true });
    }
  }

  private handleVoteResp(m: Message): void {
    const expected = this.role === Role.PreCandidate ? MessageType.PreVoteResp : this.role === Role.Candidate ? MessageType.VoteResp : undefined;
    if (m.type !== expected) return;
    this.logger(`${this.hex} received ${msgName(m.type)}${m.reject ? ' rejection' : ''} from ${hexId(m.from)} at term ${this.term}`);
    this.votes.set(m.from, !m.reject);
    const granted = [...this.votes.values()].filter((v) => v).length;
    this.logger(`${this.hex} has received ${granted} ${msgName(m.type)} votes and ${this.votes.size - granted} vote rejections`);
    const result = voteResult(this.voters, this.votes);
    if (result === 'won') {
      if (this.role === Role.PreCandidate) this.campaign();
      else this.becomeLeader();
    } else if (result === 'lost') {
      this.becomeFollower(this.term, undefined);
    }
  }

  private handleAppend(m: Message): void {
    this.role = Role.Follower;
    this.leader = m.from;
    this.electionElapsed = 0;
    if (m.index < this.log.committed) {
      this.send({ ...emptyMessage(MessageType.AppResp, this.id, m.from, this.term), index: this.log.committed });
      return;
    }
    const last = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    const resp = emptyMessage(MessageType.AppResp, this.id, m.from, this.term);
    if (last >= 0) resp.index = last;
    else {
      resp.reject = true;
      resp.index = m.index;
      resp.rejectHint = Math.min(m.index - 1, this.log.lastIndex());
    }
    this.send(resp);
  }

  /**
   * The driver has already installed the snapshot's data (and reset the stored log) before
   * stepping this message; raft moves its own log marks to match.
   */
  private handleSnapshot(m: Message): void {
    this.role = Role.Follower;
    this.leader = m.from;
    this.electionElapsed = 0;
    const snap = m.snapshot;
    if (snap === undefined) return;
    let ack: number;
    if (snap.index > this.log.committed && this.log.storageStartsAfter(snap.index)) {
      this.log.restore(snap.index);
      ack = snap.index;
    } else {
      // Our log already holds the snapshot's last entry (the driver installed nothing): keep it,
      // and what follows, which a quorum may hold as committed; only learn the commit. Entries
      // past the commit may be stale, so the answer claims only the commit (as etcd-io/raft).
      if (this.log.matchTerm(snap.index, snap.term)) this.log.commitTo(snap.index);
      ack = this.log.committed;
    }
    this.send({ ...emptyMessage(MessageType.AppResp, this.id, m.from, this.term), index: ack });
  }

  private handleHeartbeat(m: Message): void {
    this.role = Role.Follower;
    this.leader = m.from;
    this.electionElapsed = 0;
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    const resp = emptyMessage(MessageType.HeartbeatResp, this.id, m.from, this.term);
    if (m.context !== undefined) resp.context = m.context;
    this.send(resp);
  }

  // ---- helpers ---------------------------------------------------------------------------

  /** Members the leader replicates to: voters and learners other than itself. */
  private peers(): MemberId[] {
    return [...this.voters, ...this.learners].filter((p) => p !== this.id);
  }

  /** How etcd-io/raft opens its vote lines: who we are, our last entry and our vote. */
  private voteState(): string {
    return `${this.hex} [logterm: ${this.log.lastTerm()}, index: ${this.log.lastIndex()}, vote: ${this.vote === '' ? '0' : hexId(this.vote)}]`;
  }

  private quorumActive(): boolean {
    return hasMajority(this.voters, this.recentActive);
  }

  /** A member that heard from a leader (or, leading, from a quorum) within an election timeout. */
  private inLease(): boolean {
    return this.checkQuorum && this.leader !== undefined && this.electionElapsed < this.electionTicks;
  }

  /**
   * Counts entries about to be appended against the uncommitted bound (etcd-io/raft's
   * increaseUncommittedSize): refused when they would take a non-empty count past the limit.
   * An empty tail takes any one proposal, however large (else it could never be proposed), and
   * empty payloads are free (a new leader's entry always goes in).
   */
  private increaseUncommittedSize(entries: Entry[]): boolean {
    const bytes = payloadBytes(entries);
    if (this.uncommittedBytes > 0 && bytes > 0 && this.uncommittedBytes + bytes > this.maxUncommittedBytes) {
      // A flood would log once per proposal: say it when dropping starts.
      if (!this.droppingUncommitted) this.logger(`${this.hex} appending new entries to log would exceed uncommitted entry size limit; dropping proposal`, 'warn');
      this.droppingUncommitted = true;
      return false;
    }
    if (bytes > 0) this.droppingUncommitted = false;
    this.uncommittedBytes += bytes;
    return true;
  }

  /** Entries were handed out applied: they no longer count (saturating, see uncommittedBytes). */
  private reduceUncommittedSize(bytes: number): void {
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes - bytes);
  }

  private hardStateChanged(): boolean {
    const p = this.prevHardState;
    return p.term !== this.term || p.vote !== this.vote || p.commit !== this.log.committed;
  }

  private send(m: Message): void {
    this.msgs.push(m);
  }

  /** xorshift32: deterministic for a given seed. */
  private nextRandom(): number {
    let x = this.rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rng = x >>> 0;
    return this.rng;
  }
}

/** Payload bytes of entries: what the uncommitted bound counts (etcd-io/raft's payloadsSize). */
function payloadBytes(entries: Entry[]): number {
  let bytes = 0;
  for (const e of entries) bytes += e.data.length;
  return bytes;
}

/** A message type as etcd-io/raft prints it (MsgApp, MsgPreVoteResp, ...). */
function msgName(type: MessageType): string {
  return `Msg${type[0].toUpperCase()}${type.slice(1)}`;
}
