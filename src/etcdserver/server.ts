// One etcd-ts member: wires the backend, MVCC store, apply chain, Raft node, peers, leases and
// membership together, and serves api/ the member's typed calls (etcd's v3_server.go): put()
// resolves a PutResponse, txn() a TxnResponse, and so on. Proposals wait in proposals.ts for
// their apply results; linearizable reads pass the read barrier; requests only the leader can
// serve go through forwarder.ts.
import type { Applied } from '../apply/applied';
import { join } from 'node:path';
import { Wal } from '../wal/wal';
import type { Logger } from 'pino';
import { EntryApplier } from '../apply/entry-applier';
import { mvccError, range as applyRange } from '../apply/range';
import { isReadOnly, isSerializable, txn as applyTxn } from '../apply/txn';
import type { MemberApi } from '../api/member-api';
import { Backend } from '../backend/backend';
import { EtcdError, Errors } from '../errors';
import { MvccStore, type KVHash } from '../mvcc/store';
import * as pb from '../pb/types';
import { MessageType, type Message } from '../raft/types';
import { RaftNode } from '../raftnode/node';
import { storedWalMark, storedWalPosition } from '../raftnode/log-store';
import type { ServerConfig } from '../server/config';
import { Membership } from '../membership/membership';
import { MemberAdmin, toPbMember } from '../membership/member-admin';
import { ReadBarrier } from './read-barrier';
import { SnapshotTransfer } from './snapshot-transfer';
import { WatchableStore } from '../watch/watchable-store';
import { Lessor } from '../lease/lessor';
import { LeaseService } from '../lease/lease-service';
import { PeerTransport } from '../peer/transport';
import { CLUSTER_VERSION, ETCD_VERSION } from '../server/version';
import { Downgrader } from './downgrade';
import { Forwarder } from './forwarder';
import { Proposals } from './proposals';
import { Proposer } from './proposer';
import { RequestPipeline } from './pipeline';
import { Signal } from './signal';
import { CompactionScheduler } from '../mvcc/compaction-scheduler';
import { AutoCompactor, parseRetention } from './compactor';
import { BackendQuota, type QuotaRequest } from './quota';
import { AlarmStore, alarmText } from '../alarm/alarm-store';
import { AlarmLayer, QuotaLayer } from '../apply/alarm-layers';
import { AuthLayer, checkedRangeEnd, checkTxnAuth } from '../apply/auth-layer';
import { AuthService, tokenProviderFor } from './auth-service';
import type { Caller } from './pipeline';
import { etcdLayout, type EtcdLayoutSources } from '../snapshot/etcd-layout';
import { snapshotStream } from '../snapshot/snapshot-file';
import type { MemberSnapshot } from '../api/member-api';
import type { TlsInfo } from '../tls/tls-info';
import { CorruptionChecker } from './corrupt-check';
import { EtcdMetrics } from '../metrics/metrics';

/** Proposals waiting for apply at most, and their bytes: past either, `too many requests`. */
const MAX_PROPOSALS_IN_FLIGHT = 10_000;
const MAX_PROPOSAL_BYTES_IN_FLIGHT = 256 * 1024 * 1024;
/** Unary client calls served at once, and streams open, at most. */
const MAX_UNARY_CALLS_IN_FLIGHT = 10_000;
const MAX_STREAMS = 20_000;
/** The refusal a write over the quota gets (compared by message: the error is made per request). */
const NO_SPACE = Errors.noSpace();

/** What a Put's and a Txn's proposals resolve with (shared: no closure per call). */
const pickPut = (a: Applied): pb.PutResponse | undefined => (a.kind === 'put' ? a.response : undefined);
const pickTxn = (a: Applied): pb.TxnResponse | undefined => (a.kind === 'txn' ? a.response : undefined);

