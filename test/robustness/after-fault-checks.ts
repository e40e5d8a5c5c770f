// What the harness checks once a fault has healed and the members are live again (etcd's
// functional tester does the same between its rounds):
//  - HashKV: every member, at one revision all of them have applied (the lowest current one),
//    with the same compacted revision, gives the same hash. Compactions apply at slightly
//    different moments on each member, so differing compacted revisions are asked again.
//  - Leases: the keys of revoked and expired leases are gone (lease-audit.ts).
// A mismatch is an anomaly (the run fails); a check that cannot decide is counted and noted.
import type { ClusterControl } from './cluster-control';
import { auditLeases, LeaseClock } from './lease-audit';
import type { LeaseStressClient } from './lease-stress';
import { sleep } from './prng';
import { now, type Recorder } from './recorder';
import { errorText, type Msg } from './rpc';

const HASH_ATTEMPTS = 8;

export interface AfterFaultCounts {
  hashChecks: number;
  hashUndecided: number;
  leaseAudits: number;
  /** Leases seen without keys after their deadline. */
  leasesVerified: number;
  leaseFindings: number;
  /** Leases dropped unaudited (the stress clients' bound). */
  leasesUntracked: number;
}

type HashOutcome = { ok: true; text: string } | { ok: false; mismatch?: string; why: string };

/** One HashKV comparison at the lowest current revision. */
async function compareHashes(cluster: ClusterControl): Promise<HashOutcome> {
  const members = cluster.members;
  const revs = await Promise.all(members.map((m) => cluster.access.once('KV', m.endpoint, 'Range', { key: Buffer.from('health'), serializable: true }, 3000).then((r) => Number(r.header.revision), () => undefined)));
  if (revs.some((r) => r === undefined)) return { ok: false, why: `no revision from ${members.filter((_, i) => revs[i] === undefined).map((m) => m.name).join(',')}` };
  const revision = Math.min(...(revs as number[]));
  const hashes = await Promise.all(members.map((m) => cluster.access.once('Maintenance', m.endpoint, 'HashKV', { revision }, 10_000).then((h: Msg) => h, (e: unknown) => errorText(e))));
  const failed = hashes.map((h, i) => (typeof h === 'string' ? `${members[i].name}: ${h}` : '')).filter((s) => s !== '');
  if (failed.length > 0) return { ok: false, why: `HashKV at ${revision}: ${failed.join('; ')}` };
  const got = hashes as Msg[];
  const text = got.map((h, i) => `${members[i].name} ${h.hash} (compacted ${h.compact_revision})`).join(', ');
  if (new Set(got.map((h) => String(h.compact_revision))).size > 1) return { ok: false, why: `compacted revisions differ at ${revision}: ${text}` };
  if (new Set(got.map((h) => String(h.hash))).size > 1) return { ok: false, mismatch: `HashKV differs at revision ${revision}: ${text}`, why: 'mismatch' };
  return { ok: true, text: `hash at ${revision} equal: ${text}` };
}

export class AfterFaultChecks {
  readonly counts: AfterFaultCounts = { hashChecks: 0, hashUndecided: 0, leaseAudits: 0, leasesVerified: 0, leaseFindings: 0, leasesUntracked: 0 };
  readonly clock: LeaseClock;

  constructor(
    private readonly cluster: ClusterControl,
    private readonly rec: Recorder,
    private readonly stress: LeaseStressClient[],
    electionMs: number,
  ) {
    this.clock = new LeaseClock(electionMs);
  }

  /** Notes the leader's term now (for the lease deadlines). */
  async observeTerm(): Promise<void> {
    const st = await Promise.all(this.cluster.members.map((m) => this.cluster.status(m)));
    const terms = st.filter((s): s is Msg => s !== undefined).map((s) => Number(s.raftTerm ?? 0));
    if (terms.length > 0) this.clock.observeTerm(Math.max(...terms), now());
  }

  /** Both checks; `after` names the fault for the findings. Returns a one-line summary. */
  async run(after: string): Promise<string> {
    await this.observeTerm();
    const hash = await this.checkHashes(after);
    const leases = await this.checkLeases(after);
    return `${hash}; ${leases}`;
  }

  async checkHashes(after: string): Promise<string> {
    this.counts.hashChecks++;
    let last = '';
    for (let attempt = 0; attempt < HASH_ATTEMPTS; attempt++) {
      const r = await compareHashes(this.cluster);
      if (r.ok) return r.text;
      if (r.mismatch !== undefined) {
        this.rec.anomaly(`after ${after}: ${r.mismatch}`);
        return r.mismatch;
      }
      last = r.why;
      await sleep(500);
    }
    this.counts.hashUndecided++;
    this.rec.note(`after ${after}: HashKV comparison undecided: ${last}`);
    return `hash undecided (${last})`;
  }

  async checkLeases(after: string): Promise<string> {
    this.counts.leaseAudits++;
    const tracked = this.stress.flatMap((c) => c.tracked);
    const r = await auditLeases(this.cluster, this.clock, tracked, 0);
    if (r.unread !== undefined) {
      this.rec.note(`after ${after}: lease audit could not read the keys: ${r.unread}`);
      return 'lease audit: keys unread';
    }
    for (const c of this.stress) c.forget(r.verified);
    this.counts.leasesVerified += r.verified.size;
    this.counts.leaseFindings += r.late.length;
    this.counts.leasesUntracked = this.stress.reduce((n, c) => n + c.untracked, 0);
    for (const l of r.late) this.rec.anomaly(`after ${after}: ${l}`);
    return `${r.verified.size} leases over, keys gone${r.late.length > 0 ? `; ${r.late.length} STILL HELD KEYS` : ''}`;
  }
}
