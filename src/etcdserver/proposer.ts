// The way into Raft for a request (etcd's processInternalRaftRequestOnce): checks that the member
// can take it (stopped, apply lag, a leader to take it, the request size as etcd counts it), puts
// the caller's user and auth revision in the entry's header (the apply chain's auth layer checks
// them on every member), registers its waiter and hands the entry to raft. Results come back
// typed through Proposals.
import { encodeEntryData, etcdEntryBytes } from '../apply/entry-codec';
import type { Applied } from '../apply/applied';
import { Errors } from '../errors';
import { encodeMemberChange, type MemberChange } from '../membership/member-change';
import type { MemberInfo } from '../membership/membership';
import type { InternalRequest } from '../pb/types';
import { ProposalDroppedError } from '../raft/raft';
import type { RaftNode } from '../raftnode/node';
import type { Caller } from './pipeline';
import type { Proposals } from './proposals';
import type { Signal } from './signal';

/** etcd refuses proposals while apply lags commit by more than this (maxGapBetweenApplyAndCommitIndex). */
const MAX_APPLY_LAG_ENTRIES = 5000;

export interface ProposerDeps {
  node: RaftNode;
  proposals: Proposals;
  selfId: bigint;
  maxRequestBytes: number;
  requestTimeoutMs: number;
  /** The next leader change (shared by every waiting proposal). */
  leaderChange: Signal;
  stopped: () => boolean;
  /** Raft dropped a proposal (etcd_server_proposals_failed_total). */
  onDropped?: () => void;
}

export class Proposer {
  constructor(private readonly d: ProposerDeps) {}

  /**
   * Proposes a request through Raft; resolves with what `pick` takes of its apply result. The
   * caller's identity goes in the header (none: the member's own requests, and Authenticate).
   */
  propose<T>(request: InternalRequest, pick: (a: Applied) => T | undefined, caller?: Caller): Promise<T> {
    // Promise steps only where one is needed (every write passes here): no async function.
    const { node } = this.d;
    if (this.d.stopped()) return Promise.reject(Errors.stopped());
    // As etcd: a member whose apply lags far behind commit takes no more until it catches up.
    if (node.committedIndex() > node.appliedIndex() + MAX_APPLY_LAG_ENTRIES) return Promise.reject(Errors.tooManyRequests());
    if (caller === undefined) return this.withLeader(request, pick);
    return caller.authInfo().then((ai) => this.withLeader(ai === undefined ? request : { ...request, header: { username: ai.username, auth_revision: ai.revision } }, pick));
  }

  private withLeader<T>(req: InternalRequest, pick: (a: Applied) => T | undefined): Promise<T> {
    if (this.d.node.leader() === undefined) return this.leaderToPropose().then(() => this.submit(req, pick));
    return this.submit(req, pick);
  }

  private submit<T>(req: InternalRequest, pick: (a: Applied) => T | undefined): Promise<T> {
    const { node, selfId } = this.d;
    return this.d.proposals.propose(
      req,
      (id) => {
        const data = encodeEntryData(selfId, id, req);
        if (etcdEntryBytes(data, selfId, req.header) > this.d.maxRequestBytes) throw Errors.requestTooLarge();
        this.toRaft(() => node.propose(data));
        return data.length;
      },
      pick,
    );
  }

  async proposeMemberChange(change: MemberChange): Promise<MemberInfo[]> {
    const { node, selfId } = this.d;
    if (node.leader() === undefined) await this.leaderToPropose();
    return this.d.proposals.propose(
      {},
      (id) => {
        const data = encodeMemberChange(selfId, id, change);
        this.toRaft(() => node.proposeConfChange(data));
        return data.length;
      },
      (a) => (a.kind === 'member_change' ? a.members : undefined),
    );
  }

  /**
   * As etcd's raft, which takes proposals only while some member leads: a proposal made without
   * a leader waits for one (an election is usually under way), up to the request timeout, then
   * gets etcd 3.4's answer (its context's error). Bounded by the signal's waiters.
   */
  private async leaderToPropose(): Promise<void> {
    const deadline = Date.now() + this.d.requestTimeoutMs;
    while (this.d.node.leader() === undefined) {
      if (this.d.stopped()) throw Errors.stopped();
      const left = deadline - Date.now();
      if (left <= 0) throw Errors.contextDeadline();
      await this.d.leaderChange.next(left);
    }
  }

  /** Raft drops a proposal when no leader can take it, or its uncommitted log is full. */
  private toRaft(propose: () => void): void {
    try {
      propose();
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err;
      this.d.onDropped?.();
      throw this.d.node.leader() === undefined ? Errors.noLeader() : Errors.timeout();
    }
  }
}
