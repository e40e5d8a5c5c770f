// Lease stress traffic, as etcd's functional tester makes it: clients grant short leases (2-5 s),
// put keys attached to them (l/<client>/<lease seq>/<j>), and then keep some alive over
// LeaseKeepAlive for a while, revoke some, and leave the others to expire. Every call is recorded
// like the workload's (the checkers model leases: a lease's keys go in one revision, by its revoke
// or its expiry), and each client tracks its leases (TrackedLease) so that lease-audit.ts can tell
// when a lease's keys must be gone. Paced to a rate; at most LIVE_MAX leases in play per client
// and TRACKED_MAX remembered.
import { performance } from 'node:perf_hooks';
import { KeepAliveStream } from './keepalive-stream';
import { sleep } from './prng';
import { bytes, str, unary, type Msg } from './rpc';
import { Caller } from './workload';

export const LEASE_KEY_PREFIX = 'l/';

const LIVE_MAX = 8;
const TRACKED_MAX = 5000;
const TTLS_SEC = [2, 3, 4, 5];
/**
 * A keep-alive without an answer may still renew the lease later: it can sit in a forward to the
 * leader (10 s deadline) behind a slow link. Past this, it can no longer take effect.
 */
const UNKNOWN_RENEWAL_MS = 20_000;

export interface TrackedLease {
  id: string;
  /** The larger of the TTL asked for and the TTL granted (the server raises it to its minimum). */
  ttlSec: number;
  /** Keys put with it (acknowledged or unknown outcome). */
  keys: Set<string>;
  /** No renewal took effect after this (monotonic ms): the grant's or a keep-alive's answer. */
  renewedByMs: number;
  /** Its revoke was acknowledged then: its keys are gone for any read after. */
  revokedMs?: number;
  /** Nothing will renew it again: it must expire (or a revoke of unknown outcome removed it). */
  abandoned: boolean;
}

interface Plan {
  lease: TrackedLease;
  keysToPut: number;
  /** keepalive: renew until untilMs, then revoke or abandon; revoke: at untilMs; expire: never renewed. */
  fate: 'keepalive' | 'revoke' | 'expire';
  untilMs: number;
  nextRenewMs: number;
  nextKey: number;
}

export class LeaseStressClient extends Caller {
  private n = 0;
  private seq = 0;
  private live: Plan[] = [];
  private readonly ka = new KeepAliveStream(this.o.access.credentials);
  /** Leases whose keys the audit has yet to see gone, oldest first. */
  tracked: TrackedLease[] = [];
  /** Leases dropped from `tracked` unaudited (the bound was reached). */
  untracked = 0;

  async run(stopped: () => boolean, ratePerSec: number): Promise<void> {
    const gapMs = 1000 / ratePerSec;
    let next = performance.now();
    while (!stopped()) {
      if (!this.ensureEndpoint()) {
        await sleep(100);
        continue;
      }
      await this.step(performance.now());
      next += this.prng.next() * 2 * gapMs;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      else if (wait < -1000) next = performance.now();
    }
    // What is left in play is left to expire.
    for (const p of this.live) p.lease.abandoned = true;
    this.live = [];
    this.ka.close();
  }

  /** Drops leases the audit saw without keys after their deadline. */
  forget(done: Set<TrackedLease>): void {
    if (done.size > 0) this.tracked = this.tracked.filter((l) => !done.has(l));
  }

  /** The most urgent thing to do: renewals, revokes and key puts that are due, then new leases. */
  private async step(t: number): Promise<void> {
    const renew = this.live.find((p) => p.fate === 'keepalive' && t >= p.nextRenewMs);
    if (renew !== undefined) {
      if (t < renew.untilMs) return this.keepAlive(renew);
      if (this.prng.chance(0.5)) renew.fate = 'revoke';
      else return this.abandon(renew);
    }
    const revoke = this.live.find((p) => p.fate === 'revoke' && t >= p.untilMs);
    if (revoke !== undefined) return this.revoke(revoke);
    const put = this.live.find((p) => p.keysToPut > 0);
    if (put !== undefined) return this.put(put);
    if (this.live.length < LIVE_MAX) return this.grant();
    // Nothing due: another key on a lease in play, or a read of one.
    const p = this.prng.pick(this.live);
    if (this.prng.chance(0.5) && p.lease.keys.size < 6) return this.put(p);
    return this.get(this.prng.pick([...p.lease.keys, `${LEASE_KEY_PREFIX}${this.id}/none`]));
  }

