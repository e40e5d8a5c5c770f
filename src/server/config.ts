// A member's configuration: etcd's flags, with etcd's defaults.
export interface InitialMember {
  name: string;
  peerUrls: string[];
}

export interface ServerConfig {
  name: string;
  dataDir: string;
  /** Where the write-ahead log lives ('' = <data-dir>/member/wal, as etcd's --wal-dir). */
  walDir: string;
  listenClientUrls: string[];
  advertiseClientUrls: string[];
  /** etcd 3.5: URLs serving HTTP only; when set, listenClientUrls serve gRPC only. */
  listenClientHttpUrls: string[];
  listenPeerUrls: string[];
  initialAdvertisePeerUrls: string[];
  /** name=url,name=url,... */
  initialCluster: string;
  initialClusterState: 'new' | 'existing';
  initialClusterToken: string;
  maxRequestBytes: number;
  maxTxnOps: number;
  /** HTTP/2 streams one client connection may open at once (etcd's default: 2^32-1, Go's "unlimited"). */
  maxConcurrentStreams: number;
  /** A client connection quiet this long is pinged (--grpc-keepalive-interval; 0: never). */
  grpcKeepaliveIntervalMs: number;
  /** ...and closed if the ping is not answered within this (--grpc-keepalive-timeout). */
  grpcKeepaliveTimeoutMs: number;
  quotaBackendBytes: number;
  /**
   * etcd commits its backend every --backend-batch-interval or --backend-batch-limit operations;
   * etcd-ts checkpoints its store (a synced commit; the WAL holds what came since) by the same
   * two bounds, on entries applied. 0 (the default, as etcd's) takes the member's own defaults:
   * 1s and 3,000 entries here (raftnode/node.ts says why they differ from etcd's 100ms and 10,000).
   */
  backendBatchIntervalMs: number;
  backendBatchLimit: number;
  heartbeatIntervalMs: number;
  electionTimeoutMs: number;
  snapshotCount: number;
  /**
   * Pre-vote: a member cut off asks whether it could win before it raises its term, so that it
   * cannot depose a healthy leader when it comes back. On by default, as in etcd 3.5 (3.4: off).
   */
  preVote: boolean;
  /** Progress notifications for watchers that asked for them (etcd: 10 minutes). */
  watchProgressNotifyIntervalMs: number;
  /** How --auto-compaction-retention is read: a time window, or a number of revisions. */
  autoCompactionMode: 'periodic' | 'revision';
  /** etcd's text as given ("0" = off; periodic: hours, or a Go duration such as "30m"). */
  autoCompactionRetention: string;
  /**
   * How often revision mode checks (etcd: fixed at 5 minutes). An etcd-ts knob so that tests
   * need not wait minutes; etcd has no such flag.
   */
  autoCompactionRevisionIntervalMs: number;
  /** Index entries one background compaction batch handles at most (etcd: 1000). */
  compactionBatchLimit: number;
  /** Pause between background compaction batches (etcd 3.5: 10ms). */
  compactionSleepIntervalMs: number;
  /** Compare this member's HashKV with its peers' before serving clients (etcd: off). */
  initialCorruptCheck: boolean;
  /** How often the leader compares HashKVs across members (0: never, etcd's default). */
  corruptCheckTimeMs: number;
  /** How often the leader checks whether a downgrade has finished (etcd 3.5: 5s). */
  downgradeCheckTimeMs: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'panic' | 'fatal' | 'silent';
  /** etcd's --auth-token: "simple", or "jwt,pub-key=…,priv-key=…,sign-method=…,ttl=…". */
  authToken: string;
  /** bcrypt cost of new password hashes (etcd: 10; outside [4, 31] etcd falls back to 10). */
  bcryptCost: number;
  /** Seconds a simple token lives unused (etcd: 300). */
  authTokenTtlSec: number;
  /** etcd's --metrics: 'extensive' adds gRPC per-method latency histograms; any other value is basic, as etcd 3.5. */
  metrics: string;
  /** Extra URLs serving /metrics and /health only (etcd's --listen-metrics-urls). */
  listenMetricsUrls: string[];
  /** Serve etcd's HTTP/JSON gateway (/v3/...) on the client URLs (etcd: true). */
  enableGrpcGateway: boolean;
  /** Serve the web dashboard at /ui/ on the client URLs (etcd-ts only; a client of the gateway). */
  enableUi: boolean;
  /** etcd's --logger (3.5: only 'zap'). Checked at start. */
  loggerType: string;
  /** etcd's --log-outputs: 'default' (stderr), 'stderr', 'stdout', or file paths. */
  logOutputs: string[];
  /** etcd's --log-format: 'json' or 'console'. */
  logFormat: string;
  enableLogRotation: boolean;
  /** etcd's --log-rotation-config-json (lumberjack's fields). */
  logRotationConfigJson: string;

