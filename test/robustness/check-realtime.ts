// Real-time order against revisions. Every resolved call sits at a point of the revision order:
// a write at revision R at 2R, a linearizable read served at header revision R at 2R + 1 (after
// write R, before write R + 1). Linearizability requires: if A completed before B was invoked,
// point(A) <= point(B). That one rule covers stale reads (write completed, later read has an older
// revision), writes ordered against real time, reads against later writes, and revisions going
// backwards between reads. Checked with one sweep instead of all pairs.
import type { Call } from './history';
import type { Finding } from './check-finding';
import type { CommittedHistory } from './check-events';

export type Point = { kind: 'write' | 'read'; revision: number };

export const pointValue = (p: Point): number => 2 * p.revision + (p.kind === 'read' ? 1 : 0);

export interface Placed {
  call: Call;
  point: Point;
}

/** Completed calls by completion time, with the highest point reached by any completed so far. */
export class CompletedPoints {
  private readonly times: number[] = [];
  private readonly best: Placed[] = [];

  /** Only ok calls with a completion time count: an unknown outcome may take effect any time later. */
  constructor(placed: Placed[]) {
    const done = placed.filter((p) => p.call.outcome === 'ok' && p.call.completeMs !== undefined);
    done.sort((a, b) => (a.call.completeMs as number) - (b.call.completeMs as number));
    let top: Placed | undefined;
    for (const p of done) {
      if (top === undefined || pointValue(p.point) > pointValue(top.point)) top = p;
      this.times.push(p.call.completeMs as number);
      this.best.push(top);
    }
  }

  /** The highest-placed call that completed strictly before t (equal times count as concurrent). */
  highestBefore(t: number): Placed | undefined {
    let lo = 0;
    let hi = this.times.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.times[mid] < t) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? undefined : this.best[found];
  }
}

function describe(before: Placed, after: Placed): string {
  const a = before.point;
  const b = after.point;
  const ids = `call ${before.call.id} completed before call ${after.call.id} was invoked`;
  if (a.kind === 'write' && b.kind === 'read') return `stale read: ${ids}, but the read was served at revision ${b.revision}, before the write's revision ${a.revision}`;
  if (a.kind === 'write' && b.kind === 'write') return `real-time order violation: ${ids}, but the later write has revision ${b.revision} < ${a.revision}`;
  if (a.kind === 'read') {
    const what = b.kind === 'write' ? `the later write has revision ${b.revision}, which the earlier read had already seen` : `the later read went back to revision ${b.revision}`;
    return `real-time order violation: ${ids}; the earlier read was served at revision ${a.revision}, ${what}`;
  }
  return `real-time order violation: ${ids}`;
}

export function checkRealTime(placed: Placed[], index: CompletedPoints, committed: CommittedHistory): Finding | undefined {
  for (const p of placed) {
    const before = index.highestBefore(p.call.invokeMs);
    if (before !== undefined && pointValue(before.point) > pointValue(p.point)) {
      return {
        message: describe(before, p),
        evidence: {
          earlier: { call: before.call, at: before.point },
          later: { call: p.call, at: p.point },
          events: committed.around([before.point.revision, p.point.revision], 0),
        },
      };
    }
  }
  return undefined;
}
