// The request pipeline: every client call passes here before its handler, unary and streaming,
// gRPC and (with the gateway) HTTP/JSON alike, as etcd's gRPC interceptors do. In order:
//   1. require-leader: a call that asks for a leader (metadata "hasleader: true") fails at once
//      when this member knows none; streams that asked are ended after three election timeouts
//      without one (etcd's monitorLeader), by one member-wide timer, not one per stream;
//   2. limits: request size (for transports that do not enforce it themselves) and unary calls
//      in flight;
//   3. identity: who calls (etcd's AuthInfoFromCtx), asked for by the member where etcd asks —
//      a call that checks nothing (Status, MemberList) never looks, so a stale token does not
//      fail it, as in etcd; see CallContext.authInfo;
//   4. hooks: per-method counters (what /metrics will count).
// Transport-free: callers describe the call with CallInfo; errors are EtcdErrors.
import type { AuthInfo } from '../auth/auth-store';
import { AuthErrors } from '../auth/errors';
import { tokenFromMetadata } from '../auth/token';
import { Code, EtcdError, Errors } from '../errors';

export type ServiceName = 'KV' | 'Watch' | 'Lease' | 'Cluster' | 'Maintenance' | 'Auth' | 'Lock' | 'Election';

/** What the transport knows of a call. */
export interface CallInfo {
  service: ServiceName;
  method: string;
  /** A metadata value (gRPC metadata, HTTP header) by lower-case key. */
  meta(key: string): string | undefined;
  /**
   * The Common Name of the client's verified TLS certificate, if any (etcd's AuthInfoFromTLS:
   * with --client-cert-auth and auth enabled, a call without a token runs as that user). The TLS
   * listener supplies it; transports without client certificates leave it out.
   */
  commonName?(): string | undefined;
}

/** Who a call runs as (etcd's AuthInfoFromCtx), for the member's checks. */
export interface Caller {
  /**
   * The caller's user and the auth revision it is checked at; undefined when auth is disabled
   * or the call carries no identity. Rejects with `invalid auth token` for a token that is not
   * (or no longer) valid.
   */
  authInfo(): Promise<AuthInfo | undefined>;
}

/** What a handler knows of its call once admitted. */
export interface CallContext extends Caller {
  readonly service: ServiceName;
  readonly method: string;
}

/** How a caller's identity is found (the member's auth service). */
export interface IdentitySource {
  /** Whether auth is enabled: when not, no call has an identity (etcd looks at no token then). */
  enabled(): boolean;
  /** The user a token stands for (waits until this member applied the token's Authenticate). */
  fromToken(token: string): Promise<AuthInfo | undefined>;
  /** The auth store's revision, given with a certificate's user. */
  revision(): number;
  /** --client-cert-auth: a verified certificate's CN names the user of a call without a token. */
  readonly clientCertAuth: boolean;
}

export interface PipelineHooks {
  /** A call was admitted (or refused: then `finished` follows at once). */
  started?(service: ServiceName, method: string): void;
  /** A unary call ended, or a stream closed: with its status code. */
  finished?(service: ServiceName, method: string, code: Code, elapsedMs: number): void;
}

/** What the pipeline needs of the member. */
export interface LeaderView {
  hasLeader(): boolean;
  /** Subscribes to leader changes; returns the unsubscribe function. */
  onLeaderChange(listener: (leader: string | undefined) => void): () => void;
}

export interface PipelineOptions {
  electionTimeoutMs: number;
  maxRequestBytes: number;
  /** Unary calls being served at most; more are refused with `too many requests`. */
  maxUnaryInFlight: number;
  /** Streams open at most (watch, keep-alive). */
  maxStreams: number;
  /** Who calls; absent: no call has an identity. */
  identity?: IdentitySource;
  hooks?: PipelineHooks;
}

/** etcd's metadata key by which a client asks to fail at once when there is no leader. */
const REQUIRE_LEADER_KEY = 'hasleader';
/** etcd's rpctypes.TokenFieldNameGRPC, then TokenFieldNameSwagger (the gateway's header). */
const TOKEN_KEYS = ['token', 'authorization'];
/** Set by etcd's gRPC gateway, whose own client certificate must never name the user. */
const GATEWAY_KEY = 'grpcgateway-accept';
/** etcd ends require-leader streams after this many election timeouts without a leader. */
const LEADERLESS_ELECTIONS = 3;

/** An admitted stream: closed by its transport when it ends. */
export interface StreamTicket {
  readonly context: CallContext;
  close(code?: Code): void;
}

interface OpenStream {
  info: CallInfo;
  startedMs: number;
  onLeaderLost: ((err: EtcdError) => void) | undefined;
}

