// etcd 3.5's errors of Maintenance.Downgrade: gRPC code and message as its rpctypes
// (api/v3rpc/rpctypes/error.go) and v3rpc's togRPCError send them. Beside src/errors.ts, which
// holds the rest, so that this work did not touch a file shared by everyone.
import { Code, EtcdError } from '../errors';

const e = (code: Code, message: string) => (): EtcdError => new EtcdError(code, message);

export const DowngradeErrors = {
  wrongVersionFormat: e(Code.INVALID_ARGUMENT, 'etcdserver: wrong downgrade target version format'),
  invalidTargetVersion: e(Code.INVALID_ARGUMENT, 'etcdserver: invalid downgrade target version'),
  inProgress: e(Code.FAILED_PRECONDITION, 'etcdserver: cluster has a downgrade job in progress'),
  noInflight: e(Code.FAILED_PRECONDITION, 'etcdserver: no inflight downgrade job'),
  /** An action outside VALIDATE/ENABLE/CANCEL: etcd's ErrUnknownMethod has no gRPC mapping, so Unknown. */
  unknownMethod: e(Code.UNKNOWN, 'etcdserver: unknown method'),
};
