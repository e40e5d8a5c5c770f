// The member's Prometheus registry (prom-client) with etcd 3.5's metric names, help texts, types
// and buckets, so that dashboards and alerts written for etcd read etcd-ts unchanged. Owns what
// /metrics shows; never touches the member's state.
//
// Cheap rule: the member's hot paths bump plain numbers (fields here, mvcc-counts.ts,
// client-bytes.ts, the per-method records of grpc-metrics.ts); what the member can tell at once
// (leader, indexes, sizes, watchers) is read at scrape time by collect() callbacks. The member's
// histograms (WAL fsync, backend commit, peer round trip, apply duration) are our own
// HotHistograms, observed without prom-client; grpc_server_handling_seconds, which etcd too only
// keeps with --metrics extensive, is prom-client's.
//
// etcd names kept as etcd 3.5 has them, including its quirks: proposals_committed_total and
// proposals_applied_total are gauges (the indexes), the watcher gauge is
// etcd_debugging_mvcc_watcher_total.
//
// prom-client is loaded on first need, not at start-up: its require (with @opentelemetry/api,
// some 80 modules) cost ~45 ms of the ~440 ms to a first served Get. It is needed at the first
// scrape, or a second after start (so that its Node.js metrics, the event-loop delay and GC
// histograms, begin then).
// With --metrics extensive it is loaded at once: every call observes a histogram.
import type * as PromClient from 'prom-client';
import type { Registry } from 'prom-client';
import { clientBytes } from './client-bytes';
import { GrpcMetrics } from './grpc-metrics';
import { HotHistogram, exponentialBuckets, type HistogramSeries } from './hot-histogram';
import { mvccOps } from './mvcc-counts';

/** What the member tells at scrape time. */
export interface MemberGauges {
  hasLeader(): boolean;
  isLeader(): boolean;
  committedIndex(): number;
  appliedIndex(): number;
  /** Proposals of this member waiting for their apply. */
  proposalsPending(): number;
  dbSizeBytes(): number;
  dbSizeInUseBytes(): number;
  /** Live keys (etcd_debugging_mvcc_keys_total). */
  keys(): number;
  watchers(): number;
}

export interface MetricsOptions {
  /** --metrics extensive: also the per-method gRPC latency histograms. */
  extensive: boolean;
  /** The backend quota in force (0: none). */
  quotaBackendBytes: number;
}

/** etcd's slow-apply threshold (warningApplyDuration). */
export const SLOW_APPLY_MS = 100;

/** A peer's round-trip series and failure count, found once per peer. */
interface PeerStats {
  rtt: HistogramSeries;
  sentFailures: number;
}

type Prom = typeof PromClient;

/** When prom-client is loaded if nothing asked for it sooner. */
const LOAD_AFTER_MS = 1000;

