// Proposals in flight and their waiters (etcd's wait.Wait): each proposal gets a request ID that
// travels in its Raft entry; when this member applies the entry, the result goes to the waiter
// that proposed it. The caller says which kind of result it expects (`pick`), so a put() resolves
// a PutResponse without a cast. Bounded: past the limits a proposal is refused with etcd's
// `too many requests` instead of growing memory while raft cannot commit.
import { EtcdError, Errors } from '../errors';
import type { Applied, ApplyResult } from '../apply/applied';
import type { InternalRequest } from '../pb/types';

interface Waiter {
  /** The request as proposed: the applier uses it instead of decoding the entry again. */
  req: InternalRequest;
  settle: (result: ApplyResult) => void;
  fail: (err: Error) => void;
  /** When the proposal is given up on (a forwarded one can be lost with a leader change). */
  deadline: number;
  bytes: number;
}

export interface ProposalLimits {
  timeoutMs: number;
  /** Proposals waiting for their apply result at most. */
  maxInFlight: number;
  /** Their entries' bytes at most. */
  maxInFlightBytes: number;
  /** A proposal timed out waiting for its apply (etcd_server_proposals_failed_total). */
  onTimeout?: () => void;
}

/** How often expired proposals are looked for. */
const SWEEP_MS = 500;

export class Proposals {
  private readonly waiters = new Map<bigint, Waiter>();
  private nextId = 1n;
  private bytesInFlight = 0;
  private readonly sweeper: NodeJS.Timeout;
  private closedWith: Error | undefined;

  constructor(private readonly limits: ProposalLimits) {
    this.sweeper = setInterval(() => this.expire(), SWEEP_MS);
    this.sweeper.unref();
  }

  /**
   * Registers a waiter and hands the proposal to raft through `submit`, which gets the request
   * ID and returns the bytes it proposed (or throws: then nothing waits). `pick` takes the
   * expected result out of what was applied.
   */
  propose<T>(req: InternalRequest, submit: (id: bigint) => number, pick: (a: Applied) => T | undefined): Promise<T> {
    if (this.closedWith !== undefined) return Promise.reject(this.closedWith);
    if (this.waiters.size >= this.limits.maxInFlight || this.bytesInFlight >= this.limits.maxInFlightBytes) {
      return Promise.reject(Errors.tooManyRequests());
    }
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        req,
        deadline: Date.now() + this.limits.timeoutMs,
        bytes: 0,
        fail: reject,
        settle: (result) => {
          if (!result.ok) return reject(result.error);
          const picked = pick(result.applied);
          if (picked === undefined) reject(new Error(`proposal ${id} applied as ${result.applied.kind}, which its caller did not expect`));
          else resolve(picked);
        },
      };
      this.waiters.set(id, waiter);
      try {
        waiter.bytes = submit(id);
        this.bytesInFlight += waiter.bytes;
      } catch (err) {
        this.waiters.delete(id);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** Proposals waiting for their apply result (etcd_server_proposals_pending). */
  get pending(): number {
    return this.waiters.size;
  }

  /** The request proposed as `id` by this member, while it waits. */
  request(id: bigint): InternalRequest | undefined {
    return this.waiters.get(id)?.req;
  }

  /** Results of this member's proposals, once their transaction is on disk. */
  deliver(results: Map<bigint, ApplyResult>): void {
    for (const [id, result] of results) {
      const w = this.take(id);
      if (w === undefined) continue;
      w.settle(result);
      forget(w);
    }
  }

  /** Fails every waiter and refuses new proposals (the member is stopping). */
  close(err: EtcdError): void {
    this.closedWith = err;
    clearInterval(this.sweeper);
    for (const id of [...this.waiters.keys()]) {
      const w = this.take(id);
      if (w === undefined) continue;
      w.fail(err);
      forget(w);
    }
  }

  private take(id: bigint): Waiter | undefined {
    const w = this.waiters.get(id);
    if (w === undefined) return undefined;
    this.waiters.delete(id);
    this.bytesInFlight -= w.bytes;
    return w;
  }

  private expire(): void {
    if (this.waiters.size === 0) return;
    const now = Date.now();
    for (const [id, w] of this.waiters) {
      if (w.deadline > now) continue;
      this.take(id);
      this.limits.onTimeout?.();
      w.fail(Errors.timeout());
      forget(w);
    }
  }
}

const done = (): void => undefined;

/**
 * Drops what a settled waiter points to. A waiter that lived through two minor GCs sits in the old
 * generation, where the scavenger takes its fields as roots until the next full GC: its request
 * and closures, and through them the next requests' objects, were promoted in a chain (at put
 * with 50 clients, ~2.4 MB per scavenge, scavenges of 5-10 ms, a full GC every ~0.6 s).
 */
function forget(w: Waiter): void {
  w.settle = done;
  w.fail = done;
  w.req = NO_REQUEST;
}

const NO_REQUEST: InternalRequest = {};
