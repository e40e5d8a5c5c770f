// etcd's command-line flags and ETCD_* environment variables, parsed as etcd's Go flag parser does:
// `--flag value`, `--flag=value`, one or two dashes, booleans as `--flag` or `--flag=true|false`.
// Every etcd flag is accepted; those not implemented yet are reported so the caller can warn.
import { completeConfig, parseUrl, type ServerConfig } from './config';
import type { RestoreOptions } from '../snapshot/restore';

type Kind = 'string' | 'bool' | 'int' | 'urls';

interface FlagSpec {
  kind: Kind;
  /** Sets the config field this flag controls; absent = accepted but not implemented yet. */
  set?: (c: Partial<ServerConfig>, v: string) => void;
}

const urls = (v: string): string[] =>
  v.split(',').map((u) => u.trim()).filter((u) => u !== '').map((u) => (parseUrl(u), u));

const int = (name: string, v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new FlagError(`invalid value ${JSON.stringify(v)} for flag -${name}: parse error`);
  return n;
};

/** etcd's flags.StringsValue: the text split at every comma, nothing trimmed ("" is no list). */
const goStrings = (v: string): string[] => (v === '' ? [] : v.split(','));

const DURATION_UNITS_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go time.Duration string ("10m", "1.5s", "1h30m", "0") in milliseconds. */
export function durationMs(name: string, v: string): number {
  const bad = (): FlagError => new FlagError(`invalid value ${JSON.stringify(v)} for flag -${name}: parse error`);
  if (v === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let ms = 0;
  let at = 0;
  while (at < v.length) {
    re.lastIndex = at;
    const m = re.exec(v);
    if (m === null) throw bad();
    ms += Number(m[1]) * DURATION_UNITS_MS[m[2]];
    at = re.lastIndex;
  }
  if (v.length === 0) throw bad();
  return ms;
}

const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'panic', 'fatal'];

