// One etcd-ts member: wires the backend, MVCC store, applier and Raft node together and serves
// what api/ asks of it (EtcdServerApi). Proposals wait here for their apply results.
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Applier, type ApplyResult } from '../apply/applier';
import { encodeEntryData, etcdEntryBytes } from '../apply/entry-codec';
import { mvccCall, range as applyRange } from '../apply/range';
import { txn as applyTxn } from '../apply/txn';
import type { EtcdServerApi, MemberStatus } from '../api/server-api';
import { Backend } from '../backend/backend';
import { EtcdError, Errors } from '../errors';
import { MvccStore } from '../mvcc/store';
import type { InternalRequest, Member, RangeRequest, RangeResponse, ResponseHeader, TxnRequest, TxnResponse } from '../pb/types';
import { ProposalDroppedError } from '../raft/raft';
import { MessageType, type Message } from '../raft/types';
import { RaftNode } from '../raftnode/node';
import type { ServerConfig } from '../server/config';
import { Membership } from '../membership/membership';
import { encodeMemberChange, type MemberChange } from '../membership/member-change';
import { MemberAdmin, toPbMember } from '../membership/member-admin';
import { ReadBarrier } from './read-barrier';
import { SnapshotTransfer } from './snapshot-transfer';
import { WatchableStore } from '../watch/watchable-store';
import { Lessor } from '../lease/lessor';
import { LeaseService, type TimeToLiveAnswer } from '../lease/lease-service';
import { PeerTransport } from '../peer/transport';
import { ETCD_VERSION } from '../server/version';

interface Waiter {
  req: InternalRequest;
  resolve: (response: object) => void;
  reject: (err: Error) => void;
  /** When the proposal is given up on (a forwarded one can be lost with a leader change). */
  deadline: number;
}

/** How often expired proposals are looked for. */
const PROPOSAL_SWEEP_MS = 500;

export class EtcdServer implements EtcdServerApi {
  readonly maxRequestBytes: number;
  readonly maxTxnOps: number;
  readonly membership: Membership;
  readonly watchable: WatchableStore;
  private readonly lessor: Lessor;
  private readonly leaseService: LeaseService;
  private readonly backend: Backend;
  private readonly mvcc: MvccStore;
  private readonly node: RaftNode;
  private readonly waiters = new Map<bigint, Waiter>();
  private nextRequestId = 1n;
  private readonly readBarrier: ReadBarrier;
  private readonly transport: PeerTransport;
  private readonly requestTimeoutMs: number;
  private readonly sweeper: NodeJS.Timeout;
  private readonly applier: Applier;
  private readonly admin: MemberAdmin;
  private readonly clusterIdText: string;
  private readonly memberIdText: string;
  private stopped = false;