export class EtcdServer implements MemberApi {
  readonly maxRequestBytes: number;
  readonly maxTxnOps: number;
  readonly maxConcurrentStreams: number;
  readonly grpcKeepalive: { intervalMs: number; timeoutMs: number };
  readonly membership: Membership;
  readonly watchable: WatchableStore;
  /** Every client call passes here, whatever its transport. */
  readonly pipeline: RequestPipeline;
  /** Users, roles, tokens; the Auth service's calls and the checks at the member. */
  readonly auth: AuthService;
  /** What /metrics shows (etcd's names); the parts below count into it. */
  readonly metrics: EtcdMetrics;
  private readonly lessor: Lessor;
  private readonly alarms: AlarmStore;
  private readonly quota: BackendQuota;
  /** The NOSPACE alarm proposal in flight, if any (one at a time, however many writes hit the quota). */
  private raisingNoSpace: Promise<void> | undefined;
  private readonly leases: LeaseService;
  private readonly backend: Backend;
  private readonly wal: Wal;
  private readonly mvcc: MvccStore;
  private readonly node: RaftNode;
  private readonly proposals: Proposals;
  private readonly proposer: Proposer;
  private readonly readBarrier: ReadBarrier;
  private readonly transport: PeerTransport;
  private readonly forwarder: Forwarder;
  private readonly requestTimeoutMs: number;
  private readonly admin: MemberAdmin;
  private readonly clusterIdText: string;
  private readonly memberIdText: string;
  private stopped = false;
  /** What requests wait for: the next leader change; that, or the next applied index. */
  private readonly leaderChange: Signal;
  private readonly progress: Signal;
  /** Deletes compacted history in batches after each compaction's apply. */
  private readonly compactions: CompactionScheduler;
  private readonly autoCompactor: AutoCompactor | undefined;
  /** What Maintenance.Snapshot reads, each part from one pinned view. */
  private readonly snapshotSources: EtcdLayoutSources;
  private readonly downgrader: Downgrader;
  private readonly corruption: CorruptionChecker;
  /** Whether this member had applied entries before this start (etcd's memberInitialized). */
  private readonly restarted: boolean;

