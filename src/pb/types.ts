// TypeScript shapes of the etcd messages as decoded with CONVERSION (see load.ts): 64-bit
// integers arrive as decimal strings, bytes as Buffers, enums as numbers, oneofs name their case.
// Responses may carry 64-bit integers as numbers or strings; the encoder takes both.

export type Int64 = string | number;

export interface ResponseHeader {
  cluster_id: Int64;
  member_id: Int64;
  revision: Int64;
  raft_term: Int64;
}

export interface KeyValuePb {
  key: Buffer;
  create_revision: Int64;
  mod_revision: Int64;
  version: Int64;
  value: Buffer;
  lease: Int64;
}

export enum SortOrder {
  NONE = 0,
  ASCEND = 1,
  DESCEND = 2,
}

export enum SortTarget {
  KEY = 0,
  VERSION = 1,
  CREATE = 2,
  MOD = 3,
  VALUE = 4,
}

export interface RangeRequest {
  key: Buffer;
  range_end: Buffer;
  limit: Int64;
  revision: Int64;
  sort_order: SortOrder;
  sort_target: SortTarget;
  serializable: boolean;
  keys_only: boolean;
  count_only: boolean;
  min_mod_revision: Int64;
  max_mod_revision: Int64;
  min_create_revision: Int64;
  max_create_revision: Int64;
}

export interface RangeResponse {
  header?: Partial<ResponseHeader>;
  kvs: KeyValuePb[];
  more: boolean;
  count: Int64;
}

export interface PutRequest {
  key: Buffer;
  value: Buffer;
  lease: Int64;
  prev_kv: boolean;
  ignore_value: boolean;
  ignore_lease: boolean;
}

export interface PutResponse {
  header?: Partial<ResponseHeader>;
  prev_kv?: KeyValuePb;
}

export interface DeleteRangeRequest {
  key: Buffer;
  range_end: Buffer;
  prev_kv: boolean;
}

export interface DeleteRangeResponse {
  header?: Partial<ResponseHeader>;
  deleted: Int64;
  prev_kvs: KeyValuePb[];
}

export interface RequestOp {
  request?: 'request_range' | 'request_put' | 'request_delete_range' | 'request_txn';
  request_range?: RangeRequest;
  request_put?: PutRequest;
  request_delete_range?: DeleteRangeRequest;
  request_txn?: TxnRequest;
}

export interface ResponseOp {
  response_range?: RangeResponse;
  response_put?: PutResponse;
  response_delete_range?: DeleteRangeResponse;
  response_txn?: TxnResponse;
}

export enum CompareResult {
  EQUAL = 0,
  GREATER = 1,
  LESS = 2,
  NOT_EQUAL = 3,
}

export enum CompareTarget {
  VERSION = 0,
  CREATE = 1,
  MOD = 2,
  VALUE = 3,
  LEASE = 4,
}

export interface Compare {
  result: CompareResult;
  target: CompareTarget;
  key: Buffer;
  target_union?: 'version' | 'create_revision' | 'mod_revision' | 'value' | 'lease';
  version?: Int64;
  create_revision?: Int64;
  mod_revision?: Int64;
  value?: Buffer;
  lease?: Int64;
  range_end: Buffer;
}

export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
}

export interface TxnResponse {
  header?: Partial<ResponseHeader>;
  succeeded: boolean;
  responses: ResponseOp[];
}

export interface CompactionRequest {
  revision: Int64;
  physical: boolean;
}

export interface MoveLeaderRequest {
  targetID: Int64;
}

export interface HashKVRequest {
  revision: Int64;
}

export interface CompactionResponse {
  header?: Partial<ResponseHeader>;
}

/** A Raft log entry's payload (proto/etcdtspb/internal.proto). */
export interface InternalRequest {
  put?: PutRequest | null;
  delete_range?: DeleteRangeRequest | null;
  txn?: TxnRequest | null;
  compaction?: CompactionRequest | null;
  member_attributes?: MemberAttributes | null;
  lease_grant?: LeaseGrantRequest | null;
  lease_revoke?: LeaseRevokeRequest | null;
  alarm?: AlarmRequest | null;
  downgrade_info_set?: DowngradeInfoSetRequest | null;
  auth_enable?: object | null;
  auth_disable?: object | null;
  auth_status?: object | null;
  authenticate?: InternalAuthenticateRequest | null;
  auth_user_add?: AuthUserAddRequest | null;
  auth_user_delete?: AuthUserDeleteRequest | null;
  auth_user_change_password?: AuthUserChangePasswordRequest | null;
  auth_user_grant_role?: AuthUserGrantRoleRequest | null;
  auth_user_get?: AuthUserGetRequest | null;
  auth_user_revoke_role?: AuthUserRevokeRoleRequest | null;
  auth_user_list?: object | null;
  auth_role_add?: AuthRoleAddRequest | null;
  auth_role_get?: AuthRoleGetRequest | null;
  auth_role_grant_permission?: AuthRoleGrantPermissionRequest | null;
  auth_role_revoke_permission?: AuthRoleRevokePermissionRequest | null;
  auth_role_delete?: AuthRoleDeleteRequest | null;
  auth_role_list?: object | null;
  /** Who proposed it (etcd's RequestHeader username and auth_revision); absent: no identity. */
  header?: RequestHeader | null;
}

