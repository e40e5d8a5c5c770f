// Checks, after every fault, that the keys of leases that are over are gone: a revoked lease's as
// soon as its revoke was answered; an abandoned lease's (nobody renews it) once its TTL, an
// election timeout and SLACK_MS have passed since it was last renewed. Two things legitimately
// push that deadline back, and LeaseClock accounts for both:
//  - a new leader starts every lease afresh for TTL + an election timeout (etcd's promote): the
//    leader terms the harness observed say when that may have happened;
//  - while a fault keeps the cluster from committing, an expiry is proposed but cannot apply: a
//    deadline that falls inside a fault window moves to the window's end (the recovery) + slack.
// A lease's keys that are still there past their deadline are a finding, after a short recheck.
import type { ClusterControl } from './cluster-control';
import { LEASE_KEY_PREFIX, type TrackedLease } from './lease-stress';
import { sleep } from './prng';
import { now } from './recorder';
import { str, type Msg } from './rpc';

/** The couple of seconds of slack on top of TTL + election timeout (expiry polls, a loaded machine). */
const SLACK_MS = 2000;
const EPOCHS_MAX = 10_000;
const WINDOWS_MAX = 10_000;

interface Epoch {
  term: number;
  firstMs: number;
  lastMs: number;
}

export class LeaseClock {
  private readonly epochs: Epoch[] = [];
  private readonly windows: { startMs: number; endMs: number }[] = [];

  constructor(private readonly electionMs: number) {}

  /** A leader term seen at atMs (terms only grow: an older one is ignored). */
  observeTerm(term: number, atMs: number): void {
    const last = this.epochs[this.epochs.length - 1];
    if (last !== undefined && term <= last.term) {
      if (term === last.term) last.lastMs = Math.max(last.lastMs, atMs);
      return;
    }
    this.epochs.push({ term, firstMs: atMs, lastMs: atMs });
    if (this.epochs.length > EPOCHS_MAX) this.epochs.shift();
  }

  /** A fault window: from the fault's start until the cluster served reads again. */
  faultWindow(startMs: number, endMs: number): void {
    this.windows.push({ startMs, endMs });
    if (this.windows.length > WINDOWS_MAX) this.windows.shift();
  }

  /** When the lease's keys must be gone (Infinity: it may still be renewed). */
  deadline(l: TrackedLease): number {
    if (l.revokedMs !== undefined) return l.revokedMs;
    if (!l.abandoned) return Infinity;
    const span = l.ttlSec * 1000 + this.electionMs + SLACK_MS;
    let d = l.renewedByMs + span;
    // Each extension can expose another: repeat until stable (bounded by what there is to apply).
    for (let round = 0; round <= this.epochs.length + this.windows.length; round++) {
      let moved = d;
      for (let k = 1; k < this.epochs.length; k++) {
        // Term k began after epoch k-1 was last seen and by the time it was first seen; if that
        // may have been before d, the new leader may have restarted the lease then.
        if (this.epochs[k - 1].lastMs < d) moved = Math.max(moved, this.epochs[k].firstMs + span);
      }
      for (const w of this.windows) if (w.startMs <= moved && moved <= w.endMs) moved = w.endMs + this.electionMs + SLACK_MS;
      if (moved === d) break;
      d = moved;
    }
    return d;
  }
}

export interface LeaseAuditResult {
  /** Leases seen past their deadline without keys: done with. */
  verified: Set<TrackedLease>;
  /** Findings: leases whose keys outlived the deadline. */
  late: string[];
  /** The audit could not read the keys (no member answered). */
  unread?: string;
}

/** The stress keys now, by lease ID (a linearizable Range of the prefix). */
async function keysByLease(cluster: ClusterControl): Promise<Map<string, string[]> | string> {
  let why = 'no live member';
  for (const ep of cluster.liveEndpoints()) {
    try {
      const r = await cluster.access.once('KV', ep, 'Range', { key: Buffer.from(LEASE_KEY_PREFIX), range_end: prefixEnd(LEASE_KEY_PREFIX), keys_only: true }, 5000);
      const out = new Map<string, string[]>();
      for (const kv of (r.kvs as Msg[]) ?? []) {
        const lease = String(kv.lease);
        out.set(lease, [...(out.get(lease) ?? []), str(kv.key)]);
      }
      return out;
    } catch (e) {
      why = `${ep}: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
  return why;
}

const prefixEnd = (p: string): Buffer => {
  const b = Buffer.from(p);
  b[b.length - 1]++;
  return b;
};

/** Audits `leases` against the keys the cluster holds now; rechecks what looks late twice. */
export async function auditLeases(cluster: ClusterControl, clock: LeaseClock, leases: TrackedLease[], t0Ms: number): Promise<LeaseAuditResult> {
  const verified = new Set<TrackedLease>();
  let suspects: TrackedLease[] = [];
  let firstSeenMs = 0;
  for (let pass = 0; pass < 3; pass++) {
    const at = now();
    const held = await keysByLease(cluster);
    if (typeof held === 'string') return { verified, late: [], unread: held };
    const candidates = pass === 0 ? leases : suspects;
    suspects = [];
    for (const l of candidates) {
      if (clock.deadline(l) >= at) continue;
      if (held.has(l.id)) suspects.push(l);
      else verified.add(l);
    }
    if (suspects.length === 0) break;
    if (pass === 0) firstSeenMs = at;
    await sleep(1500);
  }
  const rel = (ms: number): string => `+${((ms - t0Ms) / 1000).toFixed(1)}s`;
  const late = suspects.map(
    (l) =>
      `lease ${l.id} (TTL ${l.ttlSec} s, ${l.revokedMs !== undefined ? `revoke answered at ${rel(l.revokedMs)}` : `last renewed by ${rel(l.renewedByMs)}, then left to expire`}) still held key(s) ${[...l.keys].slice(0, 4).join(',')} at ${rel(firstSeenMs)} and 3 s later; its keys were due gone by ${rel(clock.deadline(l))}`,
  );
  return { verified, late };
}
