// The Lease service's member side: grants and revokes go through Raft; renewals and
// time-to-live are the leader's (only it knows expiry times), so other members forward them; and
// the leader's expiry loop proposes a revoke for each expired lease, a bounded number per tick
// so that thousands expiring together never stall writes.
import type { Logger } from 'pino';
import { Errors } from '../errors';
import { MAX_LEASE_TTL_SEC, type Lessor } from './lessor';
import type { TimeToLiveAnswer } from '../etcdserver/forwarder';
import type { Caller } from '../etcdserver/pipeline';
import type { LeaseGrantRequest, LeaseGrantResponse, LeaseRevokeRequest, LeaseRevokeResponse } from '../pb/types';

export interface LeaseServiceDeps {
  lessor: Lessor;
  /** Proposes a grant or revoke through Raft as the caller; resolves once it is applied here. */
  proposeGrant: (req: LeaseGrantRequest, caller: Caller) => Promise<LeaseGrantResponse>;
  proposeRevoke: (req: LeaseRevokeRequest, caller: Caller) => Promise<LeaseRevokeResponse>;
  /**
   * Who the expiry of a lease revokes as: root when auth is enabled (etcd's WithRoot), so the
   * auth layer never refuses an expiry, whatever keys the lease holds.
   */
  expiryCaller: Caller;
  /** Renewals and time-to-live are the leader's: other members hand them over. */
  forwardRenew: (id: bigint) => Promise<number>;
  forwardTimeToLive: (id: bigint, keys: boolean) => Promise<TimeToLiveAnswer>;
  /** Whether this member leads and has applied everything committed when it took over. */
  isReadyLeader: () => boolean;
  isLeader: () => boolean;
  /** Resolves when leadership or the applied index moves, or after ms at most. */
  progress: (ms: number) => Promise<void>;
  /**
   * Resolves true once this member has applied everything it had committed when called; false
   * after ms.
   */
  appliedCommitted: (ms: number) => Promise<boolean>;
  /** Resolves when leadership moves, or after ms at most. */
  leaderChange: (ms: number) => Promise<void>;
  memberId: bigint;
  electionTimeoutMs: number;
  log: Logger;
}

/** How often the leader looks for expired leases (etcd: 500 ms). */
const EXPIRY_CHECK_MS = 500;
/** Revokes proposed per second at most (etcd's leaseRevokeRate). */
const REVOKES_PER_SECOND = 1000;
/** A revoke that has not taken effect by then is proposed again (etcd: 3 s). */
const REVOKE_RETRY_MS = 3000;
/** How long a lease lookup on the leader waits for the leader to apply what it committed (etcd's applyTimeout). */
const APPLY_WAIT_MS = 1000;

export class LeaseService {
  private readonly timer: NodeJS.Timeout;
  private nextId: bigint;
  private closed = false;

  constructor(private readonly d: LeaseServiceDeps) {
    // etcd's request-ID scheme: the member's ID in the high bits, a counter below, kept positive.
    this.nextId = ((d.memberId & 0xffffn) << 47n) | (BigInt(Date.now()) & ((1n << 40n) - 1n)) << 7n;
    this.timer = setInterval(() => this.tick(), EXPIRY_CHECK_MS);
    this.timer.unref();
    void this.followLeadership();
  }

  grant(req: LeaseGrantRequest, caller: Caller): Promise<LeaseGrantResponse> {
    const ttl = Number(req.TTL);
    if (ttl > MAX_LEASE_TTL_SEC) return Promise.reject(Errors.leaseTTLTooLarge());
    const id = BigInt(req.ID);
    const chosen = id !== 0n ? id : this.newId();
    return this.d.proposeGrant({ ID: chosen.toString(), TTL: ttl }, caller);
  }

  revoke(id: bigint, caller: Caller): Promise<LeaseRevokeResponse> {
    return this.d.proposeRevoke({ ID: id.toString() }, caller);
  }

  /** A keep-alive: the lease's TTL, or 0 when it does not exist (any more). */
  async renew(id: bigint): Promise<number> {
    if (!this.d.isLeader()) return this.d.forwardRenew(id);
    return this.renewHere(id);
  }

  async timeToLive(id: bigint, keys: boolean): Promise<TimeToLiveAnswer> {
    if (!this.d.isLeader()) return this.d.forwardTimeToLive(id, keys);
    return this.timeToLiveHere(id, keys);
  }

