// Raft's data types, in etcd-io/raft's vocabulary. Pure data: no I/O here.

export enum EntryType {
  Normal = 0,
  ConfChange = 1,
}

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Buffer;
}

export interface HardState {
  term: number;
  /** The member voted for in `term`, or "" for none. */
  vote: MemberId;
  commit: number;
}

export enum MessageType {
  Hup = 'hup', // local: start an election
  Prop = 'prop', // local or forwarded: propose entries
  App = 'app',
  AppResp = 'appResp',
  Vote = 'vote',
  VoteResp = 'voteResp',
  Heartbeat = 'heartbeat',
  HeartbeatResp = 'heartbeatResp',
  PreVote = 'preVote',
  PreVoteResp = 'preVoteResp',
  ReadIndex = 'readIndex', // follower -> leader: confirm leadership, tell me the commit index
  ReadIndexResp = 'readIndexResp',
  TimeoutNow = 'timeoutNow', // leader -> transferee: campaign now, you are up to date
  Snap = 'snap', // leader -> follower: your log is behind what I keep; install my state
}

/** A membership change, carried by a ConfChange entry and applied when it commits. */
export interface ConfChange {
  /** addVoter on a learner promotes it. */
  type: 'addVoter' | 'addLearner' | 'remove';
  id: MemberId;
}

/** A snapshot's place in the log: the state after applying every entry up to index. */
export interface SnapshotMeta {
  index: number;
  term: number;
}

/** Member IDs travel as decimal strings: etcd's IDs are 64-bit and exceed JS's safe integers. */
export type MemberId = string;

export interface Message {
  type: MessageType;
  from: MemberId;
  to: MemberId;
  term: number;
  logTerm: number;
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  rejectHint: number;
  /** ReadIndex: the request's identity, echoed in heartbeats and answers. */
  context?: Buffer;
  /** Snap: where the snapshot sits in the log (its data travels beside the message). */
  snapshot?: SnapshotMeta;
}

export interface SoftState {
  leader: MemberId | undefined;
  role: Role;
}

export enum Role {
  Follower = 'follower',
  PreCandidate = 'preCandidate',
  Candidate = 'candidate',
  Leader = 'leader',
}

/** A linearizable read may be served once this member has applied `index`. */
export interface ReadState {
  index: number;
  context: Buffer;
}

/** What the driver must do next: persist, then send and apply, then call advance(). */
export interface Ready {
  /** Entries to append to stable storage before sending messages. */
  entries: Entry[];
  /** Set when the hard state changed and must be persisted with the entries. */
  hardState: HardState | undefined;
  /** Committed entries to apply, in order. */
  committedEntries: Entry[];
  messages: Message[];
  softState: SoftState;
  /** Answers to readIndex() calls. */
  readStates: ReadState[];
}

export const NO_LEADER: MemberId | undefined = undefined;

export function emptyMessage(type: MessageType, from: MemberId, to: MemberId, term: number): Message {
  return { type, from, to, term, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 };
}

/** etcd prints member IDs in hex; IDs that are not decimal numbers are printed as they are. */
export function hexId(id: MemberId): string {
  return /^[0-9]+$/.test(id) ? BigInt(id).toString(16) : id;
}
