// The errors of etcd's client/v3/concurrency package as etcd's lock and election servers return
// them: plain Go errors, which grpc-go sends with code Unknown and the error's text.
import { Code, EtcdError, e } from '../errors';

export const ConcurrencyErrors = {
  electionNotLeader: e(Code.UNKNOWN, 'election: not leader'),
  electionNoLeader: e(Code.UNKNOWN, 'election: no leader'),
  sessionExpired: e(Code.UNKNOWN, 'mutex: session is expired'),
  /** v3election's ErrMissingLeaderKey (Proclaim, Resign without a leader). */
  missingLeaderKey: e(Code.UNKNOWN, '"leader" field must be provided'),
  /** A wait ended because the gRPC call was cancelled (Go's context.Canceled). */
  canceled: e(Code.CANCELLED, 'context canceled'),
};

/**
 * etcd's lock and election servers call the member through an in-process clientv3, which turns
 * every etcd error into rpctypes.EtcdError, a plain Go error that grpc-go sends as Unknown: so
 * e.g. a Lock on a missing lease fails Unknown "etcdserver: requested lease not found" (checked
 * against etcd 3.4). Errors of ours that are no etcd error pass as they are.
 */
export async function asEmbeddedClientError<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof EtcdError && err.code !== Code.UNKNOWN && err.code !== Code.CANCELLED) throw new EtcdError(Code.UNKNOWN, err.message);
    throw err;
  }
}
