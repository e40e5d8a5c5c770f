// How the harness reaches the members: its channel credentials (plain, or with --tls the run's CA
// and a client certificate, which the members ask for with --client-cert-auth) and, with --auth,
// who calls. The workload, the watchers and the lease clients call as `app` (read-write on every
// key); checkers and maintenance (health reads, HashKV, member changes, MoveLeader, final reads)
// as `root`. A user's simple token is got on each member by an Authenticate there and kept until
// that member refuses it (a restarted member has forgotten every token; an unused one expires):
// then the harness authenticates again and sends the call once more, as etcd's clients do. A
// refused token means the member carried nothing out, so the retry leaves a write's outcome as
// the second attempt's (its window starts at the first attempt).
import * as grpc from '@grpc/grpc-js';
import type { ClientTls } from '../helpers/server-process';
import { newClient, NotSent, tokenRefusal, unary, type Msg, type Service } from './rpc';

/** PEM contents of the run's CA and the harness's client certificate and key (--tls). */
export interface TlsPems {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  /** The same as files, for processes and probes that read them (startServer's clientTls). */
  files: ClientTls;
}

export interface UserPassword {
  user: string;
  password: string;
}

export type Who = 'app' | 'root';

/** Authenticate gets this long (bcrypt on the member, then one Raft round). */
const AUTHENTICATE_TIMEOUT_MS = 3000;

/**
 * Calls etcd checks no identity for (Status, MemberList): sent without a token, so that they
 * answer while no Authenticate can succeed (no leader) — leader lookups need them then.
 */
const UNCHECKED = new Set(['Maintenance.Status', 'Cluster.MemberList']);

/** One user's simple tokens, one per member (endpoint), each got from that member. */
export class Tokens {
  private readonly byEndpoint = new Map<string, { pending: Promise<string>; token?: string }>();
  /** Authenticate calls that returned a token. */
  authenticated = 0;

  constructor(
    readonly who: UserPassword,
    private readonly credentials: grpc.ChannelCredentials,
  ) {}

  /** The token for endpoint: the one kept, else a new Authenticate there (one at a time). */
  token(endpoint: string): Promise<string> {
    const kept = this.byEndpoint.get(endpoint);
    if (kept !== undefined) return kept.pending;
    const entry: { pending: Promise<string>; token?: string } = { pending: this.authenticate(endpoint) };
    this.byEndpoint.set(endpoint, entry);
    entry.pending.then(
      (t) => (entry.token = t),
      () => {
        if (this.byEndpoint.get(endpoint) === entry) this.byEndpoint.delete(endpoint);
      },
    );
    return entry.pending;
  }

  /** The member refused `token`: forget it, unless another caller has replaced it already. */
  refused(endpoint: string, token: string): void {
    if (this.byEndpoint.get(endpoint)?.token === token) this.byEndpoint.delete(endpoint);
  }

  private async authenticate(endpoint: string): Promise<string> {
    const c = newClient('Auth', endpoint, this.credentials);
    try {
      const r = await unary(c, 'Authenticate', { name: this.who.user, password: this.who.password }, AUTHENTICATE_TIMEOUT_MS);
      this.authenticated++;
      return String(r.token);
    } finally {
      c.close();
    }
  }
}

export interface AccessOptions {
  tls?: TlsPems;
  auth?: Record<Who, UserPassword>;
  /** Counts a harness event by kind (the report's error counts): token refusals. */
  count?: (what: string) => void;
}

export class Access {
  readonly credentials: grpc.ChannelCredentials;
  /** The scheme of the members' client and peer URLs. */
  readonly scheme: 'http' | 'https';
  readonly tls: TlsPems | undefined;
  private readonly tokens: Record<Who, Tokens> | undefined;
  /** Calls carry tokens once auth is enabled on the cluster (security.ts enableAuth). */
  private authOn = false;

  constructor(private readonly o: AccessOptions = {}) {
    this.tls = o.tls;
    this.scheme = o.tls === undefined ? 'http' : 'https';
    this.credentials = o.tls === undefined ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(o.tls.ca, o.tls.key, o.tls.cert);
    if (o.auth !== undefined) this.tokens = { app: new Tokens(o.auth.app, this.credentials), root: new Tokens(o.auth.root, this.credentials) };
  }

  get mode(): string {
    return `${this.tls !== undefined ? 'TLS' : 'plain'}${this.tokens !== undefined ? ' + auth' : ''}`;
  }

  /** Whether calls carry tokens now (auth configured and enabled on the cluster). */
  get authEnabled(): boolean {
    return this.authOn;
  }

  /** From now on every call carries its user's token (auth was just enabled on the cluster). */
  enableAuth(): void {
    if (this.tokens === undefined) throw new Error('enableAuth: the run has no --auth');
    this.authOn = true;
  }

  /** Authenticate calls made so far, by user. */
  authenticated(): Record<Who, number> | undefined {
    return this.tokens === undefined ? undefined : { app: this.tokens.app.authenticated, root: this.tokens.root.authenticated };
  }

  client(service: Service, endpoint: string, options?: grpc.ChannelOptions): grpc.Client {
    return newClient(service, endpoint, this.credentials, options);
  }

  /** `who`'s token for endpoint (undefined while auth is off); rejects with NotSent. */
  async token(who: Who, endpoint: string): Promise<string | undefined> {
    const tokens = this.authOn ? this.tokens?.[who] : undefined;
    if (tokens === undefined) return undefined;
    try {
      return await tokens.token(endpoint);
    } catch (e) {
      throw new NotSent(`authenticate as ${tokens.who.user}`, e);
    }
  }

  /** The member at endpoint refused `who`'s token for `reason`: the next call authenticates again. */
  refused(who: Who, endpoint: string, token: string, reason: string): void {
    this.tokens?.[who].refused(endpoint, token);
    this.o.count?.(`auth: ${who}'s token refused (${reason}); authenticating again`);
  }

  /**
   * Runs `call` with `who`'s token for endpoint in its metadata (none while auth is off); when the
   * member refuses the token, authenticates again and runs it once more.
   */
  async as<T>(who: Who, endpoint: string, call: (md: grpc.Metadata) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const token = await this.token(who, endpoint);
      try {
        return await call(metadata(token));
      } catch (e) {
        const reason = tokenRefusal(e);
        if (token === undefined || reason === undefined || attempt > 1) throw e;
        this.refused(who, endpoint, token, reason);
      }
    }
  }

  /** A unary call as root through a throwaway client (admin calls: faults, checks). */
  async once(service: Service, endpoint: string, method: string, req: Msg, timeoutMs = 3000): Promise<Msg> {
    const c = this.client(service, endpoint);
    try {
      if (UNCHECKED.has(`${service}.${method}`)) return await unary(c, method, req, timeoutMs);
      return await this.as('root', endpoint, (md) => unary(c, method, req, timeoutMs, md));
    } finally {
      c.close();
    }
  }
}

/** Call metadata with the token (etcd's clients send it under "token"). */
export function metadata(token: string | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  if (token !== undefined) md.set('token', token);
  return md;
}
