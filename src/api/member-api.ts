// What the client-facing services need of the member: its typed calls (etcdserver/server.ts
// implements them). api/ sees only this: no LMDB, no Raft internals.
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

export interface MemberApi {
  readonly maxRequestBytes: number;
  readonly maxTxnOps: number;
  /** HTTP/2 streams per client connection (--max-concurrent-streams). */
  readonly maxConcurrentStreams: number;
  /** Where watch streams register their watchers (fed by this member's applies). */
  readonly watchable: WatchableStore;
  /**
   * Fills cluster_id, member_id, raft_term and the revision: the current one when not given,
   * none (0) when null, as etcd's Cluster service leaves it out.
   */
  header(revision?: number | null): pb.ResponseHeader;
  hasLeader(): boolean;
  onLeaderChange(listener: (leader: string | undefined) => void): () => void;

  /** Serializable ranges are served locally, others after a linearizable read barrier. */
  range(req: pb.RangeRequest): Promise<pb.RangeResponse>;
  put(req: pb.PutRequest): Promise<pb.PutResponse>;
  deleteRange(req: pb.DeleteRangeRequest): Promise<pb.DeleteRangeResponse>;
  txn(req: pb.TxnRequest): Promise<pb.TxnResponse>;
  compact(req: pb.CompactionRequest): Promise<pb.CompactionResponse>;

  leaseGrant(req: pb.LeaseGrantRequest): Promise<pb.LeaseGrantResponse>;
  leaseRevoke(req: pb.LeaseRevokeRequest): Promise<pb.LeaseRevokeResponse>;
  /** A keep-alive: the lease's TTL, 0 when it is not found (any more). */
  leaseRenew(id: bigint): Promise<number>;
  /** TTL -1 when not found. */
  leaseTimeToLive(req: pb.LeaseTimeToLiveRequest): Promise<pb.LeaseTimeToLiveResponse>;
  leaseLeases(): pb.LeaseLeasesResponse;

  memberList(): pb.Member[];
  memberAdd(req: pb.MemberAddRequest): Promise<{ member: pb.Member; members: pb.Member[] }>;
  memberRemove(req: pb.MemberIdRequest): Promise<pb.Member[]>;
  memberUpdate(req: pb.MemberIdRequest): Promise<pb.Member[]>;
  memberPromote(req: pb.MemberIdRequest): Promise<pb.Member[]>;

  status(): pb.StatusResponse;
  alarm(req: pb.AlarmRequest): Promise<pb.AlarmResponse>;
  /** Defragments this member's store (not the cluster's, as etcd). */
  defragment(): Promise<void>;
  hash(): pb.HashResponse;
  /** etcd's HashKV at revision (0 = current); the header's revision is the one hashed. */
  hashKV(req: pb.HashKVRequest): pb.HashKVResponse;
  /** etcd's Snapshot: a bbolt file of this member's state with etcd's buckets (snapshot/etcd-layout.ts). */
  snapshot(): MemberSnapshot;
  /** etcd 3.5's Downgrade: VALIDATE, ENABLE or CANCEL a downgrade of the cluster version by one minor. */
  downgrade(req: pb.DowngradeRequest): Promise<pb.DowngradeResponse>;
  /** Hands leadership to targetID; resolves once it leads. */
  moveLeader(req: pb.MoveLeaderRequest): Promise<void>;
}
