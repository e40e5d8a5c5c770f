// Turns errors into the gRPC status a client sees: etcd's code and message for known errors, and
// a logged INTERNAL for anything unexpected (never a crash, never a stack trace on the wire).
import * as grpc from '@grpc/grpc-js';
import { Code, EtcdError, Errors } from '../errors';
import type { Logger } from 'pino';

export function toStatus(err: unknown, log?: Logger): Partial<grpc.StatusObject> {
  if (err instanceof EtcdError) return { code: err.code as number as grpc.status, details: err.message };
  log?.error({ err }, 'unexpected error serving request');
  return { code: Code.INTERNAL as number as grpc.status, details: `etcdserver: ${err instanceof Error ? err.message : String(err)}` };
}

/** etcd's metadata key by which a client asks to fail at once when there is no leader. */
const REQUIRE_LEADER_KEY = 'hasleader';

/** Whether a call carries etcd's require-leader metadata (clientv3.WithRequireLeader). */
export function requiresLeader(metadata: grpc.Metadata): boolean {
  return metadata.get(REQUIRE_LEADER_KEY)[0] === 'true';
}

/**
 * Wraps an async unary handler: resolves into the callback, errors into etcd statuses. With
 * `leader`, a call carrying require-leader metadata fails at once when there is no leader.
 */
export function unary<Req, Res>(
  fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res> | Res,
  log?: Logger,
  leader?: { hasLeader(): boolean },
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    let result: Promise<Res> | Res;
    try {
      if (leader !== undefined && !leader.hasLeader() && requiresLeader(call.metadata)) throw Errors.noLeader();
      result = fn(call.request, call);
    } catch (err) {
      callback(toStatus(err, log));
      return;
    }
    if (result instanceof Promise) result.then((res) => callback(null, res), (err: unknown) => callback(toStatus(err, log)));
    else callback(null, result);
  };
}
