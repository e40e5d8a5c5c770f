// The clients of the run: each loops over random operations against a random member over real
// gRPC, with one call in flight, and records every call (history.ts Call). On an error it moves
// to another member. Keys come from a small set so that operations conflict; every written value
// is unique (c<client>-<n>). A separate compactor compacts below the reference watcher's progress.
// With --auth every call carries the token of user `app` (access.ts), got again when refused.
import * as grpc from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import type { Access } from './access';
import type { Call, Op } from './history';
import { KeepAliveStream } from './keepalive-stream';
import { sleep, type Prng } from './prng';
import { type Recorder } from './recorder';
import { bytes, Clients, definitelyFailed, errorKind, errorText, memberError, str, unary, type Msg } from './rpc';

export const KEY_COUNT = 12;
export const KEYS = Array.from({ length: KEY_COUNT }, (_, i) => `k/${String(i).padStart(2, '0')}`);

export interface WorkloadOptions {
  /** Live endpoints to choose from. */
  endpoints: () => string[];
  rec: Recorder;
  /** Target ops/s of one client. */
  ratePerClient: number;
  timeoutMs: number;
  access: Access;
}

const WRITE_TYPES = new Set<Op['type']>(['put', 'delete', 'txn', 'lease-grant', 'lease-revoke', 'lease-keepalive', 'compact']);

/** Shared by every client: one call, recorded, with its outcome classified. */
export abstract class Caller {
  endpoint = '';
  protected readonly clients: Clients;

  constructor(
    readonly id: number,
    protected readonly prng: Prng,
    protected readonly o: WorkloadOptions,
  ) {
    this.clients = new Clients(o.access.credentials);
  }

  protected switchEndpoint(): void {
    const eps = this.o.endpoints();
    if (eps.length === 0) return;
    const others = eps.filter((e) => e !== this.endpoint);
    this.endpoint = this.prng.pick(others.length > 0 ? others : eps);
  }

  protected ensureEndpoint(): boolean {
    const eps = this.o.endpoints();
    if (eps.length === 0) return false;
    if (this.endpoint === '' || !eps.includes(this.endpoint) || this.prng.chance(0.02)) this.endpoint = this.prng.pick(eps);
    return true;
  }

  /**
   * Runs fn as the call for op, with the metadata it must carry (the token as `app`, once auth is
   * on); returns the response (undefined on error, already recorded).
   */
  protected async call<T>(op: Op, fn: (ep: string, md: grpc.Metadata) => Promise<T>, toResult: (r: T) => NonNullable<Call['result']>): Promise<{ call: Call; res?: T }> {
    const ep = this.endpoint;
    const c = this.o.rec.invoke(this.id, ep, op);
    try {
      const res = await this.o.access.as('app', ep, (md) => fn(ep, md));
      this.o.rec.ok(c, toResult(res));
      return { call: c, res };
    } catch (e) {
      const write = WRITE_TYPES.has(op.type);
      this.o.rec.failed(c, !write || definitelyFailed(e) ? 'fail' : 'unknown', errorText(e), `${op.type}: ${errorKind(e)}`);
      // Answers that say nothing about the member's health keep the client where it is (a call
      // not sent for want of a token goes by why Authenticate failed there).
      if (!definitelyFailed(memberError(e))) this.switchEndpoint();
      return { call: c };
    }
  }

  protected kv(): grpc.Client {
    return this.clients.get('KV', this.endpoint);
  }

  close(): void {
    this.clients.close();
  }
}

export class WorkloadClient extends Caller {
  private n = 0;
  /** Leases this client was granted and believes alive. */
  private leases: string[] = [];
  private readonly ka = new KeepAliveStream(this.o.access.credentials);
  readonly counts: Record<string, number> = {};

  private value(): string {
    return `c${this.id}-${this.n++}`;
  }

  async run(stopped: () => boolean): Promise<void> {
    const gapMs = 1000 / this.o.ratePerClient;
    let next = performance.now();
    while (!stopped()) {
      if (!this.ensureEndpoint()) {
        await sleep(100);
        continue;
      }
      const kind = this.prng.weighted([
        ['put', 22],
        ['put-lease', 6],
        ['get', 16],
        ['get-serializable', 8],
        ['delete', 7],
        ['txn', 22],
        ['lease-grant', 5],
        ['lease-keepalive', 8],
        ['lease-revoke', 3],
      ] as const);
      this.counts[kind] = (this.counts[kind] ?? 0) + 1;
      await this.step(kind);
      // Paced to the target rate on average (a slow call is made up for, a long stall is not).
      next += this.prng.next() * 2 * gapMs;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      else if (wait < -1000) next = performance.now();
    }
    this.ka.close();
  }

  private key(): string {
    return this.prng.pick(KEYS);
  }