  constructor(
    private readonly config: ServerConfig,
    private readonly log: Logger,
    onFatal: (err: Error) => void,
    joinRecord?: string,
    /** The peer TLS as start-up prepared it (auto TLS files made), for every peer connection. */
    peerTls?: TlsInfo,
  ) {
    // A bad --auth-token stops the member here, before anything is opened (as etcd's NewServer).
    const tokens = tokenProviderFor(config, (index) => this.auth.waitApplied(index));
    this.maxRequestBytes = config.maxRequestBytes;
    this.maxTxnOps = config.maxTxnOps;
    this.maxConcurrentStreams = Math.min(config.maxConcurrentStreams, 4294967295);
    this.grpcKeepalive = { intervalMs: config.grpcKeepaliveIntervalMs, timeoutMs: config.grpcKeepaliveTimeoutMs };
    // etcd's request timeout: long enough to ride out an election.
    this.requestTimeoutMs = 5000 + 2 * config.electionTimeoutMs;
    this.backend = new Backend({ dir: join(config.dataDir, 'member', 'lmdb') });
    const restored = this.backend.restored;
    if (restored !== undefined) log.info({ 'from-txn': restored.fromTxnId, 'checkpoint-txn': restored.toTxnId }, 'the store did not stop cleanly: opened it at its last checkpoint; the write-ahead log redoes what came after');
    const walDir = config.walDir !== '' ? config.walDir : join(config.dataDir, 'member', 'wal');
    // Only the records past the store's mark are redone (RaftNode's recover): the rest are checked, not decoded.
    const opened = Wal.open(walDir, { log, heldMark: storedWalMark(this.backend), heldPosition: storedWalPosition(this.backend), segmentBytes: envBytes('ETCD_TS_WAL_SEGMENT_BYTES') });
    if (opened.tornTail) log.warn({ 'wal-dir': walDir }, 'write-ahead log ended in a torn write (the process stopped mid-write); truncated it there');
    this.wal = opened.wal;
    this.membership = new Membership(this.backend, config, joinRecord, log);
    this.mvcc = new MvccStore(this.backend);
    this.watchable = new WatchableStore(this.mvcc, log, config.watchProgressNotifyIntervalMs);
    // etcd's shortest lease: 1.5 election timeouts, in whole seconds rounded up.
    this.lessor = new Lessor(this.backend, Math.ceil((1.5 * config.electionTimeoutMs) / 1000));
    this.clusterIdText = this.membership.clusterId.toString();
    this.memberIdText = this.membership.selfId.toString();
    const selfId = this.membership.selfId;
    this.alarms = new AlarmStore(this.backend);
    const quota = (this.quota = new BackendQuota(config.quotaBackendBytes, () => this.backend.sizeBytes()));
    const metrics = (this.metrics = new EtcdMetrics({ extensive: config.metrics === 'extensive', quotaBackendBytes: quota.limitBytes }));
    this.backend.observeCommits((seconds) => metrics.backendCommitted(seconds));
    const auth = (this.auth = new AuthService({
      backend: this.backend,
      config,
      tokens,
      propose: (req, pick, caller) => this.proposer.propose(req, pick, caller),
      readBarrier: () => this.linearizableReadBarrier(),
      appliedIndex: () => this.node.appliedIndex(),
      progress: (ms) => this.progress.next(ms),
      requestTimeoutMs: this.requestTimeoutMs,
      leases: this.lessor,
      log,
    }));
    this.proposals = new Proposals({ timeoutMs: this.requestTimeoutMs, maxInFlight: MAX_PROPOSALS_IN_FLIGHT, maxInFlightBytes: MAX_PROPOSAL_BYTES_IN_FLIGHT, onTimeout: () => metrics.proposalsFailed++ });
    const applier = new EntryApplier({
      backend: this.backend,
      mvcc: this.mvcc,
      memberId: selfId,
      leases: this.lessor,
      localRequest: (id) => this.proposals.request(id),
      deliver: (results) => this.proposals.deliver(results),
      notify: (events, revision) => this.watchable.notify(events, revision),
      slowApply: () => metrics.slowApplies++,
      appliedRequest: (op, success, seconds) => metrics.requestApplied(op, success, seconds),
      members: this.membership,
      alarms: this.alarms,
      alarmChanged: (alarm, raised, member) => {
        const fields = { alarm: pb.AlarmType[alarm] ?? String(alarm), from: member.toString(16) };
        if (raised) log.warn(fields, 'alarm raised');
        else log.info(fields, 'alarm disarmed');
      },
      auth: { store: auth.store, tokens: auth.tokens },
      // etcd's stack: alarms (capped / corrupt, wrapped around the rest when raised: restoreAlarms)
      // over auth over the quota over the backend applier.
      layers: [
        (next) => new AlarmLayer(next, this.alarms),
        (next) => new AuthLayer(next, auth.store, this.lessor),
        (next) => new QuotaLayer(next, quota, () => setImmediate(() => this.raiseNoSpace())),
      ],
    });
    this.restarted = applier.storedAppliedIndex() > 0;
    this.snapshotSources = { mvcc: this.mvcc, lessor: this.lessor, alarms: this.alarms, membership: this.membership, auth: auth.store, appliedIndex: (view) => applier.storedAppliedIndex(view) };
    const snapshots = new SnapshotTransfer({
      backend: this.backend,
      mvcc: this.mvcc,
      applier,
      membership: this.membership,
      lessor: this.lessor,
      alarms: this.alarms,
      auth: auth.store,
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
      onForward: (op, body) => this.forwarder.serve(op, body),
      electionTimeoutMs: config.electionTimeoutMs,
      tls: peerTls,
      metrics,
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
      propose: (change) => this.proposer.proposeMemberChange(change),
      forwardPromote: (id) => this.forwarder.call('promote', { id }),
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
      wal: this.wal,
      walRecords: opened.records,
      id: selfId.toString(),
      voters: this.membership.voterIds().map(String),
      learners: this.membership.learnerIds().map(String),
      applier,
      tickMs: config.heartbeatIntervalMs,
      electionTicks: Math.max(1, Math.round(config.electionTimeoutMs / config.heartbeatIntervalMs)),
      preVote: config.preVote,
      logRetainEntries: Math.min(config.snapshotCount, 10_000),
      // 0 keeps the defaults, as etcd's backend does.
      checkpointIntervalMs: config.backendBatchIntervalMs > 0 ? config.backendBatchIntervalMs : undefined,
      checkpointMaxEntries: config.backendBatchLimit > 0 ? config.backendBatchLimit : undefined,
      releaseMappedBytes: envBytes('ETCD_TS_RELEASE_MAPPED_BYTES'),
      onReadySynced: (seconds) => metrics.walFsynced(seconds),
      onFatal,
      log,
    });
    this.leaderChange = new Signal((fire) => this.node.onLeaderChange(fire), MAX_PROPOSALS_IN_FLIGHT);
    this.node.onLeaderChange((leader) => metrics.leaderChanged(leader));
    this.proposer = new Proposer({
      node: this.node,
      proposals: this.proposals,
      selfId,
      maxRequestBytes: this.maxRequestBytes,
      requestTimeoutMs: this.requestTimeoutMs,
      leaderChange: this.leaderChange,
      stopped: () => this.stopped,
      onDropped: () => metrics.proposalsFailed++,
    });
    this.downgrader = new Downgrader({
      clusterVersion: CLUSTER_VERSION,
      readBarrier: () => this.linearizableReadBarrier(),
      info: () => this.membership.downgradeInfo(),
      propose: async (req, caller) => {
        await this.proposer.propose({ downgrade_info_set: req }, (a) => (a.kind === 'downgrade_info_set' ? true : undefined), caller);
      },
      log,
    });
    this.progress = new Signal((fire) => {
      const leader = this.node.onLeaderChange(fire);
      const applied = this.node.onAppliedIndex(fire);
      return () => (leader(), applied());
    }, MAX_PROPOSALS_IN_FLIGHT);
    this.forwarder = new Forwarder({
      selfId: this.memberIdText,
      handlers: {
        promote: (r) => this.admin.promote(r.id, false),
        'lease-renew': (r) => this.leases.renewHere(BigInt(r.id)),
        'lease-ttl': (r) => this.leases.timeToLiveHere(BigInt(r.id), r.keys),
        hashkv: async (r) => {
          const h = await this.hashKVAt(r.revision);
          return { member: this.memberIdText, revision: h.revision, hash: h.hash, compacted: h.compacted };
        },
      },
      leader: () => this.node.leader(),
      peerUrls: (id) => this.membership.find(BigInt(id))?.peerUrls,
      send: (urls, op, body, ms) => transport.forward(urls, op, body, ms),
      leaderChange: (ms) => this.leaderChange.next(ms),
      stopped: () => this.stopped,
      requestTimeoutMs: this.requestTimeoutMs,
      electionTimeoutMs: config.electionTimeoutMs,
      log,
    });
    this.corruption = new CorruptionChecker({
      selfId: this.memberIdText,
      hashKV: (rev) => this.hashKVAt(rev),
      peers: () => this.membership.list().map((m) => m.id.toString()).filter((id) => id !== this.memberIdText),
      askPeer: (id, revision) => this.forwarder.ask(id, 'hashkv', { revision }, this.requestTimeoutMs),
      readBarrier: () => this.linearizableReadBarrier(),
      // As etcd 3.5: for member 0, the cluster, not the member that differs.
      raiseCorrupt: async () => {
        await this.alarm({ action: pb.AlarmAction.ACTIVATE, memberID: '0', alarm: pb.AlarmType.CORRUPT });
      },
      isLeader: () => this.node.isLeader(),
      log,
    });
    this.leases = new LeaseService({
      lessor: this.lessor,
      proposeGrant: (req, caller) => this.proposer.propose({ lease_grant: req }, (a) => (a.kind === 'lease_grant' ? a.response : undefined), caller),
      proposeRevoke: (req, caller) => this.proposer.propose({ lease_revoke: req }, (a) => (a.kind === 'lease_revoke' ? a.response : undefined), caller),
      expiryCaller: auth.lessorCaller,
      forwardRenew: (id) => this.forwarder.call('lease-renew', { id: id.toString() }),
      forwardTimeToLive: (id, keys) => this.forwarder.call('lease-ttl', { id: id.toString(), keys }),
      isLeader: () => this.node.isLeader(),
      isReadyLeader: () => this.node.isLeader() && this.node.appliedIndex() >= this.node.committedIndex(),
      progress: (ms) => this.progress.next(ms),
      appliedCommitted: (ms) => {
        const committed = this.node.committedIndex();
        return this.node.waitFor(() => this.node.appliedIndex() >= committed, ms);
      },
      leaderChange: (ms) => this.leaderChange.next(ms),
      memberId: selfId,
      electionTimeoutMs: config.electionTimeoutMs,
      log,
    });
    this.pipeline = new RequestPipeline(this, {
      electionTimeoutMs: config.electionTimeoutMs,
      maxRequestBytes: config.maxRequestBytes,
      maxUnaryInFlight: MAX_UNARY_CALLS_IN_FLIGHT,
      maxStreams: MAX_STREAMS,
      identity: auth,
      hooks: metrics.grpc,
    });
    this.compactions = new CompactionScheduler({
      backend: this.backend,
      ledger: this.mvcc.compaction,
      batchLimit: config.compactionBatchLimit > 0 ? config.compactionBatchLimit : 1000,
      batchIntervalMs: config.compactionSleepIntervalMs,
      log,
    });
    // A compaction applied (or a snapshot installed) is on disk when this is told.
    this.node.onAppliedIndex(() => this.compactions.wake());
    this.compactions.start();
    const retention = parseRetention(config.autoCompactionMode, config.autoCompactionRetention);
    this.autoCompactor =
      retention === undefined
        ? undefined
        : new AutoCompactor({
            retention,
            revisionIntervalMs: config.autoCompactionRevisionIntervalMs,
            revision: () => this.mvcc.currentRevision(),
            compact: (rev) => this.compact({ revision: rev, physical: false }),
            isLeader: () => this.node.isLeader(),
            log,
          });
    this.autoCompactor?.start();
    metrics.bind({
      hasLeader: () => this.node.leader() !== undefined,
      isLeader: () => this.node.isLeader(),
      committedIndex: () => this.node.committedIndex(),
      appliedIndex: () => this.node.appliedIndex(),
      proposalsPending: () => this.proposals.pending,
      dbSizeBytes: () => this.backend.sizeBytes(),
      dbSizeInUseBytes: () => this.backend.sizeInUseBytes(),
      keys: () => this.mvcc.keyCount(),
      watchers: () => {
        const w = this.watchable.watcherCount();
        return w.synced + w.unsynced;
      },
    });
    log.info({ 'member-id': selfId.toString(16), 'cluster-id': this.membership.clusterId.toString(16), revision: this.mvcc.currentRevision() }, 'member started');
  }