export class RequestPipeline {
  private unaryInFlight = 0;
  private readonly streams = new Set<OpenStream>();
  private leaderlessTimer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly member: LeaderView,
    private readonly o: PipelineOptions,
  ) {
    this.unsubscribe = member.onLeaderChange((leader) => this.leaderChanged(leader));
  }

  /** Serves a unary call: admits it, runs the handler, reports it to the hooks. */
  unary<Req, Res>(info: CallInfo, req: Req, handler: (req: Req, ctx: CallContext) => Promise<Res>): Promise<Res> {
    // then() rather than an async function with try/finally: every client call passes here,
    // and the async form cost a promise and a suspended frame per call (allocation profile).
    const startedMs = Date.now();
    this.o.hooks?.started?.(info.service, info.method);
    const finished = (code: Code): void => this.o.hooks?.finished?.(info.service, info.method, code, Date.now() - startedMs);
    let running: Promise<Res>;
    try {
      const ctx = this.admit(info, true);
      if (this.unaryInFlight >= this.o.maxUnaryInFlight) throw Errors.tooManyRequests();
      this.unaryInFlight++;
      try {
        running = handler(req, ctx);
      } catch (err) {
        this.unaryInFlight--;
        throw err;
      }
    } catch (err) {
      finished(codeOf(err));
      return Promise.reject(err);
    }
    return running.then(
      (res) => {
        this.unaryInFlight--;
        finished(Code.OK);
        return res;
      },
      (err: unknown) => {
        this.unaryInFlight--;
        finished(codeOf(err));
        throw err;
      },
    );
  }

  /**
   * Admits a stream (throws like a unary call would). A stream that asked for a leader gets
   * `onLeaderLost` when the member has had none for three election timeouts; it must end itself
   * then. The transport calls close() when the stream ends, however it ends.
   */
  openStream(info: CallInfo, onLeaderLost: (err: EtcdError) => void): StreamTicket {
    const startedMs = Date.now();
    this.o.hooks?.started?.(info.service, info.method);
    let context: CallContext;
    try {
      context = this.admit(info, false);
      if (this.streams.size >= this.o.maxStreams) throw Errors.tooManyRequests();
    } catch (err) {
      this.o.hooks?.finished?.(info.service, info.method, err instanceof EtcdError ? err.code : Code.INTERNAL, 0);
      throw err;
    }
    const s: OpenStream = { info, startedMs, onLeaderLost: requiresLeader(info) ? onLeaderLost : undefined };
    this.streams.add(s);
    let closed = false;
    return {
      context,
      close: (code = Code.OK) => {
        if (closed) return;
        closed = true;
        this.streams.delete(s);
        this.o.hooks?.finished?.(info.service, info.method, code, Date.now() - startedMs);
      },
    };
  }

  /** For transports that do not bound received messages themselves: grpc-go's error past the limit. */
  checkRequestBytes(bytes: number): void {
    const max = this.o.maxRequestBytes;
    if (bytes > max) throw new EtcdError(Code.RESOURCE_EXHAUSTED, `grpc: received message larger than max (${bytes} vs. ${max})`);
  }

  close(): void {
    this.unsubscribe();
    if (this.leaderlessTimer !== undefined) clearTimeout(this.leaderlessTimer);
    this.leaderlessTimer = undefined;
  }

  /**
   * A unary call finds its identity once (the first check that asks), a stream at every ask: a
   * watch stream's creates are checked one by one, each with the token as it stands then.
   */
  private admit(info: CallInfo, once: boolean): CallContext {
    if (!this.member.hasLeader() && requiresLeader(info)) throw Errors.noLeader();
    let found: Promise<AuthInfo | undefined> | undefined;
    const authInfo = once ? () => (found ??= this.identify(info)) : () => this.identify(info);
    return { service: info.service, method: info.method, authInfo };
  }

  /** etcd's EtcdServer.AuthInfoFromCtx: the token's user, else (--client-cert-auth) the certificate's. */
  private identify(info: CallInfo): Promise<AuthInfo | undefined> {
    const id = this.o.identity;
    // Auth off (the common case): one shared settled promise, no async call per request.
    if (id === undefined || !id.enabled()) return NO_IDENTITY;
    return this.identifyEnabled(info, id);
  }

  private async identifyEnabled(info: CallInfo, id: IdentitySource): Promise<AuthInfo | undefined> {
    const token = tokenOf(info);
    if (token !== undefined) {
      const ai = await id.fromToken(token);
      if (ai === undefined) throw AuthErrors.invalidAuthToken();
      return ai;
    }
    if (!id.clientCertAuth || info.meta(GATEWAY_KEY) !== undefined) return undefined;
    const cn = info.commonName?.();
    return cn === undefined ? undefined : { username: cn, revision: id.revision() };
  }

  private leaderChanged(leader: string | undefined): void {
    if (leader !== undefined) {
      if (this.leaderlessTimer !== undefined) clearTimeout(this.leaderlessTimer);
      this.leaderlessTimer = undefined;
      return;
    }
    if (this.leaderlessTimer !== undefined) return;
    this.leaderlessTimer = setTimeout(() => {
      this.leaderlessTimer = undefined;
      if (this.member.hasLeader()) return;
      for (const s of [...this.streams]) s.onLeaderLost?.(Errors.noLeader());
    }, LEADERLESS_ELECTIONS * this.o.electionTimeoutMs);
    this.leaderlessTimer.unref();
  }
}

function tokenOf(info: CallInfo): string | undefined {
  for (const key of TOKEN_KEYS) {
    const v = info.meta(key);
    if (v !== undefined) return tokenFromMetadata(v);
  }
  return undefined;
}

function requiresLeader(info: CallInfo): boolean {
  return info.meta(REQUIRE_LEADER_KEY) === 'true';
}

/** The status a failed call ends with. */
function codeOf(err: unknown): Code {
  return err instanceof EtcdError ? err.code : Code.INTERNAL;
}

/** What a call runs as when auth is off. */
const NO_IDENTITY: Promise<AuthInfo | undefined> = Promise.resolve(undefined);
