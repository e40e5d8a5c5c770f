// Scripted operations sent alike to a real etcd and to etcd-ts, and HashKV compared between them
// (test/hashkv-etcd.test.ts: single members; test/hashkv-catchup-etcd.test.ts: a cluster whose
// members catch up after a kill). The first target is the reference (real etcd); every other
// target is etcd-ts and must answer every write as the reference does, with the same HashKV
// (hash, compact_revision, header.revision, or the error) at every revision compared.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type * as grpc from '@grpc/grpc-js';
import { call, serviceClient, type Msg } from './grpc-client';

/** etcd's version on PATH, or why there is none. */
export function etcdVersion(): { version: [number, number, number] } | { missing: string } {
  const r = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
  if (r.error !== undefined) return { missing: r.error.message };
  const m = /etcd Version: (\d+)\.(\d+)\.(\d+)/.exec(r.stdout);
  if (r.status !== 0 || m === null) return { missing: `etcd --version exited with ${String(r.status)}: ${r.stdout}${r.stderr}` };
  return { version: [Number(m[1]), Number(m[2]), Number(m[3])] };
}

/** etcd before 3.4.27 (and 3.5.10) refuses HashKV at exactly the compacted revision (fixed by etcd commit bce0d0b). */
export function refusesCompactedRev(v: [number, number, number]): boolean {
  const [major, minor, patch] = v;
  return major === 3 && ((minor === 4 && patch < 27) || minor < 4);
}

export type Service = 'KV' | 'Lease' | 'Maintenance';

/** gRPC clients of one server. */
export class Target {
  readonly kv: grpc.Client;
  readonly lease: grpc.Client;
  readonly maintenance: grpc.Client;
  constructor(
    readonly name: string,
    readonly endpoint: string,
  ) {
    this.kv = serviceClient('KV', endpoint);
    this.lease = serviceClient('Lease', endpoint);
    this.maintenance = serviceClient('Maintenance', endpoint);
  }
  client(service: Service): grpc.Client {
    return service === 'KV' ? this.kv : service === 'Lease' ? this.lease : this.maintenance;
  }
  close(): void {
    for (const c of [this.kv, this.lease, this.maintenance]) c.close();
  }
}

export type Outcome = { hash: number; compact_revision: string; revision: string; hash_revision?: string } | { code: number; details: string };

export async function hashKV(t: Target, revision: number): Promise<Outcome> {
  try {
    const r = await call(t.maintenance, 'HashKV', { revision });
    return { hash: Number(r.hash), compact_revision: String(r.compact_revision), revision: String(r.header.revision), hash_revision: String(r.hash_revision) };
  } catch (e) {
    const err = e as grpc.ServiceError;
    return { code: err.code, details: err.details };
  }
}

export const key = (...parts: (string | number[])[]): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
export const put = (k: Buffer | string, v: Buffer | string, lease = '0'): Msg => ({ request_put: { key: Buffer.from(k), value: Buffer.from(v), lease } });
export const del = (k: Buffer | string, end?: Buffer | string): Msg => ({ request_delete_range: { key: Buffer.from(k), range_end: end === undefined ? Buffer.alloc(0) : Buffer.from(end) } });

/** Sends the same requests to every target and compares their HashKV. */
export class Script {
  /** The highest header revision a write answered with. */
  head = 1;
  /** The last compaction's revision (-1: none yet). */
  compacted = -1;
  /** Every HashKV difference found so far (checked at the end, so one run reports them all). */
  readonly mismatches: string[] = [];
  /** Requests sent through all() so far. */
  sent = 0;
  /** Called after every request sent through all() (with the count so far), e.g. to kill a member mid-writes. */
  afterEach: ((sent: number) => void | Promise<void>) | undefined;

  /** targets[0] is real etcd; the rest are etcd-ts. */
  constructor(
    public targets: Target[],
    readonly etcdRefusesCompacted: boolean,
  ) {}

