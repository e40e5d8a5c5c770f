// Turns errors into the gRPC status a client sees: etcd's code and message for known errors, and
// a logged INTERNAL for anything unexpected (never a crash, never a stack trace on the wire).
import type * as grpc from '@grpc/grpc-js';
import { Code, EtcdError } from '../errors';
import type { Logger } from 'pino';

export function toStatus(err: unknown, log?: Logger): { code: grpc.status; details: string } {
  if (err instanceof EtcdError) return { code: err.code as number as grpc.status, details: err.message };
  log?.error({ err }, 'unexpected error serving request');
  return { code: Code.INTERNAL as number as grpc.status, details: `etcdserver: ${err instanceof Error ? err.message : String(err)}` };
}

/** The status code an error ends a call with (for the pipeline's hooks). */
export function errorCode(err: unknown): Code {
  return err instanceof EtcdError ? err.code : Code.INTERNAL;
}
