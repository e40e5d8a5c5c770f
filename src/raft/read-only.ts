// The leader's bookkeeping for ReadIndex (Raft thesis §6.4): reads waiting for a quorum of
// heartbeat acks, and reads that came before this leader committed an entry of its term (until
// then its commit index may lag what earlier leaders acknowledged). Raft decides when to answer.
import { hasMajority } from './quorum';
import type { MemberId } from './types';

export interface ReadRequest {
  index: number;
  context: Buffer;
  /** Who asked: this member, or the follower to answer. */
  from: MemberId;
  acks: Set<MemberId>;
}

export function newReadRequest(context: Buffer, from: MemberId): ReadRequest {
  return { index: 0, context, from, acks: new Set() };
}

/**
 * Reads a leader holds at once. The driver batches (one ReadIndex serves every read waiting at
 * that moment), so a handful per member is normal; past this the leader refuses new ones and
 * their callers time out, instead of the queue growing while a quorum is out of reach.
 */
export const MAX_PENDING_READS = 1024;

export class ReadOnly {
  /** Waiting for a quorum of heartbeat acks, oldest first. */
  private queue: ReadRequest[] = [];
  /** Waiting for the leader's first commit of its term. */
  private waitingForCommit: ReadRequest[] = [];

  /** Leadership ended: a later leader answers reads, not this one. */
  reset(): void {
    this.queue = [];
    this.waitingForCommit = [];
  }

  /** Whether another read may wait (see MAX_PENDING_READS). */
  hasRoom(): boolean {
    return this.queue.length + this.waitingForCommit.length < MAX_PENDING_READS;
  }

  waitForCommit(req: ReadRequest): void {
    this.waitingForCommit.push(req);
  }

  /** The reads held back for the first commit of the term, now to be started again. */
  takeWaitingForCommit(): ReadRequest[] {
    const waiting = this.waitingForCommit;
    this.waitingForCommit = [];
    return waiting;
  }

  waitForAcks(req: ReadRequest): void {
    this.queue.push(req);
  }

  /**
   * A heartbeat ack carrying a read's context confirms that read and every earlier one: returns
   * the reads now confirmed by a majority of `voters`, oldest first.
   */
  ack(from: MemberId, context: Buffer, voters: readonly MemberId[]): ReadRequest[] {
    const at = this.queue.findIndex((r) => r.context.equals(context));
    if (at < 0) return [];
    const req = this.queue[at];
    req.acks.add(from);
    if (!hasMajority(voters, req.acks)) return [];
    return this.queue.splice(0, at + 1);
  }
}
