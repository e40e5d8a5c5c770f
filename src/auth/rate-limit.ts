// A brake on password guessing for Authenticate (etcd has none; bcrypt's cost is its only one).
// One token bucket per user name: an attempt takes a token (refused when none is left, before any
// password is checked), a successful one gives it back, so a user who knows the password is never
// slowed while guesses at one name run at `refillPerSec` after a burst of `burst`. Names that do
// not exist are limited alike (the refusal says nothing of whether the user exists).
// Bounded: at most `maxNames` buckets; full buckets are forgotten first (a full bucket is the same
// as none), else the least recently touched. Member-local and in memory: no Raft, no disk.
//
// Integration: in the Authenticate handler, before AuthStore.checkPassword:
//   if (!limiter.tryTake(name)) throw Errors.tooManyRequests();   // etcd's "too many requests"
//   ... on success: limiter.succeeded(name)
const DEFAULT_BURST = 10;
const DEFAULT_REFILL_PER_SEC = 1;
const DEFAULT_MAX_NAMES = 10_000;

export interface AuthRateLimitOptions {
  /** Attempts allowed at once per name (default 10). */
  burst?: number;
  /** Attempts regained per second per name (default 1). */
  refillPerSec?: number;
  /** Names tracked at most (default 10,000). */
  maxNames?: number;
  /** Monotonic clock in ms (tests inject one). */
  nowMs?: () => number;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

export class AuthRateLimiter {
  private readonly burst: number;
  private readonly refillPerMs: number;
  private readonly maxNames: number;
  private readonly nowMs: () => number;
  /** In least-recently-touched order (a touched bucket moves to the end). */
  private readonly buckets = new Map<string, Bucket>();

  constructor(o: AuthRateLimitOptions = {}) {
    this.burst = Math.max(1, o.burst ?? DEFAULT_BURST);
    this.refillPerMs = Math.max(0, o.refillPerSec ?? DEFAULT_REFILL_PER_SEC) / 1000;
    this.maxNames = Math.max(1, o.maxNames ?? DEFAULT_MAX_NAMES);
    this.nowMs = o.nowMs ?? (() => performance.now());
  }

  /** Names tracked now. */
  get size(): number {
    return this.buckets.size;
  }

  /** Takes one attempt for the name; false when it has none left (refuse the Authenticate). */
  tryTake(name: string): boolean {
    const now = this.nowMs();
    const b = this.refilled(name, now);
    if (b.tokens < 1) {
      this.touch(name, b);
      return false;
    }
    b.tokens -= 1;
    this.touch(name, b);
    return true;
  }

  /** The attempt taken for the name succeeded: it is given back. */
  succeeded(name: string): void {
    const b = this.buckets.get(name);
    if (b === undefined) return;
    b.tokens = Math.min(this.burst, b.tokens + 1);
    if (b.tokens >= this.burst) this.buckets.delete(name);
  }

  private refilled(name: string, now: number): Bucket {
    const b = this.buckets.get(name);
    if (b === undefined) return { tokens: this.burst, atMs: now };
    b.tokens = Math.min(this.burst, b.tokens + Math.max(0, now - b.atMs) * this.refillPerMs);
    b.atMs = now;
    return b;
  }

  private touch(name: string, b: Bucket): void {
    this.buckets.delete(name);
    if (b.tokens >= this.burst) return;
    this.buckets.set(name, b);
    if (this.buckets.size > this.maxNames) this.evict();
  }

  /** Forgets buckets that have refilled, else the least recently touched one. */
  private evict(): void {
    const now = this.nowMs();
    for (const [name, b] of this.buckets) {
      if (b.tokens + Math.max(0, now - b.atMs) * this.refillPerMs >= this.burst) this.buckets.delete(name);
    }
    if (this.buckets.size <= this.maxNames) return;
    const oldest = this.buckets.keys().next();
    if (oldest.done !== true) this.buckets.delete(oldest.value);
  }
}