  /** Sends one request to every target; all must answer alike (OK with the same revision, or the same error). */
  async all(service: Service, method: string, req: Msg): Promise<Msg> {
    const results = await Promise.all(
      this.targets.map((tg) =>
        call(tg.client(service), method, req).then(
          (r) => ({ ok: r }),
          (e: grpc.ServiceError) => ({ err: `${e.code} ${e.details}` }),
        ),
      ),
    );
    const [a, ...rest] = results;
    const what = `${method} ${JSON.stringify(req).slice(0, 200)}`;
    for (const [i, b] of rest.entries()) {
      const name = this.targets[i + 1].name;
      if ('err' in a || 'err' in b) {
        assert.deepEqual(b, a, `${what}: ${name} answers as etcd`);
        throw new Error(`${method} failed on both: ${'err' in a ? a.err : ''}`);
      }
      const revA = a.ok.header?.revision;
      if (revA !== undefined) assert.equal(String(b.ok.header?.revision), String(revA), `${what}: ${name} has etcd's header revision`);
    }
    if ('err' in a) throw new Error(`${method} failed: ${a.err}`);
    const revA = a.ok.header?.revision;
    if (revA !== undefined) this.head = Math.max(this.head, Number(revA));
    this.sent++;
    await this.afterEach?.(this.sent);
    return a.ok;
  }

  txn(success: Msg[], failure: Msg[] = [], compare: Msg[] = []): Promise<Msg> {
    return this.all('KV', 'Txn', { compare, success, failure });
  }

  async compact(revision: number): Promise<void> {
    await this.all('KV', 'Compact', { revision, physical: true });
    this.compacted = revision;
  }

  /** 0, -1, and every revision from just below the compacted one to one past the head. */
  revisions(): number[] {
    const revs = new Set<number>([0, -1]);
    for (let r = Math.max(1, this.compacted - 1); r <= this.head + 1; r++) revs.add(r);
    return [...revs];
  }

  /** HashKV on every target at every interesting revision; records every difference, with etcd's
   * answer and, between the etcd-ts targets, with the first etcd-ts target's. */
  async compare(phase: string, targets: Target[] = this.targets): Promise<void> {
    for (const rev of this.revisions()) {
      const [e, ...ours] = await Promise.all(targets.map((tg) => hashKV(tg, rev)));
      const where = `${phase}: HashKV(${rev}) (head ${this.head}, compacted ${this.compacted})`;
      if ('hash' in e) delete e.hash_revision;
      for (const [i, o] of ours.entries()) {
        const name = targets[i + 1].name;
        if ('hash' in o) {
          // etcd 3.4 has no hash_revision; etcd 3.6 reports the revision hashed.
          const hashed = rev === 0 ? this.head : rev;
          if (o.hash_revision !== String(hashed)) this.mismatches.push(`${where}: ${name} hash_revision ${o.hash_revision}, want ${hashed}`);
          delete o.hash_revision;
        }
        if (i > 0 && JSON.stringify(o) !== JSON.stringify(ours[0])) this.mismatches.push(`${where}: ${targets[1].name} ${JSON.stringify(ours[0])} ${name} ${JSON.stringify(o)}`);
        if (rev === this.compacted && rev > 0 && this.etcdRefusesCompacted && 'code' in e) {
          // This etcd predates the fix that answers at the compacted revision; etcd-ts answers as
          // later 3.4 and 3.5 do. The same formula is compared through HashKV(0) after a
          // compaction at the head (and between the etcd-ts targets, just above).
          if (!('hash' in o)) this.mismatches.push(`${where}: ${name} should answer at the compacted revision: ${JSON.stringify(o)}`);
          continue;
        }
        if (JSON.stringify(e) !== JSON.stringify(o)) this.mismatches.push(`${where}: ${targets[0].name} ${JSON.stringify(e)} ${name} ${JSON.stringify(o)}`);
      }
    }
  }
}

export interface PhaseOptions {
  /** Two lease IDs not granted yet (leaseA is revoked in phase 4, leaseB stays). */
  leaseA: string;
  leaseB: string;
  /** Compare HashKV after each phase (on script.targets). */
  compare: boolean;
}

/** The operations that decide etcd's hash bytes and keep set: leases, empty and large values,
 * binary and long keys, single/range/missing deletes, several writes in one revision, a lease
 * revoke, compactions at a put's, at a delete's and at the head's revision, and no key alive.
 * Runs again on the same servers given new lease IDs (its compactions are relative to the head). */
