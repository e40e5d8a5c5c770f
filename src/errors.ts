// etcd's client-facing errors: gRPC status code and the exact message string, which clients match
// on (etcd's rpctypes). Raised anywhere below api/; api/ turns them into gRPC statuses.

/** gRPC status codes (numbers fixed by the gRPC spec), so that modules below api/ need no gRPC. */
export enum Code {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  DATA_LOSS = 15,
  UNAUTHENTICATED = 16,
}

export class EtcdError extends Error {
  constructor(readonly code: Code, message: string) {
    super(message);
  }
}

/** An error constructor: each call makes a fresh EtcdError with this code and message. */
export const e = (code: Code, message: string) => (): EtcdError => new EtcdError(code, message);

export const Errors = {
  emptyKey: e(Code.INVALID_ARGUMENT, 'etcdserver: key is not provided'),
  keyNotFound: e(Code.INVALID_ARGUMENT, 'etcdserver: key not found'),
  valueProvided: e(Code.INVALID_ARGUMENT, 'etcdserver: value is provided'),
  leaseProvided: e(Code.INVALID_ARGUMENT, 'etcdserver: lease is provided'),
  tooManyOps: e(Code.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'),
  duplicateKey: e(Code.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'),
  invalidSortOption: e(Code.INVALID_ARGUMENT, 'etcdserver: invalid sort option'),
  compacted: e(Code.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'),
  futureRev: e(Code.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'),
  noSpace: e(Code.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'),
  corrupt: e(Code.DATA_LOSS, 'etcdserver: corrupt cluster'),
  leaseNotFound: e(Code.NOT_FOUND, 'etcdserver: requested lease not found'),
  leaseExist: e(Code.FAILED_PRECONDITION, 'etcdserver: lease already exists'),
  leaseTTLTooLarge: e(Code.OUT_OF_RANGE, 'etcdserver: too large lease TTL'),
  requestTooLarge: e(Code.INVALID_ARGUMENT, 'etcdserver: request is too large'),
  noLeader: e(Code.UNAVAILABLE, 'etcdserver: no leader'),
  notLeader: e(Code.FAILED_PRECONDITION, 'etcdserver: not leader'),
  badLeaderTransferee: e(Code.FAILED_PRECONDITION, 'etcdserver: bad leader transferee'),
  leaderTransferTimeout: e(Code.UNAVAILABLE, 'etcdserver: request timed out, leader transfer took too long'),
  stopped: e(Code.UNAVAILABLE, 'etcdserver: server stopped'),
  timeout: e(Code.UNAVAILABLE, 'etcdserver: request timed out'),
  /** The leader had not applied what it committed within a second (etcd's waitAppliedIndex, before a lease lookup). */
  timeoutWaitAppliedIndex: e(Code.UNAVAILABLE, 'etcdserver: request timed out, waiting for the applied index took too long'),
  /** A proposal no leader took within the request timeout: etcd 3.4 passes its context's error on as is. */
  contextDeadline: e(Code.UNKNOWN, 'context deadline exceeded'),
  memberNotFound: e(Code.NOT_FOUND, 'etcdserver: member not found'),
  memberExist: e(Code.FAILED_PRECONDITION, 'etcdserver: member ID already exist'),
  peerUrlExist: e(Code.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists'),
  memberBadUrls: e(Code.INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid'),
  downgradeWrongVersionFormat: e(Code.INVALID_ARGUMENT, 'etcdserver: wrong downgrade target version format'),
  downgradeInvalidTargetVersion: e(Code.INVALID_ARGUMENT, 'etcdserver: invalid downgrade target version'),
  downgradeInProgress: e(Code.FAILED_PRECONDITION, 'etcdserver: cluster has a downgrade job in progress'),
  downgradeNoInflight: e(Code.FAILED_PRECONDITION, 'etcdserver: no inflight downgrade job'),
  /** A Downgrade action outside VALIDATE/ENABLE/CANCEL: etcd's ErrUnknownMethod has no gRPC mapping, so Unknown. */
  unknownMethod: e(Code.UNKNOWN, 'etcdserver: unknown method'),
  memberNotLearner: e(Code.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member'),
  learnerNotReady: e(Code.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member which is in sync with leader'),
  tooManyLearners: e(Code.FAILED_PRECONDITION, 'etcdserver: too many learner members in cluster'),
  tooManyRequests: e(Code.RESOURCE_EXHAUSTED, 'etcdserver: too many requests'),
};
