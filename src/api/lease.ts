// etcdserverpb.Lease: LeaseGrant, LeaseRevoke, LeaseKeepAlive (a stream of renewals, answered in
// order), LeaseTimeToLive and LeaseLeases.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { Errors } from '../errors';
import type { Int64 } from '../pb/types';
import { requiresLeader, toStatus, unary } from './errors';
import type { EtcdServerApi } from './server-api';

/** Renewals waiting on one keep-alive stream before the stream is refused more (bounded memory). */
const MAX_PENDING_RENEWALS = 10_000;

export function leaseService(server: EtcdServerApi, log: Logger): grpc.UntypedServiceImplementation {
  return {
    LeaseGrant: unary(async (req: { TTL: Int64; ID: Int64 }) => {
      const r = await server.leaseGrant(Number(req.TTL), BigInt(req.ID));
      return { header: server.header(r.revision), ID: r.ID, TTL: r.TTL, error: '' };
    }, log, server),
    LeaseRevoke: unary(async (req: { ID: Int64 }) => {
      // etcd's header: the revision right after the revoke was applied.
      return { header: server.header(await server.leaseRevoke(BigInt(req.ID))) };
    }, log, server),
    LeaseTimeToLive: unary(async (req: { ID: Int64; keys: boolean }) => {
      const t = await server.leaseTimeToLive(BigInt(req.ID), req.keys);
      return { header: server.header(), ID: t.ID, TTL: t.TTL, grantedTTL: t.grantedTTL, keys: t.keys.map((k) => Buffer.from(k, 'base64')) };
    }, log, server),
    LeaseLeases: unary(() => ({ header: server.header(), leases: server.leaseIds().map((ID) => ({ ID })) }), log, server),
    LeaseKeepAlive: (call: grpc.ServerDuplexStream<{ ID: Int64 }, object>) => keepAlive(call, server, log),
  };
}

function keepAlive(call: grpc.ServerDuplexStream<{ ID: Int64 }, object>, server: EtcdServerApi, log: Logger): void {
  if (requiresLeader(call.metadata) && !server.hasLeader()) {
    call.emit('error', toStatus(Errors.noLeader(), log));
    return;
  }
  let ended = false;
  let pending = 0;
  // Answers go out in request order: each renewal waits for the one before it.
  let chain: Promise<void> = Promise.resolve();
  const fail = (err: unknown): void => {
    if (ended) return;
    ended = true;
    call.emit('error', toStatus(err, log));
  };
  call.on('data', (req: { ID: Int64 }) => {
    if (ended) return;
    if (++pending > MAX_PENDING_RENEWALS) return fail(Errors.tooManyRequests());
    const id = BigInt(req.ID);
    chain = chain.then(async () => {
      try {
        const ttl = await server.leaseRenew(id);
        if (!ended && !call.cancelled) call.write({ header: server.header(), ID: id.toString(), TTL: ttl });
      } catch (err) {
        fail(err);
      } finally {
        pending--;
      }
    });
  });
  call.on('end', () => {
    void chain.then(() => {
      if (ended) return;
      ended = true;
      call.end();
    });
  });
  call.on('cancelled', () => (ended = true));
  call.on('error', () => (ended = true));
}
