// The gateway's JSON shapes (golang/protobuf jsonpb as etcd's gateway writes them): int64s are
// decimal strings, bytes base64, and fields at their default value are left out, so every field
// here is optional and read with a default.

export interface ResponseHeader {
  cluster_id?: string;
  member_id?: string;
  revision?: string;
  raft_term?: string;
}

export interface KeyValueJson {
  key?: string;
  create_revision?: string;
  mod_revision?: string;
  version?: string;
  value?: string;
  lease?: string;
}

export interface RangeResponseJson {
  header?: ResponseHeader;
  kvs?: KeyValueJson[];
  more?: boolean;
  count?: string;
}

export interface EventJson {
  type?: 'PUT' | 'DELETE';
  kv?: KeyValueJson;
  prev_kv?: KeyValueJson;
}

export interface WatchResponseJson {
  header?: ResponseHeader;
  watch_id?: string;
  created?: boolean;
  canceled?: boolean;
  compact_revision?: string;
  cancel_reason?: string;
  fragment?: boolean;
  events?: EventJson[];
}

export interface MemberJson {
  ID?: string;
  name?: string;
  peerURLs?: string[];
  clientURLs?: string[];
  isLearner?: boolean;
}

export interface StatusJson {
  header?: ResponseHeader;
  version?: string;
  dbSize?: string;
  leader?: string;
  raftIndex?: string;
  raftTerm?: string;
  raftAppliedIndex?: string;
  errors?: string[];
  dbSizeInUse?: string;
  isLearner?: boolean;
}

export interface AlarmJson {
  memberID?: string;
  alarm?: 'NONE' | 'NOSPACE' | 'CORRUPT';
}

export interface PermissionJson {
  permType?: 'READ' | 'WRITE' | 'READWRITE';
  key?: string;
  range_end?: string;
}

/** A key-value with numbers and bytes decoded. */
export interface KeyValue {
  key: Uint8Array;
  value: Uint8Array;
  createRevision: number;
  modRevision: number;
  version: number;
  /** Decimal lease ID, "" for none. */
  lease: string;
}

export const num = (s: string | undefined): number => (s === undefined ? 0 : Number(s));
