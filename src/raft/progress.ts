// The leader's view of one follower's log (etcd-io/raft's Progress) and the flow-control state
// machine over it. Raft decides when to send and what; this only says whether it may, and how the
// follower's answers move `match` and `next`.

/** Unanswered appends allowed in `replicate`: bounds what a slow follower can have queued. */
export const MAX_INFLIGHT = 256;
/**
 * And the entry bytes they may carry between them (etcd-io/raft's MaxInflightBytes; at least one
 * append always goes). An append carries everything proposed since the last one, up to
 * MaxSizePerMsg, so the count alone would let a stopped follower have 256 MB queued toward it.
 */
export const MAX_INFLIGHT_BYTES = 4 * 1024 * 1024;
/** A snapshot unanswered for this many election timeouts is sent again. */
export const SNAPSHOT_TIMEOUT_ELECTIONS = 10;

/**
 * probe: one append at a time, waiting for the answer (or a heartbeat reply) to find where the
 * logs agree. replicate: appends stream ahead of the acks. snapshot: a snapshot is on its way;
 * wait for the follower's answer (or a timeout).
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  state: ProgressState = 'probe';
  /** Snapshot: ticks since it was sent. */
  snapshotElapsed = 0;
  /** Snapshot: the index of the snapshot on its way. */
  pendingSnapshot = 0;
  /** Probe: an append is out and unanswered. */
  paused = false;
  /**
   * Probe: heartbeats sent since the probe went out. A heartbeat's answer resumes probing only
   * if that heartbeat may have followed the probe: answers to older heartbeats, arriving in a
   * burst from a follower that was paused, would each send the same probe again (hundreds of
   * copies of up to 1024 entries each, seen after a SIGSTOP of a follower).
   */
  heartbeatsSinceProbe = 0;
  /** Replicate: the last index of each unanswered append, oldest first. */
  inflight: number[] = [];
  /** Replicate: the entry bytes of each unanswered append (as inflight), and their sum. */
  private inflightSizes: number[] = [];
  private inflightBytes = 0;

  constructor(public next: number) {}

  /** Whether an append may go out now (a snapshot in flight, a pending probe or a full pipeline say no). */
  canSendAppend(): boolean {
    if (this.state === 'snapshot') return false;
    return this.state === 'probe' ? !this.paused : !this.pipelineFull();
  }

  private pipelineFull(): boolean {
    return this.inflight.length >= MAX_INFLIGHT || this.inflightBytes >= MAX_INFLIGHT_BYTES;
  }

  private dropPipeline(): void {
    this.inflight = [];
    this.inflightSizes = [];
    this.inflightBytes = 0;
  }

  /** An append went out; `last` is the index of its last entry (undefined when it carried none), `bytes` its entries' size. */
  sentAppend(last: number | undefined, bytes = 0): void {
    if (this.state === 'probe') {
      this.paused = true;
      this.heartbeatsSinceProbe = 0;
    } else if (last !== undefined) {
      // Optimistic: the next append carries what follows, without waiting for this one's answer.
      this.next = last + 1;
      this.inflight.push(last);
      this.inflightSizes.push(bytes);
      this.inflightBytes += bytes;
    }
  }

  /** A snapshot went out instead of entries the follower needs but the log no longer holds. */
  becomeSnapshot(index: number): void {
    this.state = 'snapshot';
    this.snapshotElapsed = 0;
    this.pendingSnapshot = index;
    this.dropPipeline();
  }

  /**
   * The driver says how the snapshot's transfer ended. Either way probing resumes, paused until
   * the follower answers (its append response, or a heartbeat's): on success from past the
   * snapshot, on failure from what is known to match, to send it again.
   */
  snapshotDone(ok: boolean): void {
    if (this.state !== 'snapshot') return;
    const next = ok ? Math.max(this.match, this.pendingSnapshot) + 1 : this.match + 1;
    this.becomeProbe();
    this.next = next;
    this.paused = true;
    // Any answer from the follower after the transfer resumes probing.
    this.heartbeatsSinceProbe = 1;
  }

  /** Restarts probing from what is known to match, dropping the pipeline. */
  becomeProbe(): void {
    this.state = 'probe';
    this.dropPipeline();
    this.next = this.match + 1;
  }

  /** A leader tick: a snapshot unanswered for `timeoutTicks` is taken as lost. */
  tickSnapshot(timeoutTicks: number): void {
    if (this.state !== 'snapshot') return;
    if (++this.snapshotElapsed >= timeoutTicks) {
      this.state = 'probe'; // lost on the way: try again
      this.paused = false;
    }
  }

  /**
   * Any answer to an append or snapshot, before it is judged an accept or a reject (which decide
   * whether probing resumes: a stale answer must not send the probe again).
   */
  onAppendResp(index: number): void {
    if (this.state === 'snapshot') {
      // The follower answered: with the snapshot installed, or at least from where it stands.
      this.state = 'probe';
      this.paused = false;
      this.next = Math.max(this.match, index) + 1;
    }
  }

  /** The leader sent a heartbeat to this follower. */
  onHeartbeatSent(): void {
    this.heartbeatsSinceProbe++;
  }

  /**
   * The follower's log does not hold `index` at the term sent; `hint` is its last index at or
   * below it. Returns false when the rejection is stale and nothing changed.
   */
  onReject(index: number, hint: number): boolean {
    // A rejection of an index at or below what the follower already matched is stale (an older
    // probe answered late): acting on it would send `next` below `match` for good.
    if (index <= this.match) return false;
    if (this.state === 'replicate') {
      // The stream broke (a lost or reordered append): go back to probing from the match.
      this.becomeProbe();
    } else {
      // Only the answer to the probe out now counts (etcd-io/raft's MaybeDecrTo): the rejection
      // of an older append says nothing new.
      if (index !== this.next - 1) return false;
      this.next = Math.max(this.match + 1, Math.min(this.next - 1, hint + 1));
    }
    this.paused = false;
    return true;
  }

  /** The follower's log matches up to `index`. Returns whether `match` advanced. */
  onAccept(index: number): boolean {
    if (this.state === 'probe') {
      // Where the logs agree is found: stream from here on.
      this.state = 'replicate';
      this.paused = false;
      this.dropPipeline();
      this.next = Math.max(this.match, index) + 1;
    } else {
      while (this.inflight.length > 0 && this.inflight[0] <= index) this.freeOldest();
      this.next = Math.max(this.next, index + 1);
    }
    if (index <= this.match) return false;
    this.match = index;
    return true;
  }

  /**
   * The follower is alive: a probe lost on the way may go again, and a full pipeline lets one
   * more append go (etcd-io/raft frees its oldest slot). That append carries what follows the
   * ones in flight: a follower that is only slow to answer is sent nothing twice, and one whose
   * appends were lost rejects it (its log has a gap), which restarts probing from `match`.
   * Restarting the probe here instead would send again, each heartbeat, entries the follower
   * holds already, to a follower that is behind because it is busy.
   */
  onHeartbeatResp(): void {
    if (this.heartbeatsSinceProbe > 0) this.paused = false;
    if (this.state === 'replicate' && this.pipelineFull()) this.freeOldest();
  }

  private freeOldest(): void {
    this.inflight.shift();
    this.inflightBytes -= this.inflightSizes.shift() ?? 0;
  }
}