const IMPLEMENTED: Record<string, FlagSpec> = {
  name: { kind: 'string', set: (c, v) => (c.name = v) },
  'data-dir': { kind: 'string', set: (c, v) => (c.dataDir = v) },
  'wal-dir': { kind: 'string', set: (c, v) => (c.walDir = v) },
  'listen-client-urls': { kind: 'urls', set: (c, v) => (c.listenClientUrls = urls(v)) },
  'advertise-client-urls': { kind: 'urls', set: (c, v) => (c.advertiseClientUrls = urls(v)) },
  'listen-client-http-urls': { kind: 'urls', set: (c, v) => (c.listenClientHttpUrls = urls(v)) },
  'listen-peer-urls': { kind: 'urls', set: (c, v) => (c.listenPeerUrls = urls(v)) },
  'initial-advertise-peer-urls': { kind: 'urls', set: (c, v) => (c.initialAdvertisePeerUrls = urls(v)) },
  'initial-cluster': { kind: 'string', set: (c, v) => (c.initialCluster = v) },
  'initial-cluster-state': {
    kind: 'string',
    set: (c, v) => {
      if (v !== 'new' && v !== 'existing') throw new FlagError(`invalid value ${JSON.stringify(v)} for flag -initial-cluster-state: valid values are "new", "existing"`);
      c.initialClusterState = v;
    },
  },
  'initial-cluster-token': { kind: 'string', set: (c, v) => (c.initialClusterToken = v) },
  'max-request-bytes': { kind: 'int', set: (c, v) => (c.maxRequestBytes = int('max-request-bytes', v)) },
  'max-txn-ops': { kind: 'int', set: (c, v) => (c.maxTxnOps = int('max-txn-ops', v)) },
  'max-concurrent-streams': { kind: 'int', set: (c, v) => (c.maxConcurrentStreams = int('max-concurrent-streams', v)) },
  'backend-batch-interval': { kind: 'string', set: (c, v) => (c.backendBatchIntervalMs = durationMs('backend-batch-interval', v)) },
  'backend-batch-limit': { kind: 'int', set: (c, v) => (c.backendBatchLimit = Number(v)) },
  'grpc-keepalive-interval': { kind: 'string', set: (c, v) => (c.grpcKeepaliveIntervalMs = durationMs('grpc-keepalive-interval', v)) },
  'grpc-keepalive-timeout': { kind: 'string', set: (c, v) => (c.grpcKeepaliveTimeoutMs = durationMs('grpc-keepalive-timeout', v)) },
  'quota-backend-bytes': { kind: 'int', set: (c, v) => (c.quotaBackendBytes = int('quota-backend-bytes', v)) },
  'heartbeat-interval': { kind: 'int', set: (c, v) => (c.heartbeatIntervalMs = int('heartbeat-interval', v)) },
  'election-timeout': { kind: 'int', set: (c, v) => (c.electionTimeoutMs = int('election-timeout', v)) },
  'snapshot-count': { kind: 'int', set: (c, v) => (c.snapshotCount = int('snapshot-count', v)) },
  'pre-vote': { kind: 'bool', set: (c, v) => (c.preVote = v === 'true') },
  'experimental-watch-progress-notify-interval': {
    kind: 'string',
    set: (c, v) => (c.watchProgressNotifyIntervalMs = durationMs('experimental-watch-progress-notify-interval', v)),
  },
  'auto-compaction-mode': {
    kind: 'string',
    set: (c, v) => {
      if (v !== 'periodic' && v !== 'revision') throw new FlagError(`unknown auto-compaction-mode ${JSON.stringify(v)}`);
      c.autoCompactionMode = v;
    },
  },
  'auto-compaction-retention': {
    kind: 'string',
    set: (c, v) => {
      // etcd reads the text once the mode is known (a bare number is hours or revisions); what
      // it accepts does not depend on the mode: a number >= 0, or a Go duration.
      const text = v === '' ? '0' : v;
      if (!/^\+?\d+$/.test(text)) {
        try {
          durationMs('auto-compaction-retention', text);
        } catch {
          throw new FlagError(`error parsing CompactionRetention: time: invalid duration ${JSON.stringify(text)}`);
        }
      }
      c.autoCompactionRetention = text;
    },
  },
  // etcd-ts only: etcd checks every 5 minutes in revision mode, too long for tests to wait.
  'etcd-ts-auto-compaction-revision-interval': {
    kind: 'string',
    set: (c, v) => (c.autoCompactionRevisionIntervalMs = durationMs('etcd-ts-auto-compaction-revision-interval', v)),
  },
  'experimental-compaction-batch-limit': { kind: 'int', set: (c, v) => (c.compactionBatchLimit = int('experimental-compaction-batch-limit', v)) },
  'experimental-compaction-sleep-interval': {
    kind: 'string',
    set: (c, v) => (c.compactionSleepIntervalMs = durationMs('experimental-compaction-sleep-interval', v)),
  },
  'experimental-initial-corrupt-check': { kind: 'bool', set: (c, v) => (c.initialCorruptCheck = v === 'true') },
  'experimental-corrupt-check-time': {
    kind: 'string',
    set: (c, v) => (c.corruptCheckTimeMs = durationMs('experimental-corrupt-check-time', v)),
  },
  'experimental-downgrade-check-time': {
    kind: 'string',
    set: (c, v) => (c.downgradeCheckTimeMs = durationMs('experimental-downgrade-check-time', v)),
  },
  'auth-token': { kind: 'string', set: (c, v) => (c.authToken = v) },
  'bcrypt-cost': { kind: 'int', set: (c, v) => (c.bcryptCost = int('bcrypt-cost', v)) },
  'auth-token-ttl': { kind: 'int', set: (c, v) => (c.authTokenTtlSec = int('auth-token-ttl', v)) },
  'log-level': {
    kind: 'string',
    set: (c, v) => {
      if (!LOG_LEVELS.includes(v)) throw new FlagError(`invalid value ${JSON.stringify(v)} for flag -log-level: must be one of ${LOG_LEVELS.join(', ')}`);
      c.logLevel = v as ServerConfig['logLevel'];
    },
  },
  'cert-file': { kind: 'string', set: (c, v) => (c.certFile = v) },
  'key-file': { kind: 'string', set: (c, v) => (c.keyFile = v) },
  'client-cert-file': { kind: 'string', set: (c, v) => (c.clientCertFile = v) },
  'client-key-file': { kind: 'string', set: (c, v) => (c.clientKeyFile = v) },
  'client-cert-auth': { kind: 'bool', set: (c, v) => (c.clientCertAuth = v === 'true') },
  'client-crl-file': { kind: 'string', set: (c, v) => (c.clientCrlFile = v) },
  'client-cert-allowed-hostname': { kind: 'string', set: (c, v) => (c.clientCertAllowedHostnames = goStrings(v)) },
  'trusted-ca-file': { kind: 'string', set: (c, v) => (c.trustedCaFile = v) },
  'auto-tls': { kind: 'bool', set: (c, v) => (c.autoTls = v === 'true') },
  'peer-cert-file': { kind: 'string', set: (c, v) => (c.peerCertFile = v) },
  'peer-key-file': { kind: 'string', set: (c, v) => (c.peerKeyFile = v) },
  'peer-client-cert-file': { kind: 'string', set: (c, v) => (c.peerClientCertFile = v) },
  'peer-client-key-file': { kind: 'string', set: (c, v) => (c.peerClientKeyFile = v) },
  'peer-client-cert-auth': { kind: 'bool', set: (c, v) => (c.peerClientCertAuth = v === 'true') },
  'peer-trusted-ca-file': { kind: 'string', set: (c, v) => (c.peerTrustedCaFile = v) },
  'peer-crl-file': { kind: 'string', set: (c, v) => (c.peerCrlFile = v) },
  'peer-cert-allowed-cn': { kind: 'string', set: (c, v) => (c.peerCertAllowedCns = goStrings(v)) },
  'peer-cert-allowed-hostname': { kind: 'string', set: (c, v) => (c.peerCertAllowedHostnames = goStrings(v)) },
  'peer-auto-tls': { kind: 'bool', set: (c, v) => (c.peerAutoTls = v === 'true') },
  'experimental-peer-skip-client-san-verification': { kind: 'bool', set: (c, v) => (c.peerSkipClientSanVerification = v === 'true') },
  'self-signed-cert-validity': {
    kind: 'int',
    set: (c, v) => {
      const n = int('self-signed-cert-validity', v);
      // A Go uint flag.
      if (n < 0) throw new FlagError(`invalid value ${JSON.stringify(v)} for flag -self-signed-cert-validity: parse error`);
      c.selfSignedCertValidity = n;
    },
  },
  'cipher-suites': { kind: 'string', set: (c, v) => (c.cipherSuites = goStrings(v)) },
  // Checked at start (etcd's Config.Validate), with etcd's errors: src/tls/prepare.ts.
  'tls-min-version': { kind: 'string', set: (c, v) => (c.tlsMinVersion = v) },
  'tls-max-version': { kind: 'string', set: (c, v) => (c.tlsMaxVersion = v) },
  metrics: { kind: 'string', set: (c, v) => (c.metrics = v) },
  'listen-metrics-urls': { kind: 'urls', set: (c, v) => (c.listenMetricsUrls = urls(v)) },
  'enable-grpc-gateway': { kind: 'bool', set: (c, v) => (c.enableGrpcGateway = v === 'true') },
  // etcd-ts only: the web dashboard at /ui/ (etcd has none).
  'enable-ui': { kind: 'bool', set: (c, v) => (c.enableUi = v === 'true') },
  logger: { kind: 'string', set: (c, v) => (c.loggerType = v) },
  // A comma-separated list, as etcd's StringSlice flag.
  'log-outputs': { kind: 'string', set: (c, v) => (c.logOutputs = v.split(',')) },
  'log-format': { kind: 'string', set: (c, v) => (c.logFormat = v) },
  'enable-log-rotation': { kind: 'bool', set: (c, v) => (c.enableLogRotation = v === 'true') },
  'log-rotation-config-json': { kind: 'string', set: (c, v) => (c.logRotationConfigJson = v) },
  debug: { kind: 'bool', set: (c, v) => (v === 'true' ? (c.logLevel = 'debug') : undefined) },
};