  // Client TLS (https:// and unixs:// client URLs; see src/tls/).
  certFile: string;
  keyFile: string;
  /** Unused by a member's own client side; etcd accepts it (its TLSInfo's client pair). */
  clientCertFile: string;
  clientKeyFile: string;
  /** Require and verify client certificates (so does a trusted CA file alone, as in etcd). */
  clientCertAuth: boolean;
  clientCrlFile: string;
  clientCertAllowedHostnames: string[];
  trustedCaFile: string;
  /** A self-signed pair under <data-dir>/fixtures/client when no certificate is given. */
  autoTls: boolean;
  // Peer TLS (https:// peer URLs).
  peerCertFile: string;
  peerKeyFile: string;
  /** The pair presented when dialing peers; --peer-cert-file / --peer-key-file when empty. */
  peerClientCertFile: string;
  peerClientKeyFile: string;
  peerClientCertAuth: boolean;
  peerTrustedCaFile: string;
  peerCrlFile: string;
  /** Only peers whose certificate CN is one of these. */
  peerCertAllowedCns: string[];
  peerCertAllowedHostnames: string[];
  peerAutoTls: boolean;
  /** etcd's --experimental-peer-skip-client-san-verification. */
  peerSkipClientSanVerification: boolean;
  /** Years the auto TLS certificates are valid. */
  selfSignedCertValidity: number;
  /** Go's names, for TLS 1.2 on clients and peers ([]: the library's defaults). */
  cipherSuites: string[];
  /** 'TLS1.2' | 'TLS1.3' ('' for max: the library decides); checked at start. */
  tlsMinVersion: string;
  tlsMaxVersion: string;
}

export const DEFAULT_CONFIG: ServerConfig = {
  name: 'default',
  dataDir: '',
  walDir: '',
  listenClientUrls: ['http://localhost:2379'],
  advertiseClientUrls: ['http://localhost:2379'],
  listenClientHttpUrls: [],
  listenPeerUrls: ['http://localhost:2380'],
  initialAdvertisePeerUrls: ['http://localhost:2380'],
  initialCluster: '',
  initialClusterState: 'new',
  initialClusterToken: 'etcd-cluster',
  maxRequestBytes: 1.5 * 1024 * 1024,
  maxTxnOps: 128,
  maxConcurrentStreams: 4294967295,
  grpcKeepaliveIntervalMs: 2 * 60 * 60 * 1000,
  grpcKeepaliveTimeoutMs: 20 * 1000,
  quotaBackendBytes: 0,
  backendBatchIntervalMs: 0,
  backendBatchLimit: 0,
  heartbeatIntervalMs: 100,
  electionTimeoutMs: 1000,
  snapshotCount: 100_000,
  preVote: true,
  watchProgressNotifyIntervalMs: 10 * 60 * 1000,
  autoCompactionMode: 'periodic',
  autoCompactionRetention: '0',
  autoCompactionRevisionIntervalMs: 5 * 60 * 1000,
  compactionBatchLimit: 1000,
  compactionSleepIntervalMs: 10,
  initialCorruptCheck: false,
  corruptCheckTimeMs: 0,
  downgradeCheckTimeMs: 5000,
  logLevel: 'info',
  authToken: 'simple',
  bcryptCost: 10,
  authTokenTtlSec: 300,
  metrics: 'basic',
  listenMetricsUrls: [],
  enableGrpcGateway: true,
  enableUi: true,
  loggerType: 'zap',
  logOutputs: ['default'],
  logFormat: 'json',
  enableLogRotation: false,
  logRotationConfigJson: '{"maxsize": 100, "maxage": 0, "maxbackups": 0, "localtime": false, "compress": false}',
  certFile: '',
  keyFile: '',
  clientCertFile: '',
  clientKeyFile: '',
  clientCertAuth: false,
  clientCrlFile: '',
  clientCertAllowedHostnames: [],
  trustedCaFile: '',
  autoTls: false,
  peerCertFile: '',
  peerKeyFile: '',
  peerClientCertFile: '',
  peerClientKeyFile: '',
  peerClientCertAuth: false,
  peerTrustedCaFile: '',
  peerCrlFile: '',
  peerCertAllowedCns: [],
  peerCertAllowedHostnames: [],
  peerAutoTls: false,
  peerSkipClientSanVerification: false,
  selfSignedCertValidity: 1,
  cipherSuites: [],
  tlsMinVersion: 'TLS1.2',
  tlsMaxVersion: '',
};

/** Fills the values etcd derives from others: data dir from name, initial cluster from this member. */
export function completeConfig(partial: Partial<ServerConfig>): ServerConfig {
  const c: ServerConfig = { ...DEFAULT_CONFIG, ...partial };
  if (c.dataDir === '') c.dataDir = `${c.name}.etcd`;
  if (c.initialCluster === '') c.initialCluster = c.initialAdvertisePeerUrls.map((u) => `${c.name}=${u}`).join(',');
  return c;
}

export function parseInitialCluster(s: string): InitialMember[] {
  const byName = new Map<string, string[]>();
  for (const part of s.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`invalid --initial-cluster entry ${JSON.stringify(part)} (want name=url)`);
    const name = part.slice(0, eq);
    const url = part.slice(eq + 1);
    parseUrl(url);
    byName.set(name, [...(byName.get(name) ?? []), url]);
  }
  return [...byName].map(([name, peerUrls]) => ({ name, peerUrls }));
}

export function parseUrl(u: string): URL {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw new Error(`invalid URL ${JSON.stringify(u)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:' && url.protocol !== 'unix:' && url.protocol !== 'unixs:') {
    throw new Error(`URL scheme must be http, https, unix, or unixs: ${u}`);
  }
  return url;
}
