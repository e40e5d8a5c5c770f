// Requests only the leader can serve (learner promotion, lease renewals and time-to-live: only
// the leader knows a learner's progress and the leases' deadlines), handed to the leader over the
// peer transport as a typed table of operations, and the one question a member asks a given peer
// (its HashKV, for the corruption checks). Each operation names its request and answer and parses
// both off the wire, so neither side casts what it received.
import type { Logger } from 'pino';
import { EtcdError, Errors } from '../errors';
import type { Member } from '../pb/types';
import type { PeerHashAnswer } from './corrupt-check';

export interface TimeToLiveAnswer {
  ID: string;
  TTL: number;
  grantedTTL: number;
  /** Keys as base64. */
  keys: string[];
}

/** Each forwarded operation: its request and its answer. */
export interface ForwardedOps {
  promote: { req: { id: string }; res: Member[] };
  'lease-renew': { req: { id: string }; res: number };
  'lease-ttl': { req: { id: string; keys: boolean }; res: TimeToLiveAnswer };
  hashkv: { req: { revision: number }; res: PeerHashAnswer };
}
export type ForwardOp = keyof ForwardedOps;
type Req<K extends ForwardOp> = ForwardedOps[K]['req'];
type Res<K extends ForwardOp> = ForwardedOps[K]['res'];

/** The leader's side: serves each operation here. */
export type ForwardHandlers = { [K in ForwardOp]: (req: Req<K>) => Promise<Res<K>> };

type Codecs = { [K in ForwardOp]: { req: (v: unknown) => Req<K>; res: (v: unknown) => Res<K> } };

const codecs: Codecs = {
  promote: { req: (v) => ({ id: str(field(v, 'id')) }), res: (v) => list(v).map(member) },
  'lease-renew': { req: (v) => ({ id: str(field(v, 'id')) }), res: (v) => num(v) },
  'lease-ttl': {
    req: (v) => ({ id: str(field(v, 'id')), keys: field(v, 'keys') === true }),
    res: (v) => ({ ID: str(field(v, 'ID')), TTL: num(field(v, 'TTL')), grantedTTL: num(field(v, 'grantedTTL')), keys: list(field(v, 'keys')).map(str) }),
  },
  hashkv: {
    req: (v) => ({ revision: num(field(v, 'revision')) }),
    res: (v) => ({ member: str(field(v, 'member')), revision: num(field(v, 'revision')), hash: num(field(v, 'hash')), compacted: num(field(v, 'compacted')) }),
  },
};

const isOp = (op: string): op is ForwardOp => Object.prototype.hasOwnProperty.call(codecs, op);

export interface ForwarderDeps {
  selfId: string;
  handlers: ForwardHandlers;
  /** The leader as raft knows it (decimal ID), if any. */
  leader: () => string | undefined;
  peerUrls: (id: string) => string[] | undefined;
  send: (urls: string[], op: string, body: string, timeoutMs: number) => Promise<{ status: number; body: string }>;
  /** Resolves at the next leader change, or after ms at most. */
  leaderChange: (ms: number) => Promise<void>;
  stopped: () => boolean;
  requestTimeoutMs: number;
  electionTimeoutMs: number;
  log: Logger;
}

/** A failed attempt at an unreachable leader is tried again after this long, if leadership stays. */
const RETRY_MS = 100;

export class Forwarder {
  constructor(private readonly d: ForwarderDeps) {}