  constructor(private readonly config: ServerConfig, private readonly log: Logger, onFatal: (err: Error) => void, joinRecord?: string) {
    this.maxRequestBytes = config.maxRequestBytes;
    this.maxTxnOps = config.maxTxnOps;
    this.backend = new Backend({ dir: join(config.dataDir, 'member', 'lmdb') });
    this.membership = new Membership(this.backend, config, joinRecord);
    this.mvcc = new MvccStore(this.backend);
    this.watchable = new WatchableStore(this.mvcc, log, config.watchProgressNotifyIntervalMs);
    // etcd's shortest lease: 1.5 election timeouts, in whole seconds rounded up.
    this.lessor = new Lessor(this.backend, Math.ceil((1.5 * config.electionTimeoutMs) / 1000));
    this.clusterIdText = this.membership.clusterId.toString();
    this.memberIdText = this.membership.selfId.toString();
    const selfId = this.membership.selfId;
    const applier = (this.applier = new Applier({
      backend: this.backend,
      mvcc: this.mvcc,
      memberId: selfId,
      leases: this.lessor,
      localRequest: (id) => this.waiters.get(id)?.req,
      deliver: (results) => this.deliver(results),
      notify: (events, revision) => this.watchable.notify(events, revision),
      members: this.membership,
    }));
    // etcd's request timeout: long enough to ride out an election.
    this.requestTimeoutMs = 5000 + 2 * config.electionTimeoutMs;
    const snapshots = new SnapshotTransfer({
      backend: this.backend,
      mvcc: this.mvcc,
      applier,
      membership: this.membership,
      lessor: this.lessor,
      node: () => this.node,
      transport: () => this.transport,
      onInstalled: () => this.watchable.restore(),
      log,
    });
    // Peers are reached through the transport; it listens once the cluster has another member.
    const transport = (this.transport = new PeerTransport({
      clusterId: this.clusterIdText,
      selfId: this.memberIdText,
      listenUrls: config.listenPeerUrls,
      onMessage: (m) => this.node.step(m),
      onSnapshot: (m, path) => snapshots.install(m, path),
      snapshotDir: SnapshotTransfer.spoolDir(config.dataDir),
      membersJson: () => this.membership.storedJson(),
      onForward: (op, body) => this.serveForwarded(op, body),
      electionTimeoutMs: config.electionTimeoutMs,
      log,
    }));
    this.membership.onChange(() => {
      this.syncPeers();
      if (this.membership.find(this.membership.selfId) === undefined) {
        // As etcd: a removed member stops. After the transaction that removed it is on disk.
        setImmediate(() => onFatal(new Error('the member has been permanently removed from the cluster')));
      }
    });
    this.admin = new MemberAdmin({
      membership: this.membership,
      clusterId: this.clusterIdText,
      leaderProgress: (id) => (this.node.isLeader() ? { match: this.node.raft.matchOf(id) ?? 0, committed: this.node.committedIndex() } : undefined),
      propose: (change) => this.proposeMemberChange(change),
      forwardPromote: async (id) => (await this.forwardToLeader<{ members: Member[] }>('promote', { id })).members,
    });
    this.readBarrier = new ReadBarrier(
      { readIndex: (ctx) => this.node.readIndex(ctx), appliedIndex: () => this.node.appliedIndex() },
      this.requestTimeoutMs,
    );
    this.node = new RaftNode({
      send: (messages) => {
        const rest: Message[] = [];
        for (const m of messages) {
          if (m.type === MessageType.Snap) snapshots.send(m);
          else rest.push(m);
        }
        if (rest.length > 0) transport.send(rest);
      },
      onReadStates: (states) => {
        for (const st of states) this.readBarrier.onReadState(st.index, st.context);
      },
      onApplied: (index) => this.readBarrier.onApplied(index),
      backend: this.backend,
      id: selfId.toString(),
      voters: this.membership.voterIds().map(String),
      learners: this.membership.learnerIds().map(String),
      applier,
      tickMs: config.heartbeatIntervalMs,
      electionTicks: Math.max(1, Math.round(config.electionTimeoutMs / config.heartbeatIntervalMs)),
      preVote: config.preVote,
      logRetainEntries: Math.min(config.snapshotCount, 10_000),
      onFatal,
      log,
    });
    this.leaseService = new LeaseService({
      lessor: this.lessor,
      propose: (req) => this.propose(req),
      forwardToLeader: (op, payload) => this.forwardToLeader(op, payload),
      isLeader: () => this.node.isLeader(),
      isReadyLeader: () => this.node.isLeader() && this.node.appliedIndex() >= this.node.committedIndex(),
      memberId: selfId,
      electionTimeoutMs: config.electionTimeoutMs,
      log,
    });
    this.sweeper = setInterval(() => this.expireProposals(), PROPOSAL_SWEEP_MS);
    this.sweeper.unref();
    log.info({ 'member-id': selfId.toString(16), 'cluster-id': this.membership.clusterId.toString(16), revision: this.mvcc.currentRevision() }, 'member started');
  }

  /** Binds the peer listeners (clusters of more than one member) and publishes this member. */
  async start(): Promise<void> {
    this.syncPeers();
    if (this.membership.list().length > 1) await this.transport.start();
    void this.publish();
  }

  /** Points the transport at the current members (after start and after each change). */
  private syncPeers(): void {
    const members = this.membership.list();
    const ids = new Set(members.map((m) => m.id.toString()));
    for (const m of members) this.transport.setPeer(m.id.toString(), m.peerUrls);
    for (const id of this.transport.peerIds()) if (!ids.has(id)) this.transport.removePeer(id);
    if (members.length > 1 && !this.transport.listening()) {
      this.transport.start().catch((err: unknown) => this.log.error({ err }, 'cannot listen for peers'));
    }
  }

  memberAdd(peerUrls: string[], isLearner: boolean): Promise<{ member: Member; members: Member[] }> {
    return this.admin.add(peerUrls, isLearner);
  }

  memberRemove(id: string): Promise<Member[]> {
    return this.admin.remove(id);
  }