const NOT_YET: [string, Kind][] = [
  ['initial-election-tick-advance', 'bool'], ['max-snapshots', 'int'], ['max-wals', 'int'],
  ['backend-bbolt-freelist-type', 'string'],
  ['grpc-keepalive-min-time', 'string'], ['discovery', 'string'], ['discovery-fallback', 'string'],
  ['discovery-proxy', 'string'], ['discovery-srv', 'string'], ['discovery-srv-name', 'string'],
  ['strict-reconfig-check', 'bool'], ['enable-v2', 'bool'], ['cors', 'string'], ['host-whitelist', 'string'],
  ['enable-pprof', 'bool'],
  ['log-package-levels', 'string'], ['proxy', 'string'],
  ['proxy-failure-wait', 'int'], ['proxy-refresh-interval', 'int'], ['proxy-dial-timeout', 'int'],
  ['proxy-write-timeout', 'int'], ['proxy-read-timeout', 'int'], ['force-new-cluster', 'bool'],
  ['socket-reuse-port', 'bool'], ['socket-reuse-address', 'bool'], ['unsafe-no-fsync', 'bool'],
  ['config-file', 'string'], ['max-learners', 'int'],
  ['experimental-compact-hash-check-enabled', 'bool'], ['experimental-compact-hash-check-time', 'string'],
  ['experimental-enable-v2v3', 'string'], ['experimental-backend-bbolt-freelist-type', 'string'],
  ['experimental-enable-lease-checkpoint', 'bool'], ['experimental-enable-lease-checkpoint-persist', 'bool'],
  ['experimental-warning-apply-duration', 'string'], ['experimental-warning-unary-request-duration', 'string'],
  ['experimental-txn-mode-write-with-shared-buffer', 'bool'], ['experimental-bootstrap-defrag-threshold-megabytes', 'int'],
  ['experimental-enable-distributed-tracing', 'bool'],
  ['experimental-distributed-tracing-address', 'string'], ['experimental-distributed-tracing-service-name', 'string'],
  ['experimental-distributed-tracing-instance-id', 'string'], ['experimental-distributed-tracing-sampling-rate', 'int'],
  ['experimental-max-learners', 'int'], ['experimental-memory-mlock', 'bool'], ['experimental-snapshot-catchup-entries', 'int'],
  ['experimental-wait-cluster-ready-timeout', 'string'], ['experimental-stop-grpc-service-on-defrag', 'bool'],
  ['experimental-enable-leasing-shared-buffer', 'bool'],
];

