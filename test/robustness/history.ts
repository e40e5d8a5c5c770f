// The recorded history of a robustness run: what every client asked, when, and what it heard
// back (or that it heard nothing: an unknown outcome), plus what every watcher received. The
// harness (run.ts) writes it; the checkers (check-*.ts) read it. Plain JSON-able data.

/** Times are ms on one monotonic clock (performance.now() of the harness process). */
export type Op =
  | { type: 'put'; key: string; value: string; lease?: string }
  | { type: 'get'; key: string; serializable: boolean }
  | { type: 'delete'; key: string }
  /**
   * Kubernetes' optimistic update: if the key's mod_revision equals expectModRev (0 = the key
   * does not exist), put value; else read the key.
   */
  | { type: 'txn'; key: string; expectModRev: number; value: string }
  | { type: 'lease-grant'; ttl: number }
  | { type: 'lease-revoke'; lease: string }
  | { type: 'lease-keepalive'; lease: string }
  | { type: 'compact'; revision: number };

export interface Result {
  /** Header revision of the response. */
  revision: number;
  /** get / failed txn: the value read (null: no such key) and its mod_revision (0 if none). */
  value?: string | null;
  modRevision?: number;
  /** txn: whether the compare held (the put happened). */
  succeeded?: boolean;
  /** lease-grant: the lease ID; lease-keepalive: the TTL answered. */
  lease?: string;
  ttl?: number;
}

export interface Call {
  id: number;
  client: number;
  /** The member endpoint the call went to. */
  endpoint: string;
  op: Op;
  invokeMs: number;
  /** Undefined while the call has not returned. */
  completeMs?: number;
  /**
   * ok: the server answered with success. fail: it answered with an error that means the
   * operation did not happen (e.g. a failed precondition, compacted). unknown: no answer or an
   * error after which it may have happened (timeout, connection lost, leader changed).
   */
  outcome: 'ok' | 'fail' | 'unknown';
  result?: Result;
  error?: string;
}

export interface WatchEvent {
  type: 'put' | 'delete';
  key: string;
  /** put only; values are unique per write, so an event names the call that made it. */
  value?: string;
  modRevision: number;
  createRevision: number;
  version: number;
}

/** One watcher session: a watch created on one member, ended by a fault or by the run's end. */
export interface WatchSession {
  watcher: number;
  endpoint: string;
  /** Watched range: [key, rangeEnd) ('' rangeEnd: the key alone). */
  key: string;
  rangeEnd: string;
  startRevision: number;
  /** Every response with events, in arrival order. */
  responses: { revision: number; events: WatchEvent[]; atMs: number }[];
  /** Set when the server canceled it for compaction. */
  compactRevision?: number;
  endedMs?: number;
}

/** What fault-kinds.ts describes (and the harness injects). */
export type FaultKind =
  | 'kill'
  | 'stop'
  | 'sigterm-quorum'
  | 'sigterm-all'
  | 'partition'
  | 'blackhole-one-way'
  | 'blackhole-follower'
  | 'blackhole-leader'
  | 'blackhole-quorum'
  | 'blackhole-all'
  | 'delay-follower'
  | 'delay-leader'
  | 'delay-quorum'
  | 'delay-all'
  | 'transfer-leader'
  | 'rolling-restart'
  | 'partition-rolling-restart'
  | 'replace-member'
  | 'readd-member'
  | 'snapshot-catch-up'
  | 'fuzz';

export interface Fault {
  kind: FaultKind;
  target: string;
  startMs: number;
  endMs?: number;
  detail?: string;
  /** When the fault was lifted (healed, continued, restarted): liveness is measured from here. */
  liftedMs?: number;
  /** Ms from liftedMs until every member had a leader and served a linearizable read. */
  recoveryMs?: number;
}

export interface History {
  seed: number;
  calls: Call[];
  watches: WatchSession[];
  faults: Fault[];
  /**
   * The whole committed history: every event from revision 2 (the first write) to
   * finalRevision, recorded by a dedicated reference watcher that started at revision 1 and
   * resumed on another member (from its last revision + 1) whenever its member failed. The
   * workload compacts only below what this watcher has received, so nothing is lost to
   * compaction. The checkers compare everything against it (after checking it themselves:
   * revisions contiguous, and at the end equal to a Range of every key on a healthy member).
   */
  finalEvents: WatchEvent[];
  /** Key -> [value, modRevision] read with a linearizable Range at the end (absent keys left out). */
  finalState: Record<string, [string, number]>;
  finalRevision: number;
}

export interface Verdict {
  checker: 'linearizability' | 'watch' | 'durability';
  /** unknown: the search ran out of time (never counted as a pass). */
  result: 'ok' | 'violation' | 'unknown';
  /** What was wrong, and the smallest piece of history that shows it. */
  message?: string;
  evidence?: unknown;
}