  /**
   * Hands the request to the leader, retrying through leader changes until it answers or the
   * request times out (etcd's loop for promotions and lease renewals). The leader's errors come
   * back as they are.
   */
  async call<K extends ForwardOp>(op: K, req: Req<K>): Promise<Res<K>> {
    const deadline = Date.now() + this.d.requestTimeoutMs;
    const notLeader = Errors.notLeader().message;
    for (;;) {
      const lead = this.d.leader();
      if (lead === this.d.selfId) {
        // Leadership came here while the request waited: serve it here (as etcd, which forwards
        // to whichever member leads, itself included).
        try {
          return await this.d.handlers[op](req);
        } catch (err) {
          if (!(err instanceof EtcdError) || err.message !== notLeader) throw err;
        }
      }
      const urls = lead === undefined || lead === this.d.selfId ? undefined : this.d.peerUrls(lead);
      if (urls !== undefined) {
        try {
          // A leader that stopped answering must not hold the request past a new election.
          const attemptMs = Math.max(100, Math.min(deadline - Date.now(), 2 * this.d.electionTimeoutMs + 1000));
          const { status, body } = await this.d.send(urls, op, JSON.stringify(req), attemptMs);
          const answer: unknown = JSON.parse(body);
          if (status === 200) return codecs[op].res(answer);
          const message = optional(answer, 'message');
          if (typeof message === 'string' && message !== notLeader) {
            const code = optional(answer, 'code');
            throw new EtcdError(typeof code === 'number' ? code : 2, message);
          }
        } catch (err) {
          if (err instanceof EtcdError) throw err;
          this.d.log.debug({ op, err: err instanceof Error ? err.message : String(err) }, 'forwarding to the leader failed; retrying');
        }
      }
      if (this.d.stopped()) throw Errors.stopped();
      const left = deadline - Date.now();
      if (left <= 0) throw lead === undefined ? Errors.noLeader() : Errors.timeout();
      // Without a leader, wait for one; with one that did not answer, try again shortly.
      await this.d.leaderChange(lead === undefined ? left : Math.min(left, RETRY_MS));
    }
  }

  /** Asks the member `id` once (no retries, no leader involved); its errors come back as they are. */
  async ask<K extends ForwardOp>(id: string, op: K, req: Req<K>, timeoutMs: number): Promise<Res<K>> {
    const urls = this.d.peerUrls(id);
    if (urls === undefined) throw new Error(`member ${id} is not in the cluster`);
    const { status, body } = await this.d.send(urls, op, JSON.stringify(req), timeoutMs);
    const answer: unknown = JSON.parse(body);
    if (status === 200) return codecs[op].res(answer);
    const message = optional(answer, 'message');
    const code = optional(answer, 'code');
    throw typeof message === 'string' ? new EtcdError(typeof code === 'number' ? code : 2, message) : new Error(`member ${id} answered ${status}`);
  }

  /** Serves an operation another member sent here (the leader's operations believing this member leads). */
  async serve(op: string, body: string): Promise<{ status: number; body: string }> {
    if (!isOp(op)) return { status: 404, body: '{}' };
    try {
      return { status: 200, body: JSON.stringify(await this.serveOp(op, JSON.parse(body))) };
    } catch (err) {
      const e = err instanceof EtcdError ? err : Errors.timeout();
      return { status: 409, body: JSON.stringify({ code: e.code, message: e.message }) };
    }
  }

  private serveOp<K extends ForwardOp>(op: K, body: unknown): Promise<Res<K>> {
    const handler: (req: Req<K>) => Promise<Res<K>> = this.d.handlers[op];
    return handler(codecs[op].req(body));
  }
}

function optional(v: unknown, name: string): unknown {
  return typeof v === 'object' && v !== null ? Object.getOwnPropertyDescriptor(v, name)?.value : undefined;
}

function field(v: unknown, name: string): unknown {
  const x = optional(v, name);
  if (x === undefined) throw new Error(`forwarded message without ${name}`);
  return x;
}

function str(v: unknown): string {
  if (typeof v !== 'string') throw new Error('forwarded message: not a string');
  return v;
}

function num(v: unknown): number {
  if (typeof v !== 'number') throw new Error('forwarded message: not a number');
  return v;
}

function list(v: unknown): unknown[] {
  if (!Array.isArray(v)) throw new Error('forwarded message: not a list');
  return v;
}

function member(v: unknown): Member {
  return {
    ID: str(field(v, 'ID')),
    name: str(field(v, 'name')),
    peerURLs: list(field(v, 'peerURLs')).map(str),
    clientURLs: list(field(v, 'clientURLs')).map(str),
    isLearner: field(v, 'isLearner') === true,
  };
}