const FLAGS: Record<string, FlagSpec> = { ...IMPLEMENTED };
for (const [name, kind] of NOT_YET) FLAGS[name] = { kind };

export class FlagError extends Error {}

export type ParsedCommand =
  | { action: 'run'; config: ServerConfig; notImplemented: string[]; warnings: string[] }
  | { action: 'version' }
  | { action: 'help' }
  | SnapshotCommand;

/** `etcd-ts snapshot restore|status FILE ...`, with etcdctl's flags and defaults. */
export type SnapshotCommand = ({ action: 'snapshot-restore' } & RestoreOptions) | { action: 'snapshot-status'; file: string; format: 'simple' | 'json' | 'table' };

const SNAPSHOT_FLAGS: Record<string, Kind> = {
  'data-dir': 'string',
  'wal-dir': 'string',
  name: 'string',
  'initial-cluster': 'string',
  'initial-cluster-token': 'string',
  'initial-advertise-peer-urls': 'urls',
  'skip-hash-check': 'bool',
  'write-out': 'string',
  w: 'string',
};

/** etcdctl's `snapshot restore|status` arguments (after the word `snapshot`). */
export function parseSnapshotCommand(argv: string[]): SnapshotCommand {
  const sub = argv[0];
  if (sub !== 'restore' && sub !== 'status') throw new FlagError(`unknown command ${JSON.stringify(sub ?? '')} for "etcd-ts snapshot" (want restore or status)`);
  const files: string[] = [];
  const v = new Map<string, string>();
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('-') || arg === '-') {
      files.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const kind = SNAPSHOT_FLAGS[name];
    if (kind === undefined) throw new FlagError(`unknown flag: --${name}`);
    let value: string;
    if (eq >= 0) value = body.slice(eq + 1);
    else if (kind === 'bool') value = 'true';
    else if (i + 1 < argv.length) value = argv[++i];
    else throw new FlagError(`flag needs an argument: --${name}`);
    v.set(name === 'w' ? 'write-out' : name, kind === 'bool' ? parseBool(name, value) : value);
  }
  if (files.length !== 1) throw new FlagError(`snapshot ${sub} requires exactly one argument`);
  if (sub === 'status') {
    const format = v.get('write-out') ?? 'simple';
    if (format !== 'simple' && format !== 'json' && format !== 'table') throw new FlagError(`unknown output format ${JSON.stringify(format)} (want simple, json or table)`);
    return { action: 'snapshot-status', file: files[0], format };
  }
  const name = v.get('name') ?? 'default';
  return {
    action: 'snapshot-restore',
    snapshotPath: files[0],
    dataDir: v.get('data-dir') ?? `${name}.etcd`,
    name,
    initialCluster: v.get('initial-cluster') ?? 'default=http://localhost:2380',
    initialClusterToken: v.get('initial-cluster-token') ?? 'etcd-cluster',
    initialAdvertisePeerUrls: urls(v.get('initial-advertise-peer-urls') ?? 'http://localhost:2380'),
    skipHashCheck: v.get('skip-hash-check') === 'true',
  };
}