  /**
   * Binds the peer listeners (clusters of more than one member) and publishes this member. With
   * --experimental-initial-corrupt-check a restarted member first compares its history with its
   * peers' and refuses to start when they differ (as etcd, before it serves peers or clients).
   */
  async start(): Promise<void> {
    if (this.config.initialCorruptCheck && this.restarted) await this.corruption.initialCheck(this.requestTimeoutMs);
    this.syncPeers();
    if (this.membership.list().length > 1) await this.transport.start();
    void this.publish();
    this.corruption.start(this.config.corruptCheckTimeMs);
  }

  // --- KV ---------------------------------------------------------------------------------

  /**
   * Served here (after the read barrier unless serializable), checked as etcd's doSerialize.
   * Without a caller it is the member's own read (/health), which checks nothing.
   */
  async range(req: pb.RangeRequest, caller?: Caller): Promise<pb.RangeResponse> {
    if (!req.serializable) await this.linearizableReadBarrier();
    const { store } = this.auth;
    return this.auth.serialize(caller, (ai) => store.isRangePermitted(ai, req.key, checkedRangeEnd(req.range_end)), () => applyRange(this.mvcc, req));
  }

  put(req: pb.PutRequest, caller: Caller): Promise<pb.PutResponse> {
    return this.proposeWithinQuota({ put: req }, pickPut, caller);
  }

