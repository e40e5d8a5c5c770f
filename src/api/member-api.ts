// What the client-facing services need of the member: its typed calls (etcdserver/server.ts
// implements them). api/ sees only this: no LMDB, no Raft internals.
import type { Caller } from '../etcdserver/pipeline';
import type * as pb from '../pb/types';
import type { WatchableStore } from '../watch/watchable-store';

/** A snapshot being produced from one pinned read view (see MemberApi.snapshot). */
export interface MemberSnapshot {
  /** Bytes of the bbolt db, the trailer not counted (etcd's remaining_bytes counts down from it). */
  readonly dbBytes: number;
  /** The db in chunks, then its 32-byte sha256 as the last chunk. */
  readonly chunks: Iterator<Buffer>;
  /** Releases the read view; call once the stream ends or the client goes away. */
  release(): void;
}

/**
 * The Auth service's typed calls (etcdserver/auth-service.ts, as etcd's v3_server.go), each run
 * as its caller (all but Authenticate go through Raft with the caller's identity), and the one
 * auth check a stream handler makes itself: a watch create's.
 */
export interface AuthApi {
  /** Whether auth is enabled now (watch creates are checked only then). */
  enabled(): boolean;
  /** etcd's isWatchPermitted: undefined, or the cancel reason of the refused watch create. */
  watchRefusal(caller: Caller, key: Buffer, rangeEnd: Buffer): Promise<string | undefined>;
  authEnable(caller: Caller): Promise<void>;
  authDisable(caller: Caller): Promise<void>;
  authStatus(caller: Caller): Promise<{ enabled: boolean; authRevision: number }>;
  /** The token for the user (simple or JWT, as --auth-token says). */
  authenticate(req: pb.AuthenticateRequest): Promise<string>;
  userAdd(req: pb.AuthUserAddRequest, caller: Caller): Promise<void>;
  userDelete(req: pb.AuthUserDeleteRequest, caller: Caller): Promise<void>;
  userChangePassword(req: pb.AuthUserChangePasswordRequest, caller: Caller): Promise<void>;
  userGrantRole(req: pb.AuthUserGrantRoleRequest, caller: Caller): Promise<void>;
  /** The user's roles. */
  userGet(req: pb.AuthUserGetRequest, caller: Caller): Promise<string[]>;
  userList(caller: Caller): Promise<string[]>;
  userRevokeRole(req: pb.AuthUserRevokeRoleRequest, caller: Caller): Promise<void>;
  roleAdd(req: pb.AuthRoleAddRequest, caller: Caller): Promise<void>;
  /** The role's permissions, by key. */
  roleGet(req: pb.AuthRoleGetRequest, caller: Caller): Promise<pb.PermissionPb[]>;
  roleList(caller: Caller): Promise<string[]>;
  roleDelete(req: pb.AuthRoleDeleteRequest, caller: Caller): Promise<void>;
  roleGrantPermission(req: pb.AuthRoleGrantPermissionRequest, caller: Caller): Promise<void>;
  roleRevokePermission(req: pb.AuthRoleRevokePermissionRequest, caller: Caller): Promise<void>;
}

/**
 * The member's typed calls. Each takes its Caller (the handler's CallContext): the identity the
 * call runs as, looked up where etcd looks it up (see pipeline.ts).
 */
export interface MemberApi {
  readonly maxRequestBytes: number;
  readonly maxTxnOps: number;
  /** HTTP/2 streams per client connection (--max-concurrent-streams). */
  readonly maxConcurrentStreams: number;
  /** Server pings of quiet client connections (--grpc-keepalive-interval, --grpc-keepalive-timeout). */
  readonly grpcKeepalive: { intervalMs: number; timeoutMs: number };
  /** Where watch streams register their watchers (fed by this member's applies). */
  readonly watchable: WatchableStore;
  readonly auth: AuthApi;
  /**
   * Fills cluster_id, member_id, raft_term and the revision: the current one when not given,
   * none (0) when null, as etcd's Cluster service leaves it out.
   */
  header(revision?: number | null): pb.ResponseHeader;
  hasLeader(): boolean;
  onLeaderChange(listener: (leader: string | undefined) => void): () => void;

  /** Serializable ranges are served locally, others after a linearizable read barrier. */
  range(req: pb.RangeRequest, caller: Caller): Promise<pb.RangeResponse>;
  put(req: pb.PutRequest, caller: Caller): Promise<pb.PutResponse>;
  deleteRange(req: pb.DeleteRangeRequest, caller: Caller): Promise<pb.DeleteRangeResponse>;
  txn(req: pb.TxnRequest, caller: Caller): Promise<pb.TxnResponse>;
  compact(req: pb.CompactionRequest, caller: Caller): Promise<pb.CompactionResponse>;

  leaseGrant(req: pb.LeaseGrantRequest, caller: Caller): Promise<pb.LeaseGrantResponse>;
  leaseRevoke(req: pb.LeaseRevokeRequest, caller: Caller): Promise<pb.LeaseRevokeResponse>;
  /** A keep-alive: the lease's TTL, 0 when it is not found (any more). */
  leaseRenew(id: bigint): Promise<number>;
  /** TTL -1 when not found. */
  leaseTimeToLive(req: pb.LeaseTimeToLiveRequest, caller: Caller): Promise<pb.LeaseTimeToLiveResponse>;
  leaseLeases(): pb.LeaseLeasesResponse;

  memberList(): pb.Member[];
  memberAdd(req: pb.MemberAddRequest, caller: Caller): Promise<{ member: pb.Member; members: pb.Member[] }>;
  memberRemove(req: pb.MemberIdRequest, caller: Caller): Promise<pb.Member[]>;
  memberUpdate(req: pb.MemberIdRequest, caller: Caller): Promise<pb.Member[]>;
  memberPromote(req: pb.MemberIdRequest, caller: Caller): Promise<pb.Member[]>;

  status(): pb.StatusResponse;
  alarm(req: pb.AlarmRequest, caller: Caller): Promise<pb.AlarmResponse>;
  /** Defragments this member's store (not the cluster's, as etcd). */
  defragment(caller: Caller): Promise<void>;
  hash(caller: Caller): Promise<pb.HashResponse>;
  /** etcd's HashKV at revision (0 = current); the header's revision is the one hashed. */
  hashKV(req: pb.HashKVRequest, caller: Caller): Promise<pb.HashKVResponse>;
  /** etcd's Snapshot: a bbolt file of this member's state with etcd's buckets (snapshot/etcd-layout.ts). */
  snapshot(caller: Caller): Promise<MemberSnapshot>;
  /** etcd 3.5's Downgrade: VALIDATE, ENABLE or CANCEL a downgrade of the cluster version by one minor. */
  downgrade(req: pb.DowngradeRequest, caller: Caller): Promise<pb.DowngradeResponse>;
  /** Hands leadership to targetID; resolves once it leads. */
  moveLeader(req: pb.MoveLeaderRequest): Promise<void>;
}
