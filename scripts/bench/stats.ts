// Latency statistics. Pure functions so they are easy to reason about.

/** Nearest-rank percentile over an ascending-sorted array; NaN when empty. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? NaN;
}

/** Successful latencies (failed requests are NaN) in ascending order. */
export function sortedSuccesses(latencies: Float64Array): Float64Array {
  const out = new Float64Array(latencies.length);
  let n = 0;
  for (const v of latencies) if (!Number.isNaN(v)) out[n++] = v;
  // TypedArray sort is numeric, unlike Array.prototype.sort.
  return out.subarray(0, n).sort();
}

export function mean(sorted: Float64Array): number {
  if (sorted.length === 0) return NaN;
  let s = 0;
  for (const v of sorted) s += v;
  return s / sorted.length;
}

export function median(values: number[]): number {
  const v = values.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? (v[mid] ?? NaN) : ((v[mid - 1] ?? NaN) + (v[mid] ?? NaN)) / 2;
}

/** The latency figures every load reports, from ascending-sorted successful latencies. */
export function latencySummary(sorted: Float64Array): { meanMs: number; p50Ms: number; p90Ms: number; p99Ms: number; maxMs: number } {
  return {
    meanMs: mean(sorted),
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    maxMs: percentile(sorted, 100),
  };
}
