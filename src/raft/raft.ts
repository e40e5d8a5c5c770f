// The Raft consensus algorithm as a pure, deterministic state machine in etcd-io/raft's shape:
// inputs are tick(), step(message) and propose(data); the output is a Ready that the driver
// persists, sends and applies before calling advance(). No timers, no I/O, no clocks; the only
// randomness is the election timeout, drawn from a seeded generator so runs replay exactly.
//
// This is the core (election, log replication, commit by quorum of the current term). The
// cluster work adds pre-vote, check-quorum, flow control, snapshots, membership changes, leader
// transfer and ReadIndex on this same shape.
import { RaftLog, type LogStorage } from './log';
import { EntryType, MessageType, Role, emptyMessage, type Entry, type HardState, type MemberId, type Message, type Ready, type SoftState } from './types';

export interface RaftConfig {
  id: MemberId;
  voters: MemberId[];
  storage: LogStorage;
  hardState: HardState;
  applied: number;
  electionTicks: number;
  heartbeatTicks: number;
  /** Seed for the randomized election timeout. */
  seed: number;
  /** Upper bound of entries in one AppendEntries message. */
  maxEntriesPerMsg?: number;
}

interface Progress {
  match: number;
  next: number;
}

export class ProposalDroppedError extends Error {
  constructor(reason: string) {
    super(`raft: proposal dropped: ${reason}`);
  }
}

export class Raft {
  readonly id: MemberId;
  term: number;
  vote: MemberId;
  role: Role = Role.Follower;
  leader: MemberId | undefined;
  readonly log: RaftLog;
  private voters: MemberId[];
  private progress = new Map<MemberId, Progress>();
  private votes = new Map<MemberId, boolean>();
  private msgs: Message[] = [];
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly maxEntriesPerMsg: number;
  private rng: number;
  private prevHardState: HardState;

  constructor(config: RaftConfig) {
    this.id = config.id;
    this.voters = [...config.voters].sort();
    this.term = config.hardState.term;
    this.vote = config.hardState.vote;
    this.log = new RaftLog(config.storage, config.hardState.commit, config.applied);
    this.electionTicks = config.electionTicks;
    this.heartbeatTicks = config.heartbeatTicks;
    this.maxEntriesPerMsg = config.maxEntriesPerMsg ?? 1024;
    this.rng = config.seed >>> 0 || 1;
    this.prevHardState = { ...config.hardState };
    this.becomeFollower(this.term, undefined);
  }

  // ---- inputs ----------------------------------------------------------------------------

  tick(): void {
    if (this.role === Role.Leader) {
      this.heartbeatElapsed++;
      if (this.heartbeatElapsed >= this.heartbeatTicks) {
        this.heartbeatElapsed = 0;
        this.broadcastHeartbeat();
      }
      return;
    }
    this.electionElapsed++;
    if (this.voters.includes(this.id) && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.campaign();
    }
  }

  /** Starts an election now (etcd's MsgHup); a single voter wins it at once. */
  campaign(): void {
    if (this.role === Role.Leader) return;
    this.becomeCandidate();
    if (this.hasQuorum(this.votes)) {
      this.becomeLeader();
      return;
    }
    for (const peer of this.voters) {
      if (peer === this.id) continue;
      const m = emptyMessage(MessageType.Vote, this.id, peer, this.term);
      m.index = this.log.lastIndex();
      m.logTerm = this.log.lastTerm();
      this.send(m);
    }
  }

  /** Appends proposals to the log if this member leads; returns the index of the last one. */
  propose(data: Buffer[]): number {
    if (this.role !== Role.Leader) throw new ProposalDroppedError(this.leader === undefined ? 'no leader' : 'not leader');
    const entries = data.map((d) => ({ term: this.term, index: 0, type: EntryType.Normal, data: d }));
    return this.appendEntries(entries);
  }

  step(m: Message): void {
    if (m.term > this.term) {
      const leader = m.type === MessageType.App || m.type === MessageType.Heartbeat ? m.from : undefined;
      this.becomeFollower(m.term, leader);
    } else if (m.term < this.term) {
      // Stale sender: tell it the current term so it steps down.
      if (m.type === MessageType.App || m.type === MessageType.Heartbeat) this.send(emptyMessage(MessageType.AppResp, this.id, m.from, this.term));
      else if (m.type === MessageType.Vote) this.send({ ...emptyMessage(MessageType.VoteResp, this.id, m.from, this.term), reject: true });
      return;
    }
    switch (m.type) {
      case MessageType.Vote:
        return this.handleVote(m);
      case MessageType.VoteResp:
        return this.handleVoteResp(m);
      case MessageType.App:
        return this.handleAppend(m);
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
    return this.msgs.length > 0 || this.log.hasUnstable() || this.log.committed > this.log.applied || this.hardStateChanged();
  }

  ready(): Ready {
    const hs = this.hardState();
    const rd: Ready = {
      entries: this.log.takeUnstable(),
      hardState: this.hardStateChanged() ? hs : undefined,
      committedEntries: this.log.nextCommitted(),
      messages: this.msgs,
      softState: this.softState(),
    };
    this.msgs = [];
    this.prevHardState = hs;
    return rd;
  }

  /** The driver has persisted rd.entries and applied rd.committedEntries. */
  advance(rd: Ready): void {
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      this.log.stableTo(last.index, last.term);
    }
    if (rd.committedEntries.length > 0) this.log.appliedTo(rd.committedEntries[rd.committedEntries.length - 1].index);
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
    this.role = Role.Follower;
    this.leader = leader;
    this.resetTimers();
  }