  memberUpdate(id: string, peerUrls: string[]): Promise<Member[]> {
    return this.admin.update(id, peerUrls);
  }

  memberPromote(id: string): Promise<Member[]> {
    return this.admin.promote(id);
  }

  leaseGrant(ttl: number, id: bigint): Promise<{ ID: string; TTL: number; revision: number }> {
    return this.leaseService.grant(ttl, id);
  }

  async leaseRevoke(id: bigint): Promise<number> {
    const r = (await this.leaseService.revoke(id)) as { header: { revision: number } };
    return r.header.revision;
  }

  leaseRenew(id: bigint): Promise<number> {
    return this.leaseService.renew(id);
  }

  leaseTimeToLive(id: bigint, keys: boolean): Promise<TimeToLiveAnswer> {
    return this.leaseService.timeToLive(id, keys);
  }

  leaseIds(): string[] {
    return this.lessor.idsByExpiry().map(String);
  }

  /** Requests other members forwarded here, believing this member leads (see forwardToLeader). */
  private readonly forwardedOps: Record<string, (body: Record<string, string>) => Promise<object>> = {
    promote: async (b) => ({ members: await this.admin.promote(b.id, false) }),
    'lease-renew': async (b) => ({ TTL: await this.leaseService.renewHere(BigInt(b.id)) }),
    'lease-ttl': (b) => this.leaseService.timeToLiveHere(BigInt(b.id), b.keys === 'true'),
  };

  private async serveForwarded(op: string, body: string): Promise<{ status: number; body: string }> {
    try {
      const handler = this.forwardedOps[op];
      if (handler === undefined) return { status: 404, body: '{}' };
      return { status: 200, body: JSON.stringify(await handler(JSON.parse(body) as Record<string, string>)) };
    } catch (err) {
      const e = err instanceof EtcdError ? err : Errors.timeout();
      return { status: 409, body: JSON.stringify({ code: e.code, message: e.message }) };
    }
  }