  /**
   * The leader's side of a renewal (also for renewals forwarded by other members). A lease it
   * does not know may be one granted through a follower that has applied the grant before the
   * leader did: the leader applies what it committed before it answers "not found" (etcd).
   */
  async renewHere(id: bigint): Promise<number> {
    await this.untilReady();
    let ttl = this.d.lessor.renew(id);
    if (ttl < 0) {
      await this.untilApplied();
      ttl = this.d.lessor.renew(id);
    }
    return Math.max(0, ttl);
  }

  /**
   * The leader's answer, once it has applied what it committed: a grant or a put with the lease
   * that a follower acknowledged is then part of it (etcd's waitAppliedIndex).
   */
  async timeToLiveHere(id: bigint, keys: boolean): Promise<TimeToLiveAnswer> {
    await this.untilReady();
    await this.untilApplied();
    const t = this.d.lessor.timeToLive(id, keys);
    if (t === undefined) return { ID: id.toString(), TTL: -1, grantedTTL: 0, keys: [] };
    return { ID: id.toString(), TTL: t.ttl, grantedTTL: t.grantedTtl, keys: t.keys.map((k) => k.toString('base64')) };
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
  }

  private newId(): bigint {
    this.nextId = (this.nextId + 1n) & ((1n << 63n) - 1n);
    if (this.nextId === 0n) this.nextId = 1n;
    return this.nextId;
  }

  private async untilApplied(): Promise<void> {
    if (!(await this.d.appliedCommitted(APPLY_WAIT_MS))) throw Errors.timeoutWaitAppliedIndex();
  }

  /**
   * A new leader must apply what its predecessor committed (revokes among it) before it answers
   * for leases; the lessor is promoted by tick() once that holds.
   */
  private async untilReady(): Promise<void> {
    const deadline = Date.now() + this.d.electionTimeoutMs * 2;
    while (!this.d.lessor.isPrimary()) {
      if (!this.d.isLeader()) throw Errors.notLeader();
      if (Date.now() > deadline) throw Errors.timeout();
      this.tick();
      if (this.d.lessor.isPrimary()) break;
      // Applying the predecessor's entries (or losing leadership) is what can change the answer.
      await this.d.progress(deadline - Date.now());
    }
  }

  /**
   * Promotes or demotes the lessor as soon as leadership or the applied index moves (etcd does it
   * when the raft loop sees the change), so that a grant applied by a new leader already has its
   * expiry (LeaseLeases' order, TimeToLive), not only at the next expiry tick.
   */
  private async followLeadership(): Promise<void> {
    while (!this.closed) {
      this.syncLeadership();
      // In step (primary exactly while leading), only a leader change can undo that; waking on
      // every applied index too cost a timer, a promise and two listeners per applied batch.
      // Out of step (a new leader still applying its predecessor's entries), any applied index
      // may settle it.
      const inStep = this.d.lessor.isPrimary() === this.d.isLeader();
      await (inStep ? this.d.leaderChange(EXPIRY_CHECK_MS) : this.d.progress(EXPIRY_CHECK_MS)).catch(() => undefined);
    }
  }

  private syncLeadership(): void {
    const { lessor } = this.d;
    if (lessor.isPrimary() && !this.d.isLeader()) lessor.demote();
    if (!lessor.isPrimary() && this.d.isReadyLeader()) {
      // As etcd: every lease gets its full TTL again plus an election timeout, so none expires
      // merely because leadership moved.
      lessor.promote(this.d.electionTimeoutMs);
      this.d.log.info({ leases: lessor.ids().length }, 'lessor promoted: this member expires leases now');
    }
  }

  /** Proposes revokes for expired leases (leadership followed on the way). */
  private tick(): void {
    const { lessor } = this.d;
    this.syncLeadership();
    if (!lessor.isPrimary()) return;
    const batch = lessor.expired(Math.ceil((REVOKES_PER_SECOND * EXPIRY_CHECK_MS) / 1000));
    for (const id of batch) {
      lessor.postpone(id, REVOKE_RETRY_MS);
      this.revoke(id, this.d.expiryCaller).catch((err: unknown) => {
        // Not found means it is gone already; anything else is retried after the postponement.
        if (!(err instanceof Error && err.message === Errors.leaseNotFound().message)) this.d.log.warn({ lease: id.toString(), err: err instanceof Error ? err.message : String(err) }, 'revoking an expired lease failed');
      });
    }
  }
}