  private becomeCandidate(): void {
    this.term++;
    this.vote = this.id;
    this.role = Role.Candidate;
    this.leader = undefined;
    this.votes = new Map([[this.id, true]]);
    this.resetTimers();
  }

  private becomeLeader(): void {
    this.role = Role.Leader;
    this.leader = this.id;
    this.progress = new Map();
    for (const peer of this.voters) this.progress.set(peer, { match: 0, next: this.log.lastIndex() + 1 });
    this.resetTimers();
    // An empty entry of the new term lets the leader commit what earlier terms left behind.
    this.appendEntries([{ term: this.term, index: 0, type: EntryType.Normal, data: Buffer.alloc(0) }]);
  }

  private resetTimers(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTicks + (this.nextRandom() % this.electionTicks);
  }

  // ---- leader ----------------------------------------------------------------------------

  private appendEntries(entries: Entry[]): number {
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
    for (const peer of this.voters) if (peer !== this.id) this.sendAppend(peer);
    return index;
  }

  private sendAppend(peer: MemberId): void {
    const pr = this.progress.get(peer);
    if (pr === undefined) return;
    const m = emptyMessage(MessageType.App, this.id, peer, this.term);
    m.index = pr.next - 1;
    m.logTerm = this.log.term(m.index);
    m.entries = this.log.entries(pr.next, Math.min(this.log.lastIndex() + 1, pr.next + this.maxEntriesPerMsg));
    m.commit = this.log.committed;
    this.send(m);
  }

  private broadcastHeartbeat(): void {
    for (const peer of this.voters) {
      if (peer === this.id) continue;
      const pr = this.progress.get(peer);
      const m = emptyMessage(MessageType.Heartbeat, this.id, peer, this.term);
      m.commit = Math.min(pr?.match ?? 0, this.log.committed);
      this.send(m);
    }
  }

  private handleAppendResp(m: Message): void {
    if (this.role !== Role.Leader) return;
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    if (m.reject) {
      pr.next = Math.max(1, Math.min(pr.next - 1, m.rejectHint + 1));
      this.sendAppend(m.from);
      return;
    }
    if (m.index > pr.match) {
      pr.match = m.index;
      pr.next = Math.max(pr.next, m.index + 1);
      if (this.maybeCommit()) {
        for (const peer of this.voters) if (peer !== this.id) this.sendAppend(peer);
      } else if (pr.next <= this.log.lastIndex()) {
        this.sendAppend(m.from);
      }
    }
  }

  private handleHeartbeatResp(m: Message): void {
    if (this.role !== Role.Leader) return;
    const pr = this.progress.get(m.from);
    if (pr !== undefined && pr.match < this.log.lastIndex()) this.sendAppend(m.from);
  }

  /** Commits the highest index a quorum has, if it is of the current term (Raft §5.4.2). */
  private maybeCommit(): boolean {
    const matches = this.voters.map((v) => this.progress.get(v)?.match ?? 0).sort((a, b) => b - a);
    const quorumIndex = matches[Math.floor(this.voters.length / 2)];
    if (quorumIndex > this.log.committed && this.log.term(quorumIndex) === this.term) {
      this.log.commitTo(quorumIndex);
      return true;
    }
    return false;
  }

  // ---- follower / candidate --------------------------------------------------------------

  private handleVote(m: Message): void {
    const canVote = this.vote === m.from || (this.vote === '' && this.leader === undefined);
    const grant = canVote && this.log.isUpToDate(m.index, m.logTerm);
    if (grant) {
      this.vote = m.from;
      this.electionElapsed = 0;
    }
    this.send({ ...emptyMessage(MessageType.VoteResp, this.id, m.from, this.term), reject: !grant });
  }

  private handleVoteResp(m: Message): void {
    if (this.role !== Role.Candidate) return;
    this.votes.set(m.from, !m.reject);
    if (this.hasQuorum(this.votes)) this.becomeLeader();
    else if (this.rejectedByQuorum()) this.becomeFollower(this.term, undefined);
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

  private handleHeartbeat(m: Message): void {
    this.role = Role.Follower;
    this.leader = m.from;
    this.electionElapsed = 0;
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send(emptyMessage(MessageType.HeartbeatResp, this.id, m.from, this.term));
  }

  // ---- helpers ---------------------------------------------------------------------------

  private hasQuorum(votes: Map<MemberId, boolean>): boolean {
    let granted = 0;
    for (const v of this.voters) if (votes.get(v) === true) granted++;
    return granted > this.voters.length / 2;
  }

  private rejectedByQuorum(): boolean {
    let rejected = 0;
    for (const v of this.voters) if (this.votes.get(v) === false) rejected++;
    return rejected > this.voters.length / 2;
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