  /**
   * Hands a request only the leader can serve to the leader, retrying through leader changes
   * until it answers or the request times out (etcd's loop for promotions and lease renewals).
   * The leader's errors come back as they are.
   */
  async forwardToLeader<T>(op: string, payload: Record<string, string>, timeoutMs = this.requestTimeoutMs): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    const notLeader = Errors.notLeader().message;
    for (;;) {
      const lead = this.node.leader();
      if (lead === this.memberIdText) {
        // Leadership came here while the request waited: serve it here (as etcd, which forwards
        // to whichever member leads, itself included).
        try {
          return (await this.forwardedOps[op](payload)) as T;
        } catch (err) {
          if (!(err instanceof EtcdError) || err.message !== notLeader) throw err;
        }
      }
      const leader = lead === undefined || lead === this.memberIdText ? undefined : this.membership.find(BigInt(lead));
      if (leader !== undefined) {
        try {
          // A leader that stopped answering must not hold the request past a new election.
          const attemptMs = Math.max(100, Math.min(deadline - Date.now(), 2 * this.config.electionTimeoutMs + 1000));
          const { status, body } = await this.transport.forward(leader.peerUrls, op, JSON.stringify(payload), attemptMs);
          const answer = JSON.parse(body) as { code?: number; message?: string };
          if (status === 200) return answer as T;
          if (answer.message !== undefined && answer.message !== notLeader) throw new EtcdError(answer.code ?? 2, answer.message);
        } catch (err) {
          if (err instanceof EtcdError) throw err;
          this.log.debug({ op, err: err instanceof Error ? err.message : String(err) }, 'forwarding to the leader failed; retrying');
        }
      }
      if (this.stopped) throw Errors.stopped();
      if (Date.now() >= deadline) throw lead === undefined ? Errors.noLeader() : Errors.timeout();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  private proposeMemberChange(change: MemberChange): Promise<object> {
    return this.submit({}, (id) => this.node.proposeConfChange(encodeMemberChange(this.membership.selfId, id, change)));
  }

  /** Registers a waiter for request `id` and hands the proposal to raft. */
  private submit(req: InternalRequest, proposeAs: (id: bigint) => void): Promise<object> {
    if (this.stopped) return Promise.reject(Errors.stopped());
    const id = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      this.waiters.set(id, { req, resolve, reject, deadline: Date.now() + this.requestTimeoutMs });
      try {
        proposeAs(id);
      } catch (err) {
        this.waiters.delete(id);
        if (!(err instanceof ProposalDroppedError)) reject(err);
        else reject(this.node.leader() === undefined ? Errors.noLeader() : Errors.timeout());
      }
    });
  }

  /** Announces this member's name and client URLs to the cluster until it is recorded (etcd's publish). */
  private async publish(): Promise<void> {
    const id = this.membership.selfId;
    const { name, advertiseClientUrls: urls } = this.config;
    while (!this.stopped && !this.membership.published(id, name, urls)) {
      try {
        await this.node.waitLeader();
        await this.propose({ member_attributes: { id: id.toString(), name, client_urls: urls } });
      } catch {
        await new Promise((r) => setTimeout(r, 500).unref());
      }
    }
  }

  hashKV(revision: number): { hash: number; revision: number; compacted: number; hashRevision: number } {
    return mvccCall(() => this.mvcc.hashKV(revision));
  }

  hash(): number {
    return this.mvcc.hashAll();
  }

  async moveLeader(target: string): Promise<void> {
    if (!this.node.isLeader()) throw Errors.notLeader();
    if (!this.membership.voterIds().some((id) => id.toString() === target)) throw Errors.badLeaderTransferee();
    if (target === this.memberIdText) return;
    this.node.transferLeader(target);
    const deadline = Date.now() + this.requestTimeoutMs;
    while (this.node.leader() !== target) {
      if (this.stopped) throw Errors.stopped();
      if (Date.now() > deadline) throw Errors.leaderTransferTimeout();
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  hasLeader(): boolean {
    return this.node.leader() !== undefined;
  }

  header(revision?: number | null): ResponseHeader {
    return {
      cluster_id: this.clusterIdText,
      member_id: this.memberIdText,
      revision: revision === null ? 0 : (revision ?? this.mvcc.currentRevision()),
      raft_term: this.node.term(),
    };
  }

  async range(req: RangeRequest): Promise<RangeResponse> {
    if (!req.serializable) await this.linearizableReadBarrier();
    return applyRange(this.mvcc, req);
  }

  async readOnlyTxn(req: TxnRequest, serializable: boolean): Promise<TxnResponse> {
    if (!serializable) await this.linearizableReadBarrier();
    return applyTxn(this.mvcc.read(), req, { leaseExists: () => false });
  }

  propose(req: InternalRequest): Promise<object> {
    return this.submit(req, (id) => {
      const data = encodeEntryData(this.membership.selfId, id, req);
      if (etcdEntryBytes(data, this.membership.selfId) > this.maxRequestBytes) throw Errors.requestTooLarge();
      this.node.propose(data);
    });
  }

  status(): MemberStatus {
    return {
      version: ETCD_VERSION,
      dbSize: this.backend.sizeBytes(),
      dbSizeInUse: this.backend.sizeInUseBytes(),
      leader: this.node.leader() ?? '0',
      raftIndex: this.node.committedIndex(),
      raftTerm: this.node.term(),
      raftAppliedIndex: this.node.appliedIndex(),
      isLearner: false,
      errors: [],
    };
  }

  members(): Member[] {
    return this.membership.list().map(toPbMember);
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.node.stop();
    clearInterval(this.sweeper);
    for (const w of this.waiters.values()) w.reject(Errors.stopped());
    this.waiters.clear();
    this.readBarrier.close(Errors.stopped());
    this.watchable.close();
    this.leaseService.close();
    await this.transport.close();
    await this.backend.close();
  }

  /**
   * Waits until a read here reflects every write acknowledged before the read began. A single
   * voter that leads applies in the same write that commits, so its state already does; other
   * members confirm the commit index with the leader (ReadIndex) and wait to apply up to it.
   */
  private async linearizableReadBarrier(): Promise<void> {
    if (this.stopped) throw Errors.stopped();
    if (this.node.isSoleVoter() && this.node.isLeader()) return;
    await this.readBarrier.wait();
  }

  private expireProposals(): void {
    if (this.waiters.size === 0) return;
    const now = Date.now();
    for (const [id, w] of this.waiters) {
      if (w.deadline > now) continue;
      this.waiters.delete(id);
      w.reject(Errors.timeout());
    }
  }

  private deliver(results: Map<bigint, ApplyResult>): void {
    for (const [id, result] of results) {
      const w = this.waiters.get(id);
      if (w === undefined) continue;
      this.waiters.delete(id);
      if (result.ok) w.resolve(result.response);
      else w.reject(result.error);
    }
  }
}