  private async grant(): Promise<void> {
    const ttl = this.prng.pick(TTLS_SEC);
    const { call, res } = await this.call({ type: 'lease-grant', ttl }, (ep, md) => unary(this.clients.get('Lease', ep), 'LeaseGrant', { TTL: ttl, ID: 0 }, this.o.timeoutMs, md), (r) => ({ revision: Number(r.header.revision), lease: String(r.ID), ttl: Number(r.TTL) }));
    if (res === undefined || call.completeMs === undefined) return; // unknown: its ID is not known, it is never used
    const lease: TrackedLease = { id: String(res.ID), ttlSec: Math.max(ttl, Number(res.TTL)), keys: new Set(), renewedByMs: call.completeMs, abandoned: false };
    this.track(lease);
    const fate = this.prng.weighted([
      ['keepalive', 4],
      ['revoke', 3],
      ['expire', 3],
    ] as const);
    const ttlMs = lease.ttlSec * 1000;
    const untilMs = fate === 'keepalive' ? call.completeMs + ttlMs * (1 + this.prng.next() * 2) : fate === 'revoke' ? call.completeMs + ttlMs * (0.2 + this.prng.next() * 0.6) : 0;
    const plan: Plan = { lease, keysToPut: this.prng.int(1, 3), fate, untilMs, nextRenewMs: call.completeMs + ttlMs / 3, nextKey: 0 };
    this.live.push(plan);
  }

  private async put(p: Plan): Promise<void> {
    const key = `${LEASE_KEY_PREFIX}${this.id}/${this.seq++}/${p.nextKey++}`;
    const value = `l${this.id}-${this.n++}`;
    p.keysToPut = Math.max(0, p.keysToPut - 1);
    p.lease.keys.add(key);
    const { call } = await this.call({ type: 'put', key, value, lease: p.lease.id }, (ep, md) => unary(this.clients.get('KV', ep), 'Put', { key: bytes(key), value: bytes(value), lease: p.lease.id }, this.o.timeoutMs, md), (r) => ({ revision: Number(r.header.revision) }));
    if (call.outcome === 'fail' && /lease not found/.test(call.error ?? '')) this.abandon(p);
    // An expire-fated lease is left alone once its keys are in.
    else if (p.fate === 'expire' && p.keysToPut === 0) this.abandon(p);
  }

  private async keepAlive(p: Plan): Promise<void> {
    const l = p.lease;
    const { call, res } = await this.call({ type: 'lease-keepalive', lease: l.id }, (ep, md) => this.ka.renew(ep, l.id, this.o.timeoutMs, md), (r) => ({ revision: Number(r.header?.revision ?? 0), ttl: Number(r.TTL) }));
    if (res !== undefined && call.completeMs !== undefined) {
      if (Number(res.TTL) <= 0) return this.abandon(p); // already expired
      l.renewedByMs = Math.max(l.renewedByMs, call.completeMs);
      p.nextRenewMs = call.completeMs + (l.ttlSec * 1000) / 3;
    } else {
      l.renewedByMs = Math.max(l.renewedByMs, call.invokeMs + UNKNOWN_RENEWAL_MS);
      p.nextRenewMs = performance.now() + 200;
    }
  }

  private async revoke(p: Plan): Promise<void> {
    const l = p.lease;
    const { call } = await this.call({ type: 'lease-revoke', lease: l.id }, (ep, md) => unary(this.clients.get('Lease', ep), 'LeaseRevoke', { ID: l.id }, this.o.timeoutMs, md), (r) => ({ revision: Number(r.header.revision) }));
    if (call.outcome === 'ok') l.revokedMs = call.completeMs;
    // Failed (not found: it expired) or unknown (then it expires unless the revoke took effect).
    this.abandon(p);
  }

  private async get(key: string): Promise<void> {
    const serializable = this.prng.chance(0.3);
    await this.call(
      { type: 'get', key, serializable },
      (ep, md) => unary(this.clients.get('KV', ep), 'Range', { key: bytes(key), serializable }, this.o.timeoutMs, md),
      (r) => {
        const kvs = (r.kvs as Msg[]) ?? [];
        return { revision: Number(r.header.revision), value: kvs.length > 0 ? str(kvs[0].value) : null, modRevision: kvs.length > 0 ? Number(kvs[0].mod_revision) : 0 };
      },
    );
  }

  private abandon(p: Plan): void {
    p.lease.abandoned = true;
    this.live = this.live.filter((x) => x !== p);
  }

  private track(l: TrackedLease): void {
    this.tracked.push(l);
    if (this.tracked.length > TRACKED_MAX) {
      this.tracked.shift();
      this.untracked++;
    }
  }

  override close(): void {
    this.ka.close();
    super.close();
  }
}
