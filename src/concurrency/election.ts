// etcd's leader election as its v3election server builds it (client/v3/concurrency/election.go):
// a campaigner puts `<name>/<lease hex>` = value with its lease; the leader is the oldest key under
// the name; a campaign returns once every older key is deleted. Proclaim rewrites the leader's
// value while its key is unchanged (same create revision), Resign deletes it, Leader reads the
// oldest key, Observe streams the leader's kv on every change.
// Differences from etcd, by design: a campaign whose own key goes while it waits (lease expired or
// revoked) fails at once with "election: not leader" instead of returning a leadership that no
// longer exists; waits end as soon as their call is cancelled.
import type { Caller } from '../etcdserver/pipeline';
import type { Event } from '../mvcc/store';
import { toPb } from '../apply/range';
import type * as pb from '../pb/types';
import { ConcurrencyErrors } from './errors';
import {
  createRevisionIs, deleteReq, headerRevision, opDelete, opPut, opRange, prefixEnd, putReq, rangeKvs, rangeReq, sessionKey, topByCreate, type KvMember,
} from './kv-ops';
import { sessionLease } from './mutex';
import { waitDeletes, watchKeys, type KeyWatch } from './wait';

export interface Leadership {
  revision: number;
  key: Buffer;
  /** Create revision of the leader key. */
  rev: number;
  lease: bigint;
}

/** The leader handle of Proclaim and Resign (v3electionpb.LeaderKey), checked present. */
export interface LeaderHandle {
  key: Buffer;
  rev: number;
  lease: bigint;
}

export function leaderHandle(l: pb.LeaderKey | null | undefined): LeaderHandle {
  if (l === undefined || l === null) throw ConcurrencyErrors.missingLeaderKey();
  return { key: l.key, rev: Number(l.rev), lease: BigInt(l.lease) };
}

const prefixOf = (name: Buffer): Buffer => Buffer.concat([name, Buffer.from('/')]);

export async function campaign(member: KvMember, caller: Caller, name: Buffer, leaseId: bigint, value: Buffer, signal: AbortSignal): Promise<Leadership> {
  const lease = await sessionLease(member, caller, leaseId);
  const prefix = prefixOf(name);
  const key = sessionKey(prefix, lease);
  const resp = await member.txn({ compare: [createRevisionIs(key, 0)], success: [opPut(putReq(key, value, lease))], failure: [opRange(rangeReq(key))] }, caller);
  let rev = headerRevision(resp);
  const leader: LeaderHandle = { key, rev, lease };
  if (!resp.succeeded) {
    const kv = rangeKvs(resp, 0)[0];
    leader.rev = rev = Number(kv?.create_revision ?? 0);
    if (kv !== undefined && !kv.value.equals(value)) {
      try {
        await proclaim(member, caller, leader, value);
      } catch (err) {
        await resignQuietly(member, caller, leader);
        throw err;
      }
    }
  }
  let outcome: 'done' | 'own-deleted';
  try {
    outcome = await waitDeletes(member, caller, prefix, rev - 1, { key, createRevision: rev }, signal);
  } catch (err) {
    // etcd resigns only when the campaign's context ended (the call was cancelled).
    if (signal.aborted) await resignQuietly(member, caller, leader);
    throw err;
  }
  if (outcome === 'own-deleted') throw ConcurrencyErrors.electionNotLeader();
  return { revision: headerRevision(resp), key, rev, lease };
}

/** Rewrites the leader's value if the key is still the one it created; the txn's header revision. */
export async function proclaim(member: KvMember, caller: Caller, leader: LeaderHandle, value: Buffer): Promise<number> {
  const lease = await sessionLease(member, caller, leader.lease);
  const resp = await member.txn({ compare: [createRevisionIs(leader.key, leader.rev)], success: [opPut(putReq(leader.key, value, lease))], failure: [] }, caller);
  if (!resp.succeeded) throw ConcurrencyErrors.electionNotLeader();
  return headerRevision(resp);
}

/** Deletes the leader's key if it is still the one it created (no error when it is not). */
export async function resign(member: KvMember, caller: Caller, leader: LeaderHandle): Promise<number> {
  const resp = await member.txn({ compare: [createRevisionIs(leader.key, leader.rev)], success: [opDelete(deleteReq(leader.key))], failure: [] }, caller);
  return headerRevision(resp);
}

async function resignQuietly(member: KvMember, caller: Caller, leader: LeaderHandle): Promise<void> {
  try {
    await resign(member, caller, leader);
  } catch {
    // The key goes with its lease anyway.
  }
}

/** The current leader's kv and the read's revision. */
export async function currentLeader(member: KvMember, caller: Caller, name: Buffer): Promise<{ revision: number; kv: pb.KeyValuePb }> {
  const resp = await member.range(topByCreate(prefixOf(name), false), caller);
  if (resp.kvs.length === 0) throw ConcurrencyErrors.electionNoLeader();
  return { revision: headerRevision(resp), kv: resp.kvs[0] };
}

export interface Observation {
  revision: number;
  kv: pb.KeyValuePb;
}

/**
 * etcd's Election.Observe: the leader's kv now (or the first one put when there is none), then
 * each change of it, until its key is deleted; then the next leader, and so on. Ends (calls
 * onEnd, with the error if any) when a read fails; stop() ends it from outside.
 */
export function observe(member: KvMember, caller: Caller, name: Buffer, send: (o: Observation) => void, onEnd: (err?: unknown) => void): { stop(): void } {
  const prefix = prefixOf(name);
  let stopped = false;
  let current: KeyWatch | undefined;
  const end = (err?: unknown): void => {
    if (stopped) return;
    stopped = true;
    current?.cancel();
    onEnd(err);
  };
  // Watches until its key's delete, then starts over with a fresh read.
  const followLeader = (kv: pb.KeyValuePb, fromRev: number): void => {
    current = watchKeys(
      member.watchable, kv.key, undefined, fromRev,
      (events, revision) => {
        for (const ev of events) {
          if (stopped) return;
          if (ev.type === 'delete') {
            current?.cancel();
            void round();
            return;
          }
          send({ revision, kv: toPb(ev.kv) });
        }
      },
      () => end(),
    );
  };
  const awaitFirstPut = (fromRev: number): void => {
    current = watchKeys(
      member.watchable, prefix, prefixEnd(prefix), fromRev,
      (events: Event[]) => {
        const put = events.find((ev) => ev.type === 'put');
        if (put === undefined || stopped) return;
        current?.cancel();
        const kv = toPb(put.kv);
        send({ revision: put.kv.mod_revision, kv });
        followLeader(kv, put.kv.mod_revision + 1);
      },
      () => end(),
    );
  };
  const round = async (): Promise<void> => {
    let resp: pb.RangeResponse;
    try {
      resp = await member.range(topByCreate(prefix, false), caller);
    } catch (err) {
      return end(err);
    }
    if (stopped) return;
    const rev = headerRevision(resp);
    if (resp.kvs.length === 0) return awaitFirstPut(rev);
    send({ revision: rev, kv: resp.kvs[0] });
    followLeader(resp.kvs[0], rev + 1);
  };
  void round();
  return { stop: () => end() };
}