  private async step(kind: string): Promise<void> {
    const t = this.o.timeoutMs;
    switch (kind) {
      case 'put':
      case 'put-lease': {
        const lease = kind === 'put-lease' && this.leases.length > 0 ? this.prng.pick(this.leases) : undefined;
        const key = this.key();
        const value = this.value();
        const op: Op = lease !== undefined ? { type: 'put', key, value, lease } : { type: 'put', key, value };
        const { call } = await this.call(op, (ep, md) => unary(this.clients.get('KV', ep), 'Put', { key: bytes(key), value: bytes(value), lease: lease ?? '0' }, t, md), (r) => ({ revision: Number(r.header.revision) }));
        if (lease !== undefined && call.outcome === 'fail' && /lease not found/.test(call.error ?? '')) this.dropLease(lease);
        return;
      }
      case 'get':
      case 'get-serializable':
        await this.get(this.key(), kind === 'get-serializable');
        return;
      case 'delete': {
        const key = this.key();
        await this.call({ type: 'delete', key }, (ep, md) => unary(this.clients.get('KV', ep), 'DeleteRange', { key: bytes(key) }, t, md), (r) => ({ revision: Number(r.header.revision) }));
        return;
      }
      case 'txn': {
        // Kubernetes' optimistic update: read, then put if unchanged since the read.
        const key = this.key();
        const read = await this.get(key, this.prng.chance(0.3));
        if (read === undefined) return;
        const expectModRev = read;
        const value = this.value();
        await this.call(
          { type: 'txn', key, expectModRev, value },
          (ep, md) =>
            unary(
              this.clients.get('KV', ep),
              'Txn',
              {
                compare: [{ key: bytes(key), target: 'MOD', result: 'EQUAL', mod_revision: expectModRev }],
                success: [{ request_put: { key: bytes(key), value: bytes(value) } }],
                failure: [{ request_range: { key: bytes(key) } }],
              },
              t,
              md,
            ),
          (r) => {
            if (r.succeeded === true) return { revision: Number(r.header.revision), succeeded: true };
            const kvs = ((r.responses as Msg[])[0]?.response_range?.kvs as Msg[] | undefined) ?? [];
            return { revision: Number(r.header.revision), succeeded: false, value: kvs.length > 0 ? str(kvs[0].value) : null, modRevision: kvs.length > 0 ? Number(kvs[0].mod_revision) : 0 };
          },
        );
        return;
      }
      case 'lease-grant': {
        if (this.leases.length >= 3) return this.step('lease-revoke');
        const ttl = this.prng.pick([2, 3, 4, 6]);
        const { res } = await this.call({ type: 'lease-grant', ttl }, (ep, md) => unary(this.clients.get('Lease', ep), 'LeaseGrant', { TTL: ttl, ID: 0 }, t, md), (r) => ({ revision: Number(r.header.revision), lease: String(r.ID), ttl: Number(r.TTL) }));
        if (res !== undefined) this.leases.push(String(res.ID));
        return;
      }
      case 'lease-revoke': {
        if (this.leases.length === 0) return this.step('lease-grant');
        const lease = this.prng.pick(this.leases);
        const { call } = await this.call({ type: 'lease-revoke', lease }, (ep, md) => unary(this.clients.get('Lease', ep), 'LeaseRevoke', { ID: lease }, t, md), (r) => ({ revision: Number(r.header.revision) }));
        if (call.outcome !== 'unknown') this.dropLease(lease);
        return;
      }
      case 'lease-keepalive': {
        if (this.leases.length === 0) return this.step('lease-grant');
        const lease = this.prng.pick(this.leases);
        const { res } = await this.call({ type: 'lease-keepalive', lease }, (ep, md) => this.ka.renew(ep, lease, t, md), (r) => ({ revision: Number(r.header?.revision ?? 0), ttl: Number(r.TTL) }));
        if (res !== undefined && Number(res.TTL) <= 0) this.dropLease(lease);
        return;
      }
      default:
        throw new Error(`unknown op kind ${kind}`);
    }
  }

  /** A recorded get; returns the key's mod revision (0: absent), undefined on error. */
  private async get(key: string, serializable: boolean): Promise<number | undefined> {
    const { res } = await this.call(
      { type: 'get', key, serializable },
      (ep, md) => unary(this.clients.get('KV', ep), 'Range', { key: bytes(key), serializable }, this.o.timeoutMs, md),
      (r) => {
        const kvs = (r.kvs as Msg[]) ?? [];
        return { revision: Number(r.header.revision), value: kvs.length > 0 ? str(kvs[0].value) : null, modRevision: kvs.length > 0 ? Number(kvs[0].mod_revision) : 0 };
      },
    );
    if (res === undefined) return undefined;
    const kvs = (res.kvs as Msg[]) ?? [];
    return kvs.length > 0 ? Number(kvs[0].mod_revision) : 0;
  }

  private dropLease(lease: string): void {
    this.leases = this.leases.filter((l) => l !== lease);
  }

  override close(): void {
    this.ka.close();
    super.close();
  }
}

/** Compacts now and then, only below what the reference watcher has received. */
export class Compactor extends Caller {
  lastCompacted = 0;

  async run(stopped: () => boolean, refRev: () => number, everyMs: [number, number]): Promise<void> {
    while (!stopped()) {
      await sleep(this.prng.int(everyMs[0], everyMs[1]));
      if (stopped()) break;
      // A margin below the reference watcher (and the resumed watchers that lag it).
      const target = refRev() - this.prng.int(5, 60);
      if (target <= this.lastCompacted + 5 || !this.ensureEndpoint()) continue;
      const physical = this.prng.chance(0.5);
      const { call } = await this.call({ type: 'compact', revision: target }, (ep, md) => unary(this.clients.get('KV', ep), 'Compact', { revision: target, physical }, this.o.timeoutMs, md), (r) => ({ revision: Number(r.header.revision) }));
      if (call.outcome !== 'unknown' || /compacted/.test(call.error ?? '')) this.lastCompacted = Math.max(this.lastCompacted, target);
    }
  }
}

/** Revokes the leases left at the end (recorded calls, as a client of its own). */
export class Janitor extends Caller {
  async revoke(lease: string): Promise<Call> {
    this.ensureEndpoint();
    const { call } = await this.call({ type: 'lease-revoke', lease }, (ep, md) => unary(this.clients.get('Lease', ep), 'LeaseRevoke', { ID: lease }, this.o.timeoutMs, md), (r) => ({ revision: Number(r.header.revision) }));
    return call;
  }
}