export async function runPhases(s: Script, o: PhaseOptions): Promise<void> {
  const compare = async (phase: string): Promise<void> => {
    if (o.compare) await s.compare(phase);
  };
  const { leaseA, leaseB } = o;

  // Phase 1: puts of every shape.
  for (const ID of [leaseA, leaseB]) await s.all('Lease', 'LeaseGrant', { ID, TTL: 3600 });
  await s.all('KV', 'Put', { key: key('a'), value: key('1') });
  await s.all('KV', 'Put', { key: key('a'), value: key('2') });
  await s.all('KV', 'Put', { key: key('empty'), value: Buffer.alloc(0) });
  await s.all('KV', 'Put', { key: key([0]), value: key('zero') });
  await s.all('KV', 'Put', { key: key([0xff, 0xff]), value: key([0, 1, 0xff]) });
  await s.all('KV', 'Put', { key: key('bin/', [0, 1, 0xff, 0]), value: key('b') });
  await s.all('KV', 'Put', { key: key('L'.repeat(3000)), value: key('long key') });
  await s.all('KV', 'Put', { key: key('big'), value: Buffer.alloc(300 * 1024, 0xab) });
  await s.all('KV', 'Put', { key: key('lease/1'), value: key('x'), lease: leaseA });
  await s.all('KV', 'Put', { key: key('lease/2'), value: key('y'), lease: leaseA });
  await s.all('KV', 'Put', { key: key('lease/3'), value: key('z'), lease: leaseB });
  await s.all('KV', 'Put', { key: key('moved'), value: key('m'), lease: leaseA });
  await s.all('KV', 'Put', { key: key('moved'), value: key('m2') }); // detached from the lease
  const afterPuts = s.head;
  await compare('puts');

  // Phase 2: deletes.
  for (const k of ['r/1', 'r/2', 'r/3']) await s.all('KV', 'Put', { key: key(k), value: key(k) });
  await s.all('KV', 'DeleteRange', { key: key('a') });
  await s.all('KV', 'DeleteRange', { key: key('r/'), range_end: key('r0') });
  await s.all('KV', 'DeleteRange', { key: key('missing') });
  await s.all('KV', 'DeleteRange', { key: key('r/'), range_end: key('r0') }); // nothing left in range
  await s.all('KV', 'DeleteRange', { key: key([0]), prev_kv: true });
  await compare('deletes');

  // Phase 3: txns with several writes in one revision.
  await s.txn([put('t/1', 'one'), put('t/2', 'two', leaseB), del('empty'), put('a', 'again')]);
  await s.txn([put('never', 'x')], [put('t/3', 'three'), del('t/1')], [{ key: key('t/1'), result: 'EQUAL', target: 'VALUE', value: key('no') }]);
  await s.txn([put('n/1', 'outer'), { request_txn: { compare: [], success: [put('n/2', 'inner'), del('t/2')], failure: [] } }]);
  await s.txn([{ request_range: { key: key('a') } }]); // read-only: no revision
  await compare('txns');

  // Phase 4: revoking a lease deletes its keys in one revision.
  await s.all('Lease', 'LeaseRevoke', { ID: leaseA });
  await compare('lease revoke');

  // Phase 5: compactions at a put's revision, at a delete's revision, and at the head.
  await s.compact(afterPuts - 3);
  await compare('compact at a put');
  await s.all('KV', 'Put', { key: key('a'), value: key('3') });
  await s.all('KV', 'DeleteRange', { key: key('t/3') });
  const deleteRev = s.head;
  await s.all('KV', 'Put', { key: key('after'), value: key('delete') });
  await s.compact(deleteRev);
  await compare('compact at a delete');
  await s.all('KV', 'DeleteRange', { key: key('n/'), range_end: key('n0') });
  await s.compact(s.head);
  await compare('compact at the head, a delete');
  for (const tg of s.targets.slice(1)) {
    const [ourHead, ourAtCompacted] = await Promise.all([hashKV(tg, 0), hashKV(tg, s.compacted)]);
    assert.deepEqual(ourAtCompacted, { ...ourHead, hash_revision: String(s.compacted) }, `${tg.name}: HashKV at the compacted head equals HashKV(0)`);
  }

  // Phase 6: no key alive (etcd's keep set is empty: every version left below compacted counts),
  // then compact it all away and write again.
  await s.all('KV', 'Put', { key: key('a'), value: key('4') });
  await s.all('KV', 'DeleteRange', { key: key([0]), range_end: key([0]) });
  await compare('nothing alive');
  await s.compact(s.head);
  await compare('compacted with nothing alive');
  await s.all('KV', 'Put', { key: key('a'), value: key('5'), lease: leaseB });
  await compare('a key after everything');
}
