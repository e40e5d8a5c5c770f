// Auth tokens: the --auth-token option (etcd's NewTokenProvider, decomposeOpts) and the
// provider contract the member uses (etcd's TokenProvider).
//   --auth-token simple                  (default) simple-token.ts: random, member-local, TTL
//                                        --auth-token-ttl seconds (default 300), renewed by use
//   --auth-token jwt,pub-key=P,priv-key=K,sign-method=RS256,ttl=5m
//                                        jwt-token.ts: signed, verified by every member
//   --auth-token ""                      no tokens (etcd's nop provider: Authenticate fails)
//
// Integration (where etcd calls what):
// - start-up: createTokenProvider(flag, {ttlSec: --auth-token-ttl, waitApplied}); an
//   AuthConfigError stops the member. Hand the provider to the AuthStore as its listener.
// - Authenticate, before proposing: genTokenPrefix() goes in the proposal (etcd's
//   InternalAuthenticateRequest.simple_token).
// - apply of Authenticate, on every member, in apply order: info = authStore.authenticate(name);
//   token = provider.assign(info, {index: entry index, prefix}). Simple tokens are registered
//   synchronously inside assign (so every member knows them); the proposer answers with the
//   promise's value.
// - every request carrying a token (gRPC metadata "token" or "authorization", a "Bearer " prefix
//   dropped): info(token, authStore.revision()) -> AuthInfo, or undefined -> invalidAuthToken.
import { AuthConfigError, AuthConfigMessages, AuthErrors } from './errors';
import type { AuthInfo, AuthStoreListener } from './auth-store';
import { SimpleTokenProvider, type SimpleTokenOptions } from './simple-token';
import { JwtTokenProvider } from './jwt-token';

/** Where an Authenticate entry was applied, for the simple token's text. */
export interface AssignContext {
  /** The Raft index of the Authenticate entry. */
  index: number;
  /** The proposer's genTokenPrefix(). */
  prefix: string;
}

export interface TokenProvider extends AuthStoreListener {
  readonly type: 'simple' | 'jwt' | 'none';
  /** The random part of a simple token, chosen before proposing ('' for the others). */
  genTokenPrefix(): string;
  /** A token for the user at this auth revision (see the header for when to call it). */
  assign(info: AuthInfo, at: AssignContext): Promise<string>;
  /** Who a token stands for; `revision` is the store's current one (simple tokens carry none). */
  info(token: string, revision: number): Promise<AuthInfo | undefined>;
  /** Releases timers and keys. */
  close(): void;
}

export type AuthTokenOption = { type: 'simple' } | { type: 'none' } | { type: 'jwt'; options: Map<string, string> };

/** etcd's decomposeOpts + the type switch: "type[,name=value]...". */
export function parseAuthTokenOption(opt: string): AuthTokenOption {
  const parts = opt.split(',');
  const options = new Map<string, string>();
  for (const p of parts.slice(1)) {
    const pair = p.split('=');
    if (pair.length !== 2 || options.has(pair[0])) throw new AuthConfigError(AuthConfigMessages.invalidAuthOpts);
    options.set(pair[0], pair[1]);
  }
  switch (parts[0]) {
    case 'simple':
      return { type: 'simple' };
    case 'jwt':
      return { type: 'jwt', options };
    case '':
      return { type: 'none' };
    default:
      throw new AuthConfigError(AuthConfigMessages.invalidAuthOpts);
  }
}

export interface TokenProviderOptions extends Omit<SimpleTokenOptions, 'ttlMs'> {
  /** --auth-token-ttl in seconds (simple tokens only; 0 or less: 300). */
  ttlSec?: number;
  /** Reads a key file (tests); node's readFileSync by default. */
  readFile?: (path: string) => Buffer;
  /** Wall clock in ms for JWT expiry (tests). */
  wallClockMs?: () => number;
}

/** The provider for an --auth-token value; AuthConfigError when the value is bad. */
export async function createTokenProvider(opt: string, o: TokenProviderOptions = {}): Promise<TokenProvider> {
  const parsed = parseAuthTokenOption(opt);
  switch (parsed.type) {
    case 'simple':
      return new SimpleTokenProvider({ ...o, ttlMs: (o.ttlSec ?? 0) * 1000 });
    case 'jwt':
      return JwtTokenProvider.create(parsed.options, { readFile: o.readFile, nowMs: o.wallClockMs });
    case 'none':
      return new NopTokenProvider();
  }
}

/**
 * The same, built at once: the member makes its provider in its constructor (a bad option stops
 * it there, as etcd's NewServer), jose loads in the background for a JWT provider.
 */
export function newTokenProvider(opt: string, o: TokenProviderOptions = {}): TokenProvider {
  const parsed = parseAuthTokenOption(opt);
  switch (parsed.type) {
    case 'simple':
      return new SimpleTokenProvider({ ...o, ttlMs: (o.ttlSec ?? 0) * 1000 });
    case 'jwt':
      return JwtTokenProvider.createNow(parsed.options, { readFile: o.readFile, nowMs: o.wallClockMs });
    case 'none':
      return new NopTokenProvider();
  }
}

/** etcd's tokenNop (--auth-token ""): no token is ever valid or given. */
export class NopTokenProvider implements TokenProvider {
  readonly type = 'none';
  genTokenPrefix(): string {
    return '';
  }
  assign(_info: AuthInfo, _at: AssignContext): Promise<string> {
    return Promise.reject(AuthErrors.authFailed());
  }
  info(_token: string, _revision: number): Promise<AuthInfo | undefined> {
    return Promise.resolve(undefined);
  }
  enable(): void {}
  disable(): void {}
  invalidateUser(): void {}
  close(): void {}
}

/** The token a request carries in its metadata value: etcd drops a "Bearer " prefix. */
export function tokenFromMetadata(value: string): string {
  return value.startsWith('Bearer ') ? value.slice('Bearer '.length) : value;
}