/** Parses argv (without node and script) and the environment into a config, as etcd does. */
export function parseCommand(argv: string[], env: NodeJS.ProcessEnv): ParsedCommand {
  if (argv[0] === 'snapshot') return parseSnapshotCommand(argv.slice(1));
  const fromFlags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('-') || arg === '-' || arg === '--') throw new FlagError(`'${arg}' is not a valid flag`);
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    if (name === 'version') return { action: 'version' };
    if (name === 'help' || name === 'h') return { action: 'help' };
    const spec = FLAGS[name];
    if (spec === undefined) throw new FlagError(`flag provided but not defined: -${name}`);
    let value: string;
    if (eq >= 0) value = body.slice(eq + 1);
    else if (spec.kind === 'bool') value = 'true';
    else {
      if (i + 1 >= argv.length) throw new FlagError(`flag needs an argument: -${name}`);
      value = argv[++i];
    }
    if (spec.kind === 'bool') value = parseBool(name, value);
    fromFlags.set(name, value);
  }

  const warnings: string[] = [];
  const values = new Map<string, string>();
  for (const [key, raw] of Object.entries(env)) {
    // ETCD_TS_* are etcd-ts's own switches (ETCD_TS_GRPC, ETCD_TS_CODE_CACHE, ...), not flags.
    if (!key.startsWith('ETCD_') || key.startsWith('ETCD_TS_') || raw === undefined) continue;
    const name = key.slice(5).toLowerCase().replace(/_/g, '-');
    const spec = FLAGS[name];
    if (spec === undefined) {
      warnings.push(`unrecognized environment variable ${key}=${raw}`);
      continue;
    }
    if (fromFlags.has(name)) {
      warnings.push(`ignored environment variable ${key} because the flag --${name} is set`);
      continue;
    }
    values.set(name, spec.kind === 'bool' ? parseBool(name, raw) : raw);
  }
  for (const [name, value] of fromFlags) values.set(name, value);

  const partial: Partial<ServerConfig> = {};
  const notImplemented: string[] = [];
  for (const [name, value] of values) {
    const spec = FLAGS[name];
    if (spec.set !== undefined) spec.set(partial, value);
    else notImplemented.push(name);
  }
  return { action: 'run', config: completeConfig(partial), notImplemented, warnings };
}

function parseBool(name: string, v: string): string {
  const t = v.toLowerCase();
  if (['1', 't', 'true'].includes(t)) return 'true';
  if (['0', 'f', 'false'].includes(t)) return 'false';
  throw new FlagError(`invalid boolean value ${JSON.stringify(v)} for -${name}: parse error`);
}

