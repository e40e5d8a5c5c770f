// The deterministic applier: committed Raft entries in, state changes out. Runs inside the Ready
// transaction, records the applied index in it, and hands each result to the member that
// proposed the request once the transaction is on disk. No clocks, no randomness, no
// unordered iteration: two members that apply the same entries end with the same state.
import type { Backend, ReadView } from '../backend/backend';
import type { Event, MvccStore, WriteTxn } from '../mvcc/store';
import { EntryType, type Entry } from '../raft/types';
import type { Applier as RaftApplier } from '../raftnode/node';
import { EtcdError, Errors } from '../errors';
import type { InternalRequest } from '../pb/types';
import { decodeEntryData, entryHeader } from './entry-codec';
import { deleteRange, put, txn, type LeaseLookup } from './txn';
import { decodeMemberChange, raftChange, type MemberChange } from '../membership/member-change';
import type { ConfChange } from '../raft/types';
import { mvccCall } from './range';

const META_APPLIED = 'applied-index';

/** What applying needs of the lessor (lease/lessor.ts); all of it runs inside the transaction. */
export interface LeaseApply extends LeaseLookup {
  grant(id: bigint, ttlSec: number): number;
  revoke(id: bigint, w: WriteTxn): void;
  onEvents(events: Event[]): void;
}

export type ApplyResult = { ok: true; response: object } | { ok: false; error: EtcdError };

export interface ApplierOptions {
  backend: Backend;
  mvcc: MvccStore;
  memberId: bigint;
  leases: LeaseApply;
  /** This member's in-flight proposals by request ID: their decoded requests, to skip decoding. */
  localRequest: (id: bigint) => InternalRequest | undefined;
  /** Cluster membership, changed by applied entries (inside the transaction). */
  members: {
    setAttributes(id: bigint, name: string, clientUrls: string[]): void;
    /** Applies a change; throws EtcdError when it is not valid (then raft does not apply it either). */
    applyChange(change: MemberChange): object;
  };
  /** Called once the transaction is on disk, with the results of this member's proposals. */
  deliver: (results: Map<bigint, ApplyResult>) => void;
  /** Called once the transaction is on disk, with every MVCC event it applied (for watchers). */
  notify: (events: Event[], revision: number) => void;
}

export class Applier implements RaftApplier {
  private applied: number;
  /** Events of the batch being applied (handed to watchers once it is on disk). */
  private events: Event[] = [];

  constructor(private readonly o: ApplierOptions) {
    this.applied = o.backend.getMetaNumber(META_APPLIED) ?? 0;
  }

  appliedIndex(): number {
    return this.applied;
  }

  applyEntries(entries: Entry[]): { release: () => void; confChanges: ConfChange[] } {
    const results = new Map<bigint, ApplyResult>();
    const confChanges: ConfChange[] = [];
    for (const entry of entries) {
      if (entry.index <= this.applied) continue; // already in the state (replayed after restart)
      if (entry.type === EntryType.Normal && entry.data.length > 0) this.applyEntry(entry.data, results);
      else if (entry.type === EntryType.ConfChange) {
        const cc = this.applyMemberChange(entry.data, results);
        if (cc !== undefined) confChanges.push(cc);
      }
      this.applied = entry.index;
    }
    this.o.backend.putMetaNumber(META_APPLIED, this.applied);
    const events = this.events;
    this.events = [];
    const revision = this.o.mvcc.writeRevision();
    return {
      release: () => {
        if (events.length > 0) this.o.notify(events, revision);
        if (results.size > 0) this.o.deliver(results);
      },
      confChanges,
    };
  }

  private applyMemberChange(data: Buffer, results: Map<bigint, ApplyResult>): ConfChange | undefined {
    const { member, id } = entryHeader(data);
    const change = decodeMemberChange(data);
    let result: ApplyResult;
    let cc: ConfChange | undefined;
    try {
      result = { ok: true, response: this.o.members.applyChange(change) };
      cc = raftChange(change);
    } catch (err) {
      if (!(err instanceof EtcdError)) throw err;
      result = { ok: false, error: err };
    }
    if (member === this.o.memberId) results.set(id, result);
    return cc;
  }

  /** The applied index as committed to disk (what a snapshot taken now stands at). */
  storedAppliedIndex(view?: ReadView): number {
    return this.o.backend.getMetaNumber(META_APPLIED, view) ?? 0;
  }

  restore(index: number): void {
    this.applied = index;
    this.o.backend.putMetaNumber(META_APPLIED, index);
  }

  private applyEntry(data: Buffer, results: Map<bigint, ApplyResult>): void {
    const { member, id } = entryHeader(data);
    const mine = member === this.o.memberId;
    const req = (mine ? this.o.localRequest(id) : undefined) ?? decodeEntryData(data);
    let result: ApplyResult;
    try {
      result = { ok: true, response: this.applyRequest(req) };
    } catch (err) {
      // Client errors are results; anything else is a bug that must stop the member before it
      // diverges from the others.
      if (!(err instanceof EtcdError)) throw err;
      result = { ok: false, error: err };
    }
    if (mine) results.set(id, result);
  }

  private applyRequest(req: InternalRequest): object {
    const { mvcc, leases } = this.o;
    const { put: p, delete_range: d, txn: t } = req;
    if (p) return this.write((w) => put(w, p, leases));
    if (d) return this.write((w) => deleteRange(w, d));
    if (t) return this.write((w) => txn(w, t, leases));
    if (req.member_attributes) {
      const a = req.member_attributes;
      this.o.members.setAttributes(BigInt(a.id), a.name, a.client_urls);
      return {};
    }
    if (req.lease_grant) {
      const ttl = leases.grant(BigInt(req.lease_grant.ID), Number(req.lease_grant.TTL));
      return { header: { revision: mvcc.writeRevision() }, ID: String(req.lease_grant.ID), TTL: ttl };
    }
    if (req.lease_revoke) {
      const id = BigInt(req.lease_revoke.ID);
      this.write((w) => leases.revoke(id, w));
      return { header: { revision: mvcc.writeRevision() } };
    }
    if (req.compaction) {
      const rev = Number(req.compaction.revision);
      if (rev <= mvcc.writeCompactRevision()) throw Errors.compacted();
      if (rev > mvcc.writeRevision()) throw Errors.futureRev();
      mvccCall(() => mvcc.compact(rev));
      return { header: { revision: mvcc.writeRevision() } };
    }
    return { header: { revision: mvcc.writeRevision() } };
  }

  private write<T>(fn: (w: WriteTxn) => T): T {
    const w = this.o.mvcc.write();
    try {
      return fn(w);
    } catch (err) {
      // Requests are checked before anything is written; an error after a write is a bug.
      if (w.events.length > 0) throw new Error(`apply: request failed after writing: ${String(err)}`);
      throw err;
    } finally {
      if (w.events.length > 0) {
        w.end();
        this.o.leases.onEvents(w.events);
        for (const ev of w.events) this.events.push(ev);
      }
    }
  }
}
