// etcd's distributed lock as its v3lock server builds it (client/v3/concurrency/mutex.go): the
// lock under `name` is held by the oldest key `<name>/<lease hex>`; a locker puts its key with its
// lease and waits for every older key under the name to be deleted. Unlock deletes the key.
// Differences from etcd, by design: a waiter whose own key goes (its lease expired or was revoked)
// stops waiting at once with etcd's "mutex: session is expired", instead of when the keys ahead
// of it are gone; a wait ends as soon as its call is cancelled.
import { Errors } from '../errors';
import type { Caller } from '../etcdserver/pipeline';
import type * as pb from '../pb/types';
import { ConcurrencyErrors } from './errors';
import {
  DEFAULT_SESSION_TTL_S, createRevisionIs, deleteReq, headerRevision, opPut, opRange, putReq, rangeKvs, rangeReq, sessionKey, topByCreate, type KvMember,
} from './kv-ops';
import { waitDeletes } from './wait';

export interface Locked {
  /** The revision of the header etcd answers with. */
  revision: number;
  key: Buffer;
}

/**
 * concurrency.NewSession's lease: the given one, or (0) a new lease of the default session TTL
 * that nobody keeps alive (etcd's servers orphan their sessions).
 */
export async function sessionLease(member: KvMember, caller: Caller, lease: bigint): Promise<bigint> {
  if (lease !== 0n) return lease;
  const granted = await member.leaseGrant({ TTL: DEFAULT_SESSION_TTL_S, ID: 0 }, caller);
  return BigInt(granted.ID);
}

/** Resolves once the lock `name` is held by the lease's key. */
export async function lock(member: KvMember, caller: Caller, name: Buffer, leaseId: bigint, signal: AbortSignal): Promise<Locked> {
  const lease = await sessionLease(member, caller, leaseId);
  const prefix = Buffer.concat([name, Buffer.from('/')]);
  const key = sessionKey(prefix, lease);
  // Put ourselves among the waiters (or find our key from an earlier Lock of this lease), and
  // read the owner in the same txn: uncontended, that is the only round trip.
  const getOwner = opRange(topByCreate(prefix, false));
  const resp = await member.txn(
    { compare: [createRevisionIs(key, 0)], success: [opPut(putReq(key, Buffer.alloc(0), lease)), getOwner], failure: [opRange(rangeReq(key)), getOwner] },
    caller,
  );
  const myRev = resp.succeeded ? headerRevision(resp) : Number(rangeKvs(resp, 0)[0]?.create_revision ?? 0);
  const owner = rangeKvs(resp, 1);
  if (owner.length === 0 || Number(owner[0].create_revision) === myRev) return { revision: headerRevision(resp), key };
  let outcome: 'done' | 'own-deleted';
  try {
    outcome = await waitDeletes(member, caller, prefix, myRev - 1, { key, createRevision: myRev }, signal);
  } catch (err) {
    // As etcd's Mutex.Lock: a failed wait gives the key up (not with the cancelled call's context).
    await unlockQuietly(member, caller, key);
    throw err;
  }
  if (outcome === 'own-deleted') throw ConcurrencyErrors.sessionExpired();
  // Make sure the session has not expired and our key still exists.
  let got: pb.RangeResponse;
  try {
    got = await member.range(rangeReq(key), caller);
  } catch (err) {
    await unlockQuietly(member, caller, key);
    throw err;
  }
  if (got.kvs.length === 0) throw ConcurrencyErrors.sessionExpired();
  return { revision: headerRevision(got), key };
}

/** v3lock's Unlock: deletes the key, whoever holds it; the header of the delete. */
export async function unlock(member: KvMember, caller: Caller, key: Buffer): Promise<number> {
  // etcd's Delete of an empty key fails its KV check ("key is not provided").
  if (key.length === 0) throw Errors.emptyKey();
  return headerRevision(await member.deleteRange(deleteReq(key), caller));
}

async function unlockQuietly(member: KvMember, caller: Caller, key: Buffer): Promise<void> {
  try {
    await unlock(member, caller, key);
  } catch {
    // The key goes with its lease anyway.
  }
}