  deleteRange(req: pb.DeleteRangeRequest, caller: Caller): Promise<pb.DeleteRangeResponse> {
    return this.proposer.propose({ delete_range: req }, (a) => (a.kind === 'delete_range' ? a.response : undefined), caller);
  }

  /** A txn of ranges only is served here without raft, as etcd's; the others are proposed. */
  txn(req: pb.TxnRequest, caller: Caller): Promise<pb.TxnResponse> {
    if (isReadOnly(req)) return this.readOnlyTxn(req, caller);
    return this.proposeWithinQuota({ txn: req }, pickTxn, caller);
  }

  /**
   * A write the quota counts, proposed unless it does not fit (checkQuota), answered as
   * afterQuotaRefusal says. The quota's common answer is known at once: no async step then.
   */
  private proposeWithinQuota<T>(request: QuotaRequest & pb.InternalRequest, pick: (a: Applied) => T | undefined, caller: Caller): Promise<T> {
    if (!this.quota.available(request)) return this.refuseNoSpace();
    return this.afterQuotaRefusal(this.proposer.propose(request, pick, caller));
  }

  private async readOnlyTxn(req: pb.TxnRequest, caller: Caller): Promise<pb.TxnResponse> {
    if (!isSerializable(req)) await this.linearizableReadBarrier();
    const { store } = this.auth;
    return this.auth.serialize(caller, (ai) => checkTxnAuth(store, this.lessor, ai, req), () => applyTxn(this.mvcc.read(), req, { leaseExists: () => false }));
  }

  /** The auto compactor's calls come without a caller. */
  async compact(req: pb.CompactionRequest, caller?: Caller): Promise<pb.CompactionResponse> {
    // As etcd: a physical compaction answers once the compacted history is deleted here too,
    // and one refused as compacted already once the compactions before it are.
    const physically = (rev: number): Promise<void> => this.compactions.waitFinished(rev).catch(() => Promise.reject(Errors.stopped()));
    let resp: pb.CompactionResponse;
    try {
      resp = await this.proposer.propose({ compaction: req }, (a) => (a.kind === 'compaction' ? a.response : undefined), caller);
    } catch (err) {
      if (req.physical && err instanceof Error && err.message === Errors.compacted().message) await physically(this.mvcc.compactRevision());
      throw err;
    }
    if (req.physical) await physically(Number(req.revision));
    return resp;
  }

