// etcd's corruption checks: members whose MVCC histories diverged are caught by comparing HashKV,
// which covers every revision between the compacted one and the hashed one.
// - Initial (--experimental-initial-corrupt-check): a restarted member asks its peers for HashKV at
//   its own revision before it serves clients, and refuses to start on a mismatch.
// - Periodic (--experimental-corrupt-check-time): the leader compares its hash with every
//   follower's at the same revision and raises the CORRUPT alarm through Raft on a mismatch (from
//   then on every member refuses writes with `etcdserver: corrupt cluster`).
// As etcd 3.5, a hash only counts as a mismatch when both sides hashed from the same compacted
// revision; a peer that is behind or ahead is logged and skipped.
import type { Logger } from 'pino';
import { EtcdError, Errors } from '../errors';

export interface HashAt {
  hash: number;
  revision: number;
  compacted: number;
}

/** A peer's HashKV answer (etcd's HashKVResponse as the peer endpoint returns it). */
export interface PeerHashAnswer {
  member: string;
  revision: number;
  hash: number;
  compacted: number;
}

export interface CorruptCheckDeps {
  /** This member's ID, decimal. */
  selfId: string;
  /** This member's HashKV at revision (0 = current); throws etcd's compacted / future errors. */
  hashKV: (revision: number) => Promise<HashAt>;
  /** The other members' IDs, decimal. */
  peers: () => string[];
  /** A peer's HashKV at revision; throws the peer's error (an EtcdError) or a transport error. */
  askPeer: (id: string, revision: number) => Promise<PeerHashAnswer>;
  /** Resolves once this member has applied what the leader had committed when it was called. */
  readBarrier: () => Promise<void>;
  /** Raises CORRUPT through Raft (for member 0, as etcd 3.5 does: the alarm is the cluster's). */
  raiseCorrupt: () => Promise<void>;
  isLeader: () => boolean;
  log: Logger;
}

interface PeerResult {
  id: string;
  answer?: PeerHashAnswer;
  err?: unknown;
}

export class CorruptionChecker {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(private readonly d: CorruptCheckDeps) {}

  /** etcd's InitialCheck: throws `<id> found data inconsistency with peers` on a mismatch. */
  async initialCheck(timeoutMs: number): Promise<void> {
    const self = hexId(this.d.selfId);
    this.d.log.info({ 'local-member-id': self, timeout: `${timeoutMs}ms` }, 'starting initial corruption check');
    let local: HashAt;
    try {
      local = await this.d.hashKV(0);
    } catch (err) {
      throw new Error(`${self} failed to fetch hash (${message(err)})`);
    }
    let mismatches = 0;
    for (const p of await this.askPeers(local.revision)) {
      const fields = {
        'local-member-id': self,
        'local-member-revision': local.revision,
        'local-member-compact-revision': local.compacted,
        'local-member-hash': local.hash,
        'remote-peer-id': hexId(p.id),
      };
      if (p.answer !== undefined) {
        const remote = { 'remote-peer-revision': p.answer.revision, 'remote-peer-compact-revision': p.answer.compacted, 'remote-peer-hash': p.answer.hash };
        if (p.answer.hash === local.hash) continue;
        if (p.answer.compacted === local.compacted) {
          this.d.log.warn({ ...fields, ...remote }, 'found different hash values from remote peer');
          mismatches++;
        } else {
          this.d.log.warn({ ...fields, ...remote }, 'found different compact revision values from remote peer');
        }
      } else if (isError(p.err, Errors.futureRev())) {
        this.d.log.warn({ ...fields, error: message(p.err) }, 'cannot fetch hash from slow remote peer');
      } else if (isError(p.err, Errors.compacted())) {
        this.d.log.warn({ ...fields, error: message(p.err) }, 'cannot fetch hash from remote peer; local member is behind');
      }
    }
    if (mismatches > 0) throw new Error(`${self} found data inconsistency with peers`);
    this.d.log.info({ 'local-member-id': self }, 'initial corruption checking passed; no corruption');
  }

  /** etcd's PeriodicCheck, run by the leader: raises CORRUPT once if any member's history differs. */
  async periodicCheck(): Promise<void> {
    const first = await this.d.hashKV(0);
    const peers = await this.askPeers(first.revision);
    await this.d.readBarrier();
    const second = await this.d.hashKV(0);
    let alarmed = false;
    const mismatch = (fields: object, msg: string): void => {
      this.d.log.warn(fields, msg);
      if (alarmed) return;
      alarmed = true;
      this.d.raiseCorrupt().catch((err: unknown) => this.d.log.warn({ error: message(err) }, 'raising the CORRUPT alarm failed'));
    };
    // The leader's own history changed under the same revision: its store is not what it wrote.
    if (second.hash !== first.hash && second.revision === first.revision && second.compacted === first.compacted) {
      mismatch({ 'revision-1': first.revision, 'compact-revision-1': first.compacted, 'hash-1': first.hash, 'revision-2': second.revision, 'compact-revision-2': second.compacted, 'hash-2': second.hash }, 'found hash mismatch');
    }
    let checked = 0;
    for (const p of peers) {
      const a = p.answer;
      if (a === undefined) continue;
      checked++;
      const peer = hexId(p.id);
      if (a.revision > second.revision) {
        mismatch({ 'leader-revision': second.revision, 'follower-revision': a.revision, 'follower-peer-id': peer }, "revision from follower must be less than or equal to leader's");
      }
      if (a.compacted > second.compacted) {
        mismatch({ 'leader-compact-revision': second.compacted, 'follower-compact-revision': a.compacted, 'follower-peer-id': peer }, "compact revision from follower must be less than or equal to leader's");
      }
      if (a.compacted === first.compacted && a.hash !== first.hash) {
        mismatch({ 'leader-compact-revision': second.compacted, 'leader-hash': first.hash, 'follower-compact-revision': a.compacted, 'follower-hash': a.hash, 'follower-peer-id': peer }, 'same compact revision then hashes must match');
      }
    }
    this.d.log.info({ 'number-of-peers-checked': checked }, 'finished peer corruption check');
  }

  /** Runs the periodic check every intervalMs while this member leads (etcd's monitorKVHash). */
  start(intervalMs: number): void {
    if (intervalMs <= 0 || this.timer !== undefined) return;
    this.d.log.info({ 'local-member-id': hexId(this.d.selfId), interval: `${intervalMs}ms` }, 'enabled corruption checking');
    this.timer = setInterval(() => {
      // One check at a time: a slow peer must not pile checks up.
      if (this.running || !this.d.isLeader()) return;
      this.running = true;
      this.periodicCheck()
        .catch((err: unknown) => this.d.log.warn({ error: message(err) }, 'failed to check hash KV'))
        .finally(() => (this.running = false));
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private askPeers(revision: number): Promise<PeerResult[]> {
    return Promise.all(
      this.d.peers().map((id) =>
        this.d.askPeer(id, revision).then(
          (answer): PeerResult => ({ id, answer }),
          (err: unknown): PeerResult => {
            this.d.log.warn({ 'local-member-id': hexId(this.d.selfId), 'requested-revision': revision, 'remote-peer-id': hexId(id), error: message(err) }, 'failed hash kv request');
            return { id, err };
          },
        ),
      ),
    );
  }
}

function hexId(decimal: string): string {
  return BigInt(decimal).toString(16);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isError(err: unknown, like: EtcdError): boolean {
  return err instanceof EtcdError && err.message === like.message;
}
