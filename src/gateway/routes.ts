// The gateway's route table: etcd's generated rpc.pb.gw.go, v3lock.pb.gw.go and
// v3election.pb.gw.go patterns (3.5; 3.4's are the same), every one POST. A route names the gRPC
// method it stands for; the gateway serves it with the handler gRPC uses.
import type { ServiceName } from '../etcdserver/pipeline';

export type RouteKind = 'unary' | 'bidi' | 'server-stream';

export interface GatewayRoute {
  service: ServiceName;
  /** The gRPC method name (e.g. "Range"). */
  method: string;
  kind: RouteKind;
}

const svc = (service: ServiceName, kind: RouteKind = 'unary') => (method: string): GatewayRoute => ({ service, method, kind });
const kv = svc('KV');
const lease = svc('Lease');
const cluster = svc('Cluster');
const maintenance = svc('Maintenance');
const auth = svc('Auth');
const lock = svc('Lock');
const election = svc('Election');

/** The proto service a pipeline service name stands for (lock and election have packages of their own). */
export function protoService(service: ServiceName): string {
  if (service === 'Lock') return 'v3lockpb.Lock';
  if (service === 'Election') return 'v3electionpb.Election';
  return `etcdserverpb.${service}`;
}

/** Path after "/v3/" -> route. */
export const GATEWAY_ROUTES: ReadonlyMap<string, GatewayRoute> = new Map([
  ['kv/range', kv('Range')],
  ['kv/put', kv('Put')],
  ['kv/deleterange', kv('DeleteRange')],
  ['kv/txn', kv('Txn')],
  ['kv/compaction', kv('Compact')],
  ['watch', svc('Watch', 'bidi')('Watch')],
  ['lease/grant', lease('LeaseGrant')],
  ['lease/revoke', lease('LeaseRevoke')],
  ['kv/lease/revoke', lease('LeaseRevoke')],
  ['lease/keepalive', svc('Lease', 'bidi')('LeaseKeepAlive')],
  ['lease/timetolive', lease('LeaseTimeToLive')],
  ['kv/lease/timetolive', lease('LeaseTimeToLive')],
  ['lease/leases', lease('LeaseLeases')],
  ['kv/lease/leases', lease('LeaseLeases')],
  ['cluster/member/add', cluster('MemberAdd')],
  ['cluster/member/remove', cluster('MemberRemove')],
  ['cluster/member/update', cluster('MemberUpdate')],
  ['cluster/member/list', cluster('MemberList')],
  ['cluster/member/promote', cluster('MemberPromote')],
  ['maintenance/alarm', maintenance('Alarm')],
  ['maintenance/status', maintenance('Status')],
  ['maintenance/defragment', maintenance('Defragment')],
  ['maintenance/hash', maintenance('Hash')],
  ['maintenance/hashkv', maintenance('HashKV')],
  ['maintenance/snapshot', svc('Maintenance', 'server-stream')('Snapshot')],
  ['maintenance/transfer-leadership', maintenance('MoveLeader')],
  ['maintenance/downgrade', maintenance('Downgrade')],
  ['auth/enable', auth('AuthEnable')],
  ['auth/disable', auth('AuthDisable')],
  ['auth/status', auth('AuthStatus')],
  ['auth/authenticate', auth('Authenticate')],
  ['auth/user/add', auth('UserAdd')],
  ['auth/user/get', auth('UserGet')],
  ['auth/user/list', auth('UserList')],
  ['auth/user/delete', auth('UserDelete')],
  ['auth/user/changepw', auth('UserChangePassword')],
  ['auth/user/grant', auth('UserGrantRole')],
  ['auth/user/revoke', auth('UserRevokeRole')],
  ['auth/role/add', auth('RoleAdd')],
  ['auth/role/get', auth('RoleGet')],
  ['auth/role/list', auth('RoleList')],
  ['auth/role/delete', auth('RoleDelete')],
  ['auth/role/grant', auth('RoleGrantPermission')],
  ['auth/role/revoke', auth('RoleRevokePermission')],
  ['lock/lock', lock('Lock')],
  ['lock/unlock', lock('Unlock')],
  ['election/campaign', election('Campaign')],
  ['election/proclaim', election('Proclaim')],
  ['election/leader', election('Leader')],
  ['election/observe', svc('Election', 'server-stream')('Observe')],
  ['election/resign', election('Resign')],
]);

/** grpc-gateway's HTTPStatusFromCode (v1.16), by gRPC code. */
const HTTP_STATUS_BY_CODE: readonly number[] = [200, 408, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401];

export function httpStatusFromCode(code: number): number {
  return HTTP_STATUS_BY_CODE[code] ?? 500;
}