  // --- Lease ------------------------------------------------------------------------------

  async leaseGrant(req: pb.LeaseGrantRequest, caller: Caller): Promise<pb.LeaseGrantResponse> {
    await this.checkQuota({ lease_grant: req });
    return this.afterQuotaRefusal(this.leases.grant(req, caller));
  }

  leaseRevoke(req: pb.LeaseRevokeRequest, caller: Caller): Promise<pb.LeaseRevokeResponse> {
    return this.leases.revoke(BigInt(req.ID), caller);
  }

  /** A keep-alive: the lease's TTL, 0 when it is not found (any more). */
  leaseRenew(id: bigint): Promise<number> {
    return this.leases.renew(id);
  }

  /** With keys: READ on each of them, and the auth revision unchanged meanwhile (etcd's checkLeaseTimeToLive). */
  async leaseTimeToLive(req: pb.LeaseTimeToLiveRequest, caller: Caller): Promise<pb.LeaseTimeToLiveResponse> {
    const id = BigInt(req.ID);
    const rev = req.keys ? await this.auth.checkLeaseTimeToLive(caller, id) : undefined;
    const t = await this.leases.timeToLive(id, req.keys);
    if (rev !== undefined) this.auth.afterLeaseTimeToLive(rev);
    return { ID: t.ID, TTL: t.TTL, grantedTTL: t.grantedTTL, keys: t.keys.map((k) => Buffer.from(k, 'base64')) };
  }

  leaseLeases(): pb.LeaseLeasesResponse {
    return { leases: this.lessor.idsByExpiry().map((id) => ({ ID: id.toString() })) };
  }

  // --- Cluster ----------------------------------------------------------------------------

  memberList(): pb.Member[] {
    return this.membership.list().map(toPbMember);
  }

  // Membership changes need the root role when auth is enabled (etcd's
  // checkMembershipOperationPermission, at the member that takes the call).

  async memberAdd(req: pb.MemberAddRequest, caller: Caller): Promise<{ member: pb.Member; members: pb.Member[] }> {
    await this.auth.requireAdmin(caller);
    return this.admin.add(req.peerURLs, req.isLearner);
  }

  async memberRemove(req: pb.MemberIdRequest, caller: Caller): Promise<pb.Member[]> {
    await this.auth.requireAdmin(caller);
    return this.admin.remove(String(req.ID));
  }

  async memberUpdate(req: pb.MemberIdRequest, caller: Caller): Promise<pb.Member[]> {
    await this.auth.requireAdmin(caller);
    return this.admin.update(String(req.ID), req.peerURLs ?? []);
  }

  async memberPromote(req: pb.MemberIdRequest, caller: Caller): Promise<pb.Member[]> {
    await this.auth.requireAdmin(caller);
    return this.admin.promote(String(req.ID));
  }

  // --- Maintenance ------------------------------------------------------------------------

  status(): pb.StatusResponse {
    const downgrade = this.membership.downgradeInfo();
    return {
      version: ETCD_VERSION,
      dbSize: this.backend.sizeBytes(),
      dbSizeInUse: this.backend.sizeInUseBytes(),
      leader: this.node.leader() ?? '0',
      raftIndex: this.node.committedIndex(),
      raftTerm: this.node.term(),
      raftAppliedIndex: this.node.appliedIndex(),
      isLearner: this.membership.find(this.membership.selfId)?.isLearner === true,
      // As etcd: a member without a leader says so here, then every active alarm.
      errors: [...(this.node.leader() === undefined ? [Errors.noLeader().message] : []), ...this.alarms.get(pb.AlarmType.NONE).map(alarmText)],
      // etcd 3.6's field, which 3.5 lacks: sent only once a downgrade was ever enabled, so that
      // the answer of a cluster that never downgraded stays byte for byte etcd 3.5's.
      ...(downgrade !== undefined ? { downgradeInfo: downgrade } : {}),
    };
  }

  /** etcd 3.5's Downgrade: VALIDATE, ENABLE (through Raft) or CANCEL a downgrade to the previous minor. */
  downgrade(req: pb.DowngradeRequest, caller: Caller): Promise<pb.DowngradeResponse> {
    return this.downgrader.downgrade(req, caller);
  }