/** etcd's RequestHeader in a proposal, without its ID. */
export interface RequestHeader {
  username: string;
  auth_revision: Int64;
}

/** Enables a downgrade to `ver` ("3.4.0"), or cancels it (enabled false, ver ""); etcd's membershippb one. */
export interface DowngradeInfoSetRequest {
  enabled: boolean;
  ver: string;
}

export interface LeaseGrantRequest {
  TTL: Int64;
  ID: Int64;
}

export interface LeaseRevokeRequest {
  ID: Int64;
}

export interface MemberAttributes {
  id: Int64;
  name: string;
  client_urls: string[];
}

export interface Member {
  ID: Int64;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export interface WatchCreateRequestPb {
  key: Buffer;
  range_end: Buffer;
  start_revision: Int64;
  progress_notify: boolean;
  /** FilterType: 0 NOPUT, 1 NODELETE. */
  filters: number[];
  prev_kv: boolean;
  watch_id: Int64;
  fragment: boolean;
}

export interface WatchRequestPb {
  request_union?: 'create_request' | 'cancel_request' | 'progress_request';
  create_request?: WatchCreateRequestPb;
  cancel_request?: { watch_id: Int64 };
  progress_request?: object;
}

export interface EventPb {
  /** 0 PUT, 1 DELETE. */
  type: number;
  kv: KeyValuePb;
  prev_kv?: KeyValuePb;
}

export interface WatchResponsePb {
  header: Partial<ResponseHeader>;
  watch_id: Int64;
  created?: boolean;
  canceled?: boolean;
  compact_revision?: Int64;
  cancel_reason?: string;
  fragment?: boolean;
  /** Decoded events, or events encoded already (fast-codec's encodeEvent). */
  events: (EventPb | Buffer)[];
}

// Lease, Cluster and Maintenance messages: what the member's typed calls resolve with. Headers
// are filled by api/ (cluster and member IDs, term) from the revision the call leaves in them.

export interface LeaseGrantResponse {
  header?: Partial<ResponseHeader>;
  ID: Int64;
  TTL: Int64;
  error: string;
}

export interface LeaseRevokeResponse {
  header?: Partial<ResponseHeader>;
}

export interface LeaseKeepAliveRequest {
  ID: Int64;
}

export interface LeaseKeepAliveResponse {
  header?: Partial<ResponseHeader>;
  ID: Int64;
  TTL: Int64;
}

export interface LeaseTimeToLiveRequest {
  ID: Int64;
  keys: boolean;
}

export interface LeaseTimeToLiveResponse {
  header?: Partial<ResponseHeader>;
  ID: Int64;
  TTL: Int64;
  grantedTTL: Int64;
  keys: Buffer[];
}

export interface LeaseLeasesResponse {
  header?: Partial<ResponseHeader>;
  leases: { ID: Int64 }[];
}

export interface MemberAddRequest {
  peerURLs: string[];
  isLearner: boolean;
}

export interface MemberIdRequest {
  ID: Int64;
  peerURLs?: string[];
}

export interface MemberListResponse {
  header?: Partial<ResponseHeader>;
  members: Member[];
}

export interface MemberAddResponse {
  header?: Partial<ResponseHeader>;
  member: Member;
  members: Member[];
}

export interface StatusResponse {
  header?: Partial<ResponseHeader>;
  version: string;
  dbSize: Int64;
  leader: Int64;
  raftIndex: Int64;
  raftTerm: Int64;
  raftAppliedIndex: Int64;
  errors: string[];
  dbSizeInUse: Int64;
  isLearner: boolean;
  /** etcd 3.6's field 13; we fill it only once the cluster has a downgrade record. */
  downgradeInfo?: DowngradeInfo;
}

export interface DowngradeInfo {
  enabled: boolean;
  targetVersion: string;
}

export enum DowngradeAction {
  VALIDATE = 0,
  ENABLE = 1,
  CANCEL = 2,
}

export interface DowngradeRequest {
  action: DowngradeAction;
  version: string;
}

export interface DowngradeResponse {
  header?: Partial<ResponseHeader>;
  /** The cluster version, as etcd prints it ("3.5.0"). */
  version: string;
}

export interface HashResponse {
  header?: Partial<ResponseHeader>;
  hash: number;
}

export interface HashKVResponse {
  header?: Partial<ResponseHeader>;
  hash: number;
  compact_revision: Int64;
  hash_revision: Int64;
}

export interface MoveLeaderResponse {
  header?: Partial<ResponseHeader>;
}

export enum AlarmType {
  NONE = 0,
  NOSPACE = 1,
  CORRUPT = 2,
}

export enum AlarmAction {
  GET = 0,
  ACTIVATE = 1,
  DEACTIVATE = 2,
}

export interface AlarmRequest {
  action: AlarmAction;
  /** 0 = every member. */
  memberID: Int64;
  alarm: AlarmType;
}

export interface AlarmMember {
  memberID: Int64;
  alarm: AlarmType;
}

export interface AlarmResponse {
  header?: Partial<ResponseHeader>;
  alarms: AlarmMember[];
}

export interface DefragmentResponse {
  header?: Partial<ResponseHeader>;
}

// Auth messages (etcdserverpb's Auth* and authpb's Permission), as decoded with CONVERSION.

export interface AuthenticateRequest {
  name: string;
  password: string;
}

/** What Authenticate proposes: the password was checked before (etcd's InternalAuthenticateRequest). */
export interface InternalAuthenticateRequest {
  name: string;
  simple_token: string;
}

export interface AuthUserAddRequest {
  name: string;
  password: string;
  options?: { no_password?: boolean } | null;
  /** base64 of the bcrypt hash, filled before proposing. */
  hashedPassword: string;
}

export interface AuthUserGetRequest {
  name: string;
}

export interface AuthUserDeleteRequest {
  name: string;
}

export interface AuthUserChangePasswordRequest {
  name: string;
  password: string;
  hashedPassword: string;
}

export interface AuthUserGrantRoleRequest {
  user: string;
  role: string;
}

export interface AuthUserRevokeRoleRequest {
  name: string;
  role: string;
}

export interface AuthRoleAddRequest {
  name: string;
}

export interface AuthRoleGetRequest {
  role: string;
}

export interface AuthRoleDeleteRequest {
  role: string;
}

/** authpb.Permission: permType READ 0, WRITE 1, READWRITE 2. */
export interface PermissionPb {
  permType: number;
  key: Buffer;
  range_end: Buffer;
}

export interface AuthRoleGrantPermissionRequest {
  name: string;
  perm?: PermissionPb | null;
}

export interface AuthRoleRevokePermissionRequest {
  role: string;
  key: Buffer;
  range_end: Buffer;
}

/** Every Auth response: a header, and what the call returns. */
export interface AuthStatusResponse {
  header?: Partial<ResponseHeader>;
  enabled: boolean;
  authRevision: Int64;
}

export interface AuthenticateResponse {
  header?: Partial<ResponseHeader>;
  token: string;
}

export interface AuthUserGetResponse {
  header?: Partial<ResponseHeader>;
  roles: string[];
}

export interface AuthUserListResponse {
  header?: Partial<ResponseHeader>;
  users: string[];
}

export interface AuthRoleGetResponse {
  header?: Partial<ResponseHeader>;
  perm: PermissionPb[];
}

export interface AuthRoleListResponse {
  header?: Partial<ResponseHeader>;
  roles: string[];
}

/** The responses that carry only a header (AuthEnable, UserAdd, RoleGrantPermission, ...). */
export interface AuthHeaderResponse {
  header?: Partial<ResponseHeader>;
}

// --- v3lockpb (proto/v3lockpb/v3lock.proto) ---

export interface LockRequest {
  name: Buffer;
  lease: Int64;
}

export interface LockResponse {
  header?: Partial<ResponseHeader>;
  key: Buffer;
}

export interface UnlockRequest {
  key: Buffer;
}

export interface UnlockResponse {
  header?: Partial<ResponseHeader>;
}

// --- v3electionpb (proto/v3electionpb/v3election.proto) ---

/** A held leadership: the election's name, the leader's key, its create revision and lease. */
export interface LeaderKey {
  name: Buffer;
  key: Buffer;
  rev: Int64;
  lease: Int64;
}

export interface CampaignRequest {
  name: Buffer;
  lease: Int64;
  value: Buffer;
}

export interface CampaignResponse {
  header?: Partial<ResponseHeader>;
  leader: LeaderKey;
}

export interface ProclaimRequest {
  leader?: LeaderKey | null;
  value: Buffer;
}

export interface ProclaimResponse {
  header?: Partial<ResponseHeader>;
}

export interface LeaderRequest {
  name: Buffer;
}

export interface LeaderResponse {
  header?: Partial<ResponseHeader>;
  kv: KeyValuePb;
}

export interface ResignRequest {
  leader?: LeaderKey | null;
}

export interface ResignResponse {
  header?: Partial<ResponseHeader>;
}

// --- grpc.health.v1 (proto/grpc/health/v1/health.proto) ---

export enum ServingStatus {
  UNKNOWN = 0,
  SERVING = 1,
  NOT_SERVING = 2,
  SERVICE_UNKNOWN = 3,
}

export interface HealthCheckRequest {
  service: string;
}

export interface HealthCheckResponse {
  status: ServingStatus;
}
