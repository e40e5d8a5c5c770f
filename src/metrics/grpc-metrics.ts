// go-grpc-prometheus's server metrics as etcd 3.5 exports them: grpc_server_started_total,
// grpc_server_handled_total and, with --metrics extensive, grpc_server_handling_seconds, labelled
// grpc_type / grpc_service / grpc_method (/ grpc_code). Fed by the request pipeline's hooks.
//
// The hooks run on every client call, so they only bump plain numbers in a per-method record
// found by two Map lookups (no label objects, no hashing); prom-client's counters are filled
// from those numbers when /metrics is scraped. As go-grpc-prometheus's Register, the services
// etcd's v3rpc.Server registers (etcdserverpb's six and grpc.health.v1) are there from the start
// with every code at 0; Lock and Election, registered later in etcd, appear once called.
// The counters are registered when metrics.ts loads prom-client (late, see there).
import type * as PromClient from 'prom-client';
import type { Histogram, Registry } from 'prom-client';
import { Code } from '../errors';
import type { PipelineHooks, ServiceName } from '../etcdserver/pipeline';

type GrpcType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream';

/** grpc-go's codes.Code.String(), by code number. */
const CODE_NAMES: readonly string[] = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists', 'PermissionDenied',
  'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable', 'DataLoss', 'Unauthenticated',
];

/** The services registered on etcd's gRPC server before grpc_prometheus.Register, their methods and kinds. */
const PREREGISTERED: ReadonlyArray<readonly [string, ReadonlyArray<readonly [string, GrpcType]>]> = [
  ['etcdserverpb.KV', [['Range', 'unary'], ['Put', 'unary'], ['DeleteRange', 'unary'], ['Txn', 'unary'], ['Compact', 'unary']]],
  ['etcdserverpb.Watch', [['Watch', 'bidi_stream']]],
  ['etcdserverpb.Lease', [['LeaseGrant', 'unary'], ['LeaseRevoke', 'unary'], ['LeaseKeepAlive', 'bidi_stream'], ['LeaseTimeToLive', 'unary'], ['LeaseLeases', 'unary']]],
  ['etcdserverpb.Cluster', [['MemberAdd', 'unary'], ['MemberRemove', 'unary'], ['MemberUpdate', 'unary'], ['MemberList', 'unary'], ['MemberPromote', 'unary']]],
  ['etcdserverpb.Maintenance', [['Alarm', 'unary'], ['Status', 'unary'], ['Defragment', 'unary'], ['Hash', 'unary'], ['HashKV', 'unary'], ['Snapshot', 'server_stream'], ['MoveLeader', 'unary'], ['Downgrade', 'unary']]],
  [
    'etcdserverpb.Auth',
    [
      ['AuthEnable', 'unary'], ['AuthDisable', 'unary'], ['AuthStatus', 'unary'], ['Authenticate', 'unary'], ['UserAdd', 'unary'], ['UserGet', 'unary'],
      ['UserList', 'unary'], ['UserDelete', 'unary'], ['UserChangePassword', 'unary'], ['UserGrantRole', 'unary'], ['UserRevokeRole', 'unary'],
      ['RoleAdd', 'unary'], ['RoleGet', 'unary'], ['RoleList', 'unary'], ['RoleDelete', 'unary'], ['RoleGrantPermission', 'unary'], ['RoleRevokePermission', 'unary'],
    ],
  ],
  ['grpc.health.v1.Health', [['Check', 'unary'], ['Watch', 'server_stream']]],
];

/** Methods that stream, by service, for those created on first call (everything else is unary). */
const STREAMING: Readonly<Record<string, GrpcType>> = { 'v3electionpb.Election/Observe': 'server_stream' };

const PACKAGE_OF: Readonly<Record<ServiceName, string>> = {
  KV: 'etcdserverpb.KV',
  Watch: 'etcdserverpb.Watch',
  Lease: 'etcdserverpb.Lease',
  Cluster: 'etcdserverpb.Cluster',
  Maintenance: 'etcdserverpb.Maintenance',
  Auth: 'etcdserverpb.Auth',
  Lock: 'v3lockpb.Lock',
  Election: 'v3electionpb.Election',
};

/** go-grpc-prometheus's default histogram buckets (prometheus.DefBuckets). */
const DEF_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface MethodStats {
  readonly labels: { grpc_type: GrpcType; grpc_service: string; grpc_method: string };
  started: number;
  /** Calls handled, by code number. */
  readonly handled: number[];
  observe: ((seconds: number) => void) | undefined;
}

export class GrpcMetrics implements PipelineHooks {
  /** By full service name, then method. */
  private readonly methods = new Map<string, Map<string, MethodStats>>();
  private handling: Histogram | undefined;

  constructor(private readonly extensive: boolean) {
    for (const [service, methods] of PREREGISTERED) for (const [method, type] of methods) this.add(service, method, type);
  }

  /** Registers grpc_server_* with prom-client, once it is loaded. */
  register(prom: typeof PromClient, registry: Registry): void {
    const { Counter, Histogram } = prom;
    const all = (): MethodStats[] => [...this.methods.values()].flatMap((m) => [...m.values()]);
    new Counter({
      name: 'grpc_server_started_total',
      help: 'Total number of RPCs started on the server.',
      labelNames: ['grpc_type', 'grpc_service', 'grpc_method'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of all()) this.inc(s.labels, s.started);
      },
    });
    new Counter({
      name: 'grpc_server_handled_total',
      help: 'Total number of RPCs completed on the server, regardless of success or failure.',
      labelNames: ['grpc_type', 'grpc_service', 'grpc_method', 'grpc_code'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of all()) {
          for (let c = 0; c < CODE_NAMES.length; c++) this.inc({ ...s.labels, grpc_code: CODE_NAMES[c] }, s.handled[c]);
        }
      },
    });
    if (this.extensive) {
      this.handling = new Histogram({
        name: 'grpc_server_handling_seconds',
        help: 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
        labelNames: ['grpc_type', 'grpc_service', 'grpc_method'],
        buckets: DEF_BUCKETS,
        registers: [registry],
      });
      for (const s of all()) this.observeWith(s);
    }
  }

  started(service: ServiceName, method: string): void {
    this.stats(PACKAGE_OF[service], method).started++;
  }

  finished(service: ServiceName, method: string, code: Code, elapsedMs: number): void {
    const s = this.stats(PACKAGE_OF[service], method);
    s.handled[code >= 0 && code < CODE_NAMES.length ? code : Code.UNKNOWN]++;
    s.observe?.(elapsedMs / 1000);
  }

  private stats(service: string, method: string): MethodStats {
    return this.methods.get(service)?.get(method) ?? this.add(service, method, STREAMING[`${service}/${method}`] ?? 'unary');
  }

  private add(service: string, method: string, type: GrpcType): MethodStats {
    let byMethod = this.methods.get(service);
    if (byMethod === undefined) this.methods.set(service, (byMethod = new Map()));
    const labels = { grpc_type: type, grpc_service: service, grpc_method: method };
    const s: MethodStats = { labels, started: 0, handled: CODE_NAMES.map(() => 0), observe: undefined };
    this.observeWith(s);
    byMethod.set(method, s);
    return s;
  }

  /** With --metrics extensive (and prom-client loaded): a method's latency histogram child. */
  private observeWith(s: MethodStats): void {
    if (this.handling === undefined) return;
    this.handling.zero(s.labels);
    s.observe = this.handling.labels(s.labels).observe;
  }
}