export class EtcdMetrics {
  /** The request pipeline's hooks (grpc_server_*). */
  readonly grpc: GrpcMetrics;
  // Bumped by the member: plain numbers, moved into prom-client's counters at scrape time.
  leaderChangesSeen = 0;
  proposalsFailed = 0;
  slowApplies = 0;
  private gauges: MemberGauges | undefined;
  private lastLeader: string | undefined;
  private readonly peers = new Map<string, PeerStats>();
  private readonly walFsync = new HotHistogram('etcd_disk_wal_fsync_duration_seconds', 'The latency distributions of fsync called by WAL.', exponentialBuckets(0.001, 2, 14));
  private readonly backendCommit = new HotHistogram('etcd_disk_backend_commit_duration_seconds', 'The latency distributions of commit called by backend.', exponentialBuckets(0.001, 2, 14));
  private readonly peerRtt = new HotHistogram('etcd_network_peer_round_trip_time_seconds', 'Round-Trip-Time histogram between peers', exponentialBuckets(0.0001, 2, 16), ['To']);
  // etcd observes every applied request (applierV3backend.Apply); v2 requests are gone in 3.5, so version is always "v3".
  private readonly applySec = new HotHistogram('etcd_server_apply_duration_seconds', 'The latency distributions of v2 apply called by backend.', exponentialBuckets(0.0001, 2, 20), ['version', 'op', 'success']);
  /** etcd_server_apply_duration_seconds series by op, then success (0 false, 1 true). */
  private readonly applySeries = new Map<string, HistogramSeries[]>();
  private registry: Registry | undefined;
  private loadTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: MetricsOptions) {
    this.grpc = new GrpcMetrics(o.extensive);
    if (o.extensive) this.load();
    else this.loadTimer = setTimeout(() => this.load(), LOAD_AFTER_MS).unref();
  }

  /** Stops the timer that would load prom-client (the member is closing). */
  close(): void {
    clearTimeout(this.loadTimer);
  }

  /** Loads prom-client and registers every metric. */
  private load(): Registry {
    if (this.registry !== undefined) return this.registry;
    clearTimeout(this.loadTimer);
    return (this.registry = this.register(require('prom-client') as Prom));
  }

  private register(prom: Prom): Registry {
    const { Counter, Gauge, Registry, collectDefaultMetrics } = prom;
    const o = this.o;
    const registry = new Registry();
    const registers = [registry];
    const self = this;
    const gauge = (name: string, help: string, read: (g: MemberGauges) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const g = self.gauges;
          if (g !== undefined) this.set(read(g));
        },
      });
    };
    const counter = (name: string, help: string, read: () => number): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    };
    gauge('etcd_server_has_leader', 'Whether or not a leader exists. 1 is existence, 0 is not.', (g) => (g.hasLeader() ? 1 : 0));
    gauge('etcd_server_is_leader', 'Whether or not this member is a leader. 1 if is, 0 otherwise.', (g) => (g.isLeader() ? 1 : 0));
    counter('etcd_server_leader_changes_seen_total', 'The number of leader changes seen.', () => this.leaderChangesSeen);
    gauge('etcd_server_proposals_committed_total', 'The total number of consensus proposals committed.', (g) => g.committedIndex());
    gauge('etcd_server_proposals_applied_total', 'The total number of consensus proposals applied.', (g) => g.appliedIndex());
    gauge('etcd_server_proposals_pending', 'The current number of pending proposals to commit.', (g) => g.proposalsPending());
    counter('etcd_server_proposals_failed_total', 'The total number of failed proposals seen.', () => this.proposalsFailed);
    counter('etcd_server_slow_apply_total', 'The total number of slow apply requests (likely overloaded from slow disk).', () => this.slowApplies);
    new Gauge({ name: 'etcd_server_quota_backend_bytes', help: 'Current backend storage quota size in bytes.', registers }).set(o.quotaBackendBytes);
    // Our histograms have what the registry reads of a metric (name, help, type, get()).
    const custom = (h: HotHistogram): void => registry.registerMetric(h as unknown as PromClient.Metric);
    custom(this.walFsync);
    custom(this.backendCommit);
    gauge('etcd_mvcc_db_total_size_in_bytes', 'Total size of the underlying database physically allocated in bytes.', (g) => g.dbSizeBytes());
    gauge('etcd_mvcc_db_total_size_in_use_in_bytes', 'Total size of the underlying database logically in use in bytes.', (g) => g.dbSizeInUseBytes());
    counter('etcd_mvcc_put_total', 'Total number of puts seen by this member.', () => mvccOps.put);
    counter('etcd_mvcc_range_total', 'Total number of ranges seen by this member.', () => mvccOps.range);
    counter('etcd_mvcc_delete_total', 'Total number of deletes seen by this member.', () => mvccOps.delete);
    counter('etcd_mvcc_txn_total', 'Total number of txns seen by this member.', () => mvccOps.txn);
    gauge('etcd_debugging_mvcc_keys_total', 'Total number of keys.', (g) => g.keys());
    gauge('etcd_debugging_mvcc_watcher_total', 'Total number of watchers.', (g) => g.watchers());
    custom(this.peerRtt);
    new Counter({
      name: 'etcd_network_peer_sent_failures_total',
      help: 'The total number of send failures from peers.',
      labelNames: ['To'],
      registers,
      collect() {
        this.reset();
        for (const [to, p] of self.peers) if (p.sentFailures > 0) this.inc({ To: to }, p.sentFailures);
      },
    });
    counter('etcd_network_client_grpc_sent_bytes_total', 'The total number of bytes sent to grpc clients.', () => clientBytes().sent);
    counter('etcd_network_client_grpc_received_bytes_total', 'The total number of bytes received from grpc clients.', () => clientBytes().received);
    custom(this.applySec);
    this.grpc.register(prom, registry);
    collectDefaultMetrics({ register: registry });
    return registry;
  }

  private applied(op: string, success: boolean): HistogramSeries {
    let series = this.applySeries.get(op);
    if (series === undefined) this.applySeries.set(op, (series = []));
    const i = success ? 1 : 0;
    return (series[i] ??= this.applySec.labelled({ version: 'v3', op, success: String(success) }));
  }

  /** Where the scrape-time gauges read from (the member, once its parts exist). */
  bind(gauges: MemberGauges): void {
    this.gauges = gauges;
  }

  /** A leader change as the raft node tells it: counted as etcd counts (a new leader that differs from the last known). */
  leaderChanged(leader: string | undefined): void {
    if (leader !== undefined && leader !== this.lastLeader) this.leaderChangesSeen++;
    this.lastLeader = leader;
  }

  /** A Raft Ready's log and hard state commit + fsync (etcd's WAL fsync). */
  walFsynced(seconds: number): void {
    this.walFsync.observe(seconds);
  }

  /** A backend write transaction's commit + fsync. */
  backendCommitted(seconds: number): void {
    this.backendCommit.observe(seconds);
  }

  /** One applied request: etcd's op name, whether it succeeded, its apply time (etcd_server_apply_duration_seconds). */
  requestApplied(op: string, success: boolean, seconds: number): void {
    this.applied(op, success).observe(seconds);
  }

  /** A PING answered by peer `to` (member ID in hex, etcd's label). */
  peerRoundTrip(to: string, seconds: number): void {
    this.peer(to).rtt.observe(seconds);
  }

  /** Message batches for peer `to` dropped (its stream down or backed up). */
  peerSendFailed(to: string, frames = 1): void {
    this.peer(to).sentFailures += frames;
  }

  /** prom-client's Registry.PROMETHEUS_CONTENT_TYPE (a registry's default), known without loading it. */
  get contentType(): string {
    return 'text/plain; version=0.0.4; charset=utf-8';
  }

  /** The text exposition format 0.0.4, as etcd's promhttp handler serves it. */
  text(): Promise<string> {
    return this.load().metrics();
  }

  private peer(to: string): PeerStats {
    let p = this.peers.get(to);
    if (p === undefined) {
      p = { rtt: this.peerRtt.labelled({ To: to }), sentFailures: 0 };
      this.peers.set(to, p);
    }
    return p;
  }
}
