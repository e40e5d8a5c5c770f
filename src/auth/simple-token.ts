// etcd's simple tokens (server/auth/simple_token.go): "<16 random letters>.<raft index>". The
// proposer picks the letters, every member registers the token when it applies the Authenticate
// entry at that index, so any member accepts it once it has applied that far (a member behind
// waits for the index first: waitApplied). Tokens live in memory only, valid for the TTL
// (--auth-token-ttl, default 300 s) from their last use; the user's tokens go when it is deleted
// or its password changes, all of them when auth is disabled (enable() starts afresh).
//
// No timer: the tokens sit in a Map in expiry order (a token used is moved to the end, and the
// TTL is the same for all), so expired ones are dropped from the front whenever tokens are
// assigned or looked up. At most `maxTokens` are kept (default 100,000; past it the least
// recently used goes; its client gets "invalid auth token" and authenticates again).
import { randomInt } from 'node:crypto';
import type { AuthInfo } from './auth-store';
import type { AssignContext, TokenProvider } from './token';

export const SIMPLE_TOKEN_TTL_DEFAULT_MS = 300_000;
const SIMPLE_TOKEN_LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const SIMPLE_TOKEN_PREFIX_LENGTH = 16;
const MAX_TOKENS_DEFAULT = 100_000;

export interface SimpleTokenOptions {
  /** A token's life from its last use; 0 or less: 300 s (etcd's default). */
  ttlMs?: number;
  /** Monotonic clock in ms (tests inject one). */
  nowMs?: () => number;
  maxTokens?: number;
  /**
   * Resolves once this member has applied `index` (etcd's indexWaiter); absent: not waited for.
   * The caller bounds the wait (request deadline); a rejection means the token is not valid.
   */
  waitApplied?: (index: number) => Promise<void> | void;
}

interface Entry {
  username: string;
  expiresAtMs: number;
}

export class SimpleTokenProvider implements TokenProvider {
  readonly type = 'simple';
  readonly ttlMs: number;
  private readonly nowMs: () => number;
  private readonly maxTokens: number;
  private readonly waitApplied?: (index: number) => Promise<void> | void;
  /** token -> entry, in expiry order; undefined while auth is disabled (etcd's keeper == nil). */
  private tokens: Map<string, Entry> | undefined;

  constructor(o: SimpleTokenOptions = {}) {
    this.ttlMs = o.ttlMs !== undefined && o.ttlMs > 0 ? o.ttlMs : SIMPLE_TOKEN_TTL_DEFAULT_MS;
    this.nowMs = o.nowMs ?? (() => performance.now());
    this.maxTokens = Math.max(1, o.maxTokens ?? MAX_TOKENS_DEFAULT);
    this.waitApplied = o.waitApplied;
  }

  /** How many tokens are held now (expired ones included until the next sweep). */
  get size(): number {
    return this.tokens?.size ?? 0;
  }

  genTokenPrefix(): string {
    let s = '';
    for (let i = 0; i < SIMPLE_TOKEN_PREFIX_LENGTH; i++) s += SIMPLE_TOKEN_LETTERS[randomInt(SIMPLE_TOKEN_LETTERS.length)];
    return s;
  }

  /** Registers "<prefix>.<index>" for the user at once (apply order); the promise only carries it. */
  assign(info: AuthInfo, at: AssignContext): Promise<string> {
    const token = `${at.prefix}.${at.index}`;
    const tokens = this.tokens;
    if (tokens !== undefined) {
      const now = this.nowMs();
      this.sweep(now);
      tokens.delete(token);
      tokens.set(token, { username: info.username, expiresAtMs: now + this.ttlMs });
      while (tokens.size > this.maxTokens) {
        const oldest = tokens.keys().next();
        if (oldest.done === true) break;
        tokens.delete(oldest.value);
      }
    }
    return Promise.resolve(token);
  }

  /** The token's user at the store's current revision; using a token renews its TTL. */
  async info(token: string, revision: number): Promise<AuthInfo | undefined> {
    const index = tokenIndex(token);
    if (index === undefined) return undefined;
    if (this.waitApplied !== undefined) {
      try {
        await this.waitApplied(index);
      } catch {
        return undefined;
      }
    }
    const tokens = this.tokens;
    if (tokens === undefined) return undefined;
    const now = this.nowMs();
    this.sweep(now);
    const e = tokens.get(token);
    if (e === undefined) return undefined;
    tokens.delete(token);
    e.expiresAtMs = now + this.ttlMs;
    tokens.set(token, e);
    return { username: e.username, revision };
  }

  invalidateUser(username: string): void {
    const tokens = this.tokens;
    if (tokens === undefined) return;
    for (const [t, e] of tokens) if (e.username === username) tokens.delete(t);
  }

  enable(): void {
    this.tokens ??= new Map();
  }

  /** Every token stops working. */
  disable(): void {
    this.tokens = undefined;
  }

  close(): void {
    this.tokens = undefined;
  }

  /** Drops expired tokens from the front (the Map is in expiry order). */
  private sweep(now: number): void {
    const tokens = this.tokens;
    if (tokens === undefined) return;
    for (const [t, e] of tokens) {
      if (e.expiresAtMs >= now) break;
      tokens.delete(t);
    }
  }
}

/** The index of "<letters>.<index>" as etcd reads it (one dot, a decimal uint64), or undefined. */
export function tokenIndex(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 2 || !/^[0-9]+$/.test(parts[1])) return undefined;
  const index = BigInt(parts[1]);
  if (index > 0xffff_ffff_ffff_ffffn) return undefined;
  return Number(index);
}
