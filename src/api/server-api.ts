// What the gRPC services need from the member. api/ sees only this: no LMDB, no Raft internals.
import type { WatchableStore } from '../watch/watchable-store';
import type { Member, RangeRequest, RangeResponse, ResponseHeader, TxnRequest, TxnResponse, InternalRequest } from '../pb/types';

export interface MemberStatus {
  version: string;
  dbSize: number;
  dbSizeInUse: number;
  leader: string;
  raftIndex: number;
  raftTerm: number;
  raftAppliedIndex: number;
  isLearner: boolean;
  errors: string[];
}

export interface EtcdServerApi {
  readonly maxRequestBytes: number;
  readonly maxTxnOps: number;
  /** Where watch streams register their watchers (fed by this member's applies). */
  readonly watchable: WatchableStore;
  /**
   * Fills cluster_id, member_id, raft_term and the revision: the current one when not given,
   * none (0) when null, as etcd's Cluster service leaves it out.
   */
  header(revision?: number | null): ResponseHeader;
  /** Serves a read: serializable reads locally, others after a linearizable read barrier. */
  range(req: RangeRequest): Promise<RangeResponse>;
  /** A txn whose ops are all ranges, served without raft; `serializable` skips the linearizable read barrier. */
  readOnlyTxn(req: TxnRequest, serializable: boolean): Promise<TxnResponse>;
  /** Proposes a change through Raft and resolves with its apply result (or rejects with EtcdError). */
  propose(req: InternalRequest): Promise<object>;
  status(): MemberStatus;
  /** etcd's HashKV at revision (0 = current), over the committed state. */
  hashKV(revision: number): { hash: number; revision: number; compacted: number; hashRevision: number };
  /** etcd's Hash: all MVCC state. */
  hash(): number;
  /** Hands leadership to the member `target` (decimal ID); resolves once it leads. */
  moveLeader(target: string): Promise<void>;
  /** Whether this member knows of a leader. */
  hasLeader(): boolean;
  members(): Member[];
  memberAdd(peerUrls: string[], isLearner: boolean): Promise<{ member: Member; members: Member[] }>;
  memberRemove(id: string): Promise<Member[]>;
  memberUpdate(id: string, peerUrls: string[]): Promise<Member[]>;
  memberPromote(id: string): Promise<Member[]>;
  /** Grants a lease (id 0: the server picks one); resolves with the ID and TTL granted. */
  leaseGrant(ttl: number, id: bigint): Promise<{ ID: string; TTL: number; revision: number }>;
  /** Resolves with the revision after the revoke was applied. */
  leaseRevoke(id: bigint): Promise<number>;
  /** A keep-alive: the lease's TTL, 0 when it is not found (any more). */
  leaseRenew(id: bigint): Promise<number>;
  /** TTL -1 when not found; keys as base64. */
  leaseTimeToLive(id: bigint, keys: boolean): Promise<{ ID: string; TTL: number; grantedTTL: number; keys: string[] }>;
  leaseIds(): string[];
}