  /**
   * etcd's Alarm: every action goes through Raft, GET included, so the answer is the cluster's.
   * The member's own alarms come without a caller.
   */
  alarm(req: pb.AlarmRequest, caller?: Caller): Promise<pb.AlarmResponse> {
    return this.proposer.propose({ alarm: req }, (a) => (a.kind === 'alarm' ? a.response : undefined), caller);
  }

  /**
   * etcd's Defragment, of this member only: the store is copied compactly while writes wait
   * (reads go on), then swapped in. The file shrinks by the pages compaction and deletes freed.
   */
  async defragment(caller: Caller): Promise<void> {
    await this.auth.requireMaintenanceAdmin(caller);
    if (this.stopped) throw Errors.stopped();
    const path = this.backend.dir;
    const started = Date.now();
    this.log.info({ path, 'current-db-size-bytes': this.backend.sizeBytes(), 'current-db-size-in-use-bytes': this.backend.sizeInUseBytes() }, 'defragmenting');
    const { beforeBytes, afterBytes } = await this.backend.defragment(async () => {
      // Raft's Readies and compaction batches are the only writers: both stand still for the copy.
      const resume = await this.node.holdWrites();
      await this.compactions.idle();
      return resume;
    }, this.requestTimeoutMs);
    this.log.info({ path, 'current-db-size-bytes-diff': afterBytes - beforeBytes, 'current-db-size-bytes': afterBytes, took: `${Date.now() - started}ms` }, 'defragmented');
  }

  /** The active alarms as this member applied them (for /health and Status). */
  activeAlarms(): pb.AlarmMember[] {
    return this.alarms.get(pb.AlarmType.NONE);
  }

  /**
   * Maintenance.Snapshot: this member's state as etcd's bbolt file plus sha256 trailer, produced
   * while it streams from one read view; the caller must call release() when done or abandoned.
   */
  async snapshot(caller: Caller): Promise<MemberSnapshot> {
    await this.auth.requireMaintenanceAdmin(caller);
    const view = this.backend.readView();
    try {
      const s = snapshotStream(etcdLayout(this.snapshotSources, view).buckets);
      return { dbBytes: s.layout.sizeBytes, chunks: s.chunks, release: () => view.done() };
    } catch (err) {
      view.done();
      throw err;
    }
  }

  /** etcd's HashKV at revision (0 = current), over the committed state. */
  async hashKV(req: pb.HashKVRequest, caller: Caller): Promise<pb.HashKVResponse> {
    await this.auth.requireMaintenanceAdmin(caller);
    const h = await this.hashKVAt(Number(req.revision));
    return { header: { revision: h.revision }, hash: h.hash, compact_revision: h.compacted, hash_revision: h.hashRevision };
  }

  async hash(caller: Caller): Promise<pb.HashResponse> {
    await this.auth.requireMaintenanceAdmin(caller);
    return { hash: this.mvcc.hashAll() };
  }

  /** Hands leadership to the member `targetID`; resolves once it leads. */
  async moveLeader(req: pb.MoveLeaderRequest): Promise<void> {
    const target = String(req.targetID);
    if (!this.node.isLeader()) throw Errors.notLeader();
    if (!this.membership.voterIds().some((id) => id.toString() === target)) throw Errors.badLeaderTransferee();
    if (target === this.memberIdText) return;
    this.node.transferLeader(target);
    const deadline = Date.now() + this.requestTimeoutMs;
    while (this.node.leader() !== target) {
      if (this.stopped) throw Errors.stopped();
      const left = deadline - Date.now();
      if (left <= 0) throw Errors.leaderTransferTimeout();
      await this.leaderChange.next(left);
    }
  }

  // --- Metrics ----------------------------------------------------------------------------

  /** /metrics: etcd's metrics in the text format 0.0.4 (metricsContentType). */
  metricsText(): Promise<string> {
    return this.metrics.text();
  }

  get metricsContentType(): string {
    return this.metrics.contentType;
  }

  // --- What every service needs ----------------------------------------------------------

  hasLeader(): boolean {
    return this.node.leader() !== undefined;
  }


  onLeaderChange(listener: (leader: string | undefined) => void): () => void {
    return this.node.onLeaderChange((leader) => listener(leader));
  }

