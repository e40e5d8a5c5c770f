// The liveness bound and what the run measured against it: for every fault kind, how long the
// members took, from the moment the fault was lifted, until every one of them had the same leader
// and served a linearizable read. A sample over the bound is a liveness failure.

/** etcd's default; the runner's members use it unless --election-timeout is among their args. */
const DEFAULT_ELECTION_TIMEOUT_MS = 1000;

/** The value of the last `--name V` or `--name=V` among args (the server takes the last one). */
function lastFlag(args: readonly string[], name: string): number | undefined {
  let out: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const v = a === name ? args[i + 1] : a.startsWith(`${name}=`) ? a.slice(name.length + 1) : undefined;
    if (v !== undefined && Number.isFinite(Number(v)) && Number(v) > 0) out = Number(v);
  }
  return out;
}

/** --election-timeout of the members (ms), from their extra args. */
export const electionTimeoutMs = (memberArgs: readonly string[]): number => lastFlag(memberArgs, '--election-timeout') ?? DEFAULT_ELECTION_TIMEOUT_MS;

/** --snapshot-count of the members, from their extra args (etcd's default otherwise). */
export const snapshotCount = (memberArgs: readonly string[]): number => lastFlag(memberArgs, '--snapshot-count') ?? 100_000;

/** The bound: two election timeouts + 5 s after the fault is lifted. */
export const livenessBoundMs = (electionMs: number): number => 2 * electionMs + 5000;

export interface KindRecovery {
  kind: string;
  /** Liveness samples: one per fault, plus one per step of stepped faults (rolling restarts). */
  samples: number;
  worstMs: number;
  meanMs: number;
  /** Samples over the bound. */
  failures: number;
}

export class RecoveryStats {
  private readonly byKind = new Map<string, { samples: number; totalMs: number; worstMs: number; failures: number }>();

  constructor(readonly boundMs: number) {}

  /** Records one sample; returns whether it was within the bound. */
  record(kind: string, ms: number): boolean {
    const e = this.byKind.get(kind) ?? { samples: 0, totalMs: 0, worstMs: 0, failures: 0 };
    const ok = ms <= this.boundMs;
    e.samples++;
    e.totalMs += ms;
    e.worstMs = Math.max(e.worstMs, ms);
    if (!ok) e.failures++;
    this.byKind.set(kind, e);
    return ok;
  }

  summary(): KindRecovery[] {
    return [...this.byKind]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([kind, e]) => ({ kind, samples: e.samples, worstMs: Math.round(e.worstMs), meanMs: Math.round(e.totalMs / e.samples), failures: e.failures }));
  }
}