export const USAGE = `Usage:

  etcd-ts [flags]
    Start an etcd-ts server (an etcd v3 compatible server).

  etcd-ts --version
    Show the version of etcd-ts.

  etcd-ts -h | --help
    Show the help information about etcd-ts.

  etcd-ts snapshot restore FILE [--data-dir D] [--name N] [--initial-cluster C]
          [--initial-cluster-token T] [--initial-advertise-peer-urls U] [--skip-hash-check]
    Restore an etcd snapshot file (etcdctl snapshot save, from etcd or etcd-ts) into a new data dir.

  etcd-ts snapshot status FILE [-w simple|json|table]
    Show a snapshot file's hash, revision, total keys and size, as etcdctl does.

Member:
  --name 'default'                  Human-readable name for this member.
  --data-dir '\${name}.etcd'         Path to the data directory.
  --listen-client-urls 'http://localhost:2379'
  --listen-peer-urls 'http://localhost:2380'
  --max-request-bytes '1572864'     Maximum client request size in bytes the server will accept.
  --max-txn-ops '128'               Maximum number of operations permitted in a transaction.
  --quota-backend-bytes '0'         Raise alarms when backend size exceeds the given quota (0 defaults to low space quota).
  --heartbeat-interval '100'        Time (in milliseconds) of a heartbeat interval.
  --election-timeout '1000'         Time (in milliseconds) for an election to timeout.
  --snapshot-count '100000'         Number of committed transactions to trigger a snapshot to disk.

Clustering:
  --initial-advertise-peer-urls 'http://localhost:2380'
  --initial-cluster 'default=http://localhost:2380'
  --initial-cluster-state 'new'     Initial cluster state ('new' or 'existing').
  --initial-cluster-token 'etcd-cluster'
  --pre-vote 'true'                 Enable the raft Pre-Vote algorithm to prevent disruption when a node that has been partitioned away rejoins the cluster.
  --advertise-client-urls 'http://localhost:2379'

Compaction:
  --auto-compaction-retention '0'   Auto compaction retention for mvcc key value store. 0 means disable auto compaction.
  --auto-compaction-mode 'periodic' Interpret 'auto-compaction-retention' one of: periodic|revision. 'periodic' for duration based retention, defaulting to hours if no time unit is provided (e.g. '5m'). 'revision' for revision number based retention.
  --experimental-compaction-batch-limit '1000'
                                    Sets the maximum revisions deleted in each compaction batch.
  --experimental-compaction-sleep-interval '10ms'
                                    Sets the sleep interval between each compaction batch.

Security (https:// and unixs:// client URLs, https:// peer URLs):
  --cert-file ''                    Path to the client server TLS cert file.
  --key-file ''                     Path to the client server TLS key file.
  --client-cert-auth 'false'        Enable client cert authentication.
  --client-crl-file ''              Path to the client certificate revocation list file.
  --client-cert-allowed-hostname '' Comma-separated list of allowed SAN hostnames for client cert authentication.
  --trusted-ca-file ''              Path to the client server TLS trusted CA cert file.
  --auto-tls 'false'                Client TLS using generated certificates.
  --peer-cert-file ''               Path to the peer server TLS cert file.
  --peer-key-file ''                Path to the peer server TLS key file.
  --peer-client-cert-file ''        Path to an explicit peer client TLS cert file otherwise peer cert file will be used when client auth is required.
  --peer-client-key-file ''         Path to an explicit peer client TLS key file otherwise peer key file will be used when client auth is required.
  --peer-client-cert-auth 'false'   Enable peer client cert authentication.
  --peer-trusted-ca-file ''         Path to the peer server TLS trusted CA file.
  --peer-cert-allowed-cn ''         Comma-separated list of allowed CNs for inter-peer TLS authentication.
  --peer-cert-allowed-hostname ''   Comma-separated list of allowed SAN hostnames for inter-peer TLS authentication.
  --peer-auto-tls 'false'           Peer TLS using self-generated certificates if --peer-key-file and --peer-cert-file are not provided.
  --peer-crl-file ''                Path to the peer certificate revocation list file.
  --self-signed-cert-validity '1'   The validity period of the client and peer certificates, unit is year.
  --cipher-suites ''                Comma-separated list of supported TLS cipher suites between client/server and peers (empty will be auto-populated).
  --tls-min-version 'TLS1.2'        Minimum TLS version supported by etcd. Possible values: TLS1.2, TLS1.3.
  --tls-max-version ''              Maximum TLS version supported by etcd. Possible values: TLS1.2, TLS1.3 (empty: the highest available).

Logging:
  --log-level 'info'                debug, info, warn, error, panic, or fatal.

Dashboard (etcd-ts only):
  --enable-ui 'true'                Serve the web dashboard at /ui/ on the client URLs (it talks to the gateway, /v3/).

Every other etcd flag is accepted; one not implemented yet is logged as a warning.
Each flag can also be given as an environment variable: ETCD_ + the flag name in upper case with
'_' for '-' (e.g. ETCD_DATA_DIR). A flag on the command line wins over the variable.
`;