  header(revision?: number | null): pb.ResponseHeader {
    return {
      cluster_id: this.clusterIdText,
      member_id: this.memberIdText,
      revision: revision === null ? 0 : (revision ?? this.mvcc.currentRevision()),
      raft_term: this.node.term(),
    };
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.node.stop();
    this.autoCompactor?.stop();
    this.corruption.stop();
    const compactionStopped = this.compactions.stop();
    this.pipeline.close();
    this.leaderChange.close();
    this.progress.close();
    this.proposals.close(Errors.stopped());
    this.readBarrier.close(Errors.stopped());
    this.watchable.close();
    this.leases.close();
    this.metrics.close();
    await this.auth.close();
    await this.transport.close();
    // The batch in flight, if any, commits before the environment closes.
    await compactionStopped;
    this.wal.close();
    // Closing checkpoints: a clean stop leaves the next start nothing to fall back from.
    await this.backend.close();
  }

  // --- Inside the member ------------------------------------------------------------------

  /**
   * etcd's quota check before a write is proposed: one that does not fit raises this member's
   * NOSPACE alarm (through Raft, so every member refuses writes from then on) and is refused.
   */
  private async checkQuota(req: QuotaRequest): Promise<void> {
    if (this.quota.available(req)) return;
    await this.refuseNoSpace();
  }

  /** A write that does not fit: the NOSPACE alarm is raised, then the write refused. */
  private async refuseNoSpace(): Promise<never> {
    await this.raiseNoSpace();
    throw Errors.noSpace();
  }

  /**
   * A write that fitted when proposed may no longer fit when applied (the file grew meanwhile):
   * applied, it is answered `database space exceeded` and the member raises its alarm. The answer
   * waits for the alarm, as a refusal before proposing does: a client told NOSPACE then sees it
   * listed.
   */
  private afterQuotaRefusal<T>(result: Promise<T>): Promise<T> {
    // A catch() rather than an async function: one promise less per write.
    return result.catch(async (err: unknown) => {
      // With a NOSPACE alarm up (any member's), the refusal came from it, not from the quota.
      if (err instanceof EtcdError && err.message === NO_SPACE.message && this.alarms.get(pb.AlarmType.NOSPACE).length === 0) await this.raiseNoSpace();
      throw err;
    });
  }

  /** Raises this member's NOSPACE alarm through Raft, unless it is up already or being raised. */
  private async raiseNoSpace(): Promise<void> {
    if (this.stopped || this.alarms.get(pb.AlarmType.NOSPACE).some((a) => String(a.memberID) === this.memberIdText)) return;
    const raise = { action: pb.AlarmAction.ACTIVATE, memberID: this.memberIdText, alarm: pb.AlarmType.NOSPACE };
    this.raisingNoSpace ??= this.alarm(raise)
      .then(() => undefined, (err: unknown) => this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'raising the NOSPACE alarm failed'))
      .finally(() => (this.raisingNoSpace = undefined));
    await this.raisingNoSpace;
  }

  /** HashKV at rev (0: the head) with etcd's errors, hashed in slices so the member stays responsive. */
  private hashKVAt(rev: number): Promise<KVHash> {
    return this.mvcc.hashKVAsync(rev).catch((err: unknown) => Promise.reject(mvccError(err)));
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

  /** Announces this member's name and client URLs to the cluster until it is recorded (etcd's publish). */
  private async publish(): Promise<void> {
    const id = this.membership.selfId;
    const { name, advertiseClientUrls: urls } = this.config;
    while (!this.stopped && !this.membership.published(id, name, urls)) {
      const started = Date.now();
      try {
        await this.node.waitLeader();
        await this.proposer.propose({ member_attributes: { id: id.toString(), name, client_urls: urls } }, (a) => (a.kind === 'member_attributes' ? true : undefined));
      } catch {
        // A refusal that came at once (no leader yet, busy) is tried again at the next leader
        // change, or after a while; a timed-out one right away.
        if (Date.now() - started < this.requestTimeoutMs) await this.leaderChange.next(this.requestTimeoutMs / 10).catch(() => undefined);
      }
    }
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

}

/**
 * Sizes for tests, from etcd-ts's own variables (not flags: etcd has none for them):
 * ETCD_TS_WAL_SEGMENT_BYTES makes WAL segments (8 MiB) smaller, for kills around segment cuts;
 * ETCD_TS_RELEASE_MAPPED_BYTES lowers the mapped growth at which an idle member gives back the
 * store's pages (32 MiB), so that tests reopen the store often.
 */
function envBytes(name: string): number | undefined {
  const n = Number(process.env[name]);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}
