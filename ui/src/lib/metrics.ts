// A member's /metrics (Prometheus text) as the numbers the cluster charts need, and the series
// the charts draw: rates from counters and mean latencies from histograms' sum/count, between
// two scrapes. Bounded: each series keeps the last SERIES_POINTS samples.

/** The sum over all label sets of each metric named in `wanted` (others skipped unparsed). */
export function parseMetrics(text: string, wanted: ReadonlySet<string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.lastIndexOf(' ');
    if (space < 0) continue;
    const name = brace >= 0 && brace < space ? line.slice(0, brace) : line.slice(0, line.indexOf(' '));
    if (!wanted.has(name)) continue;
    const v = Number(line.slice(space + 1));
    if (Number.isFinite(v)) out.set(name, (out.get(name) ?? 0) + v);
  }
  return out;
}

export const METRIC_NAMES = {
  puts: 'etcd_mvcc_put_total',
  deletes: 'etcd_mvcc_delete_total',
  ranges: 'etcd_mvcc_range_total',
  fsyncSum: 'etcd_disk_wal_fsync_duration_seconds_sum',
  fsyncCount: 'etcd_disk_wal_fsync_duration_seconds_count',
  // etcd 3.5's apply histogram (every applied request); a server without it: the backend commit.
  applySum: 'etcd_server_apply_duration_seconds_sum',
  applyCount: 'etcd_server_apply_duration_seconds_count',
  commitSum: 'etcd_disk_backend_commit_duration_seconds_sum',
  commitCount: 'etcd_disk_backend_commit_duration_seconds_count',
  watchers: 'etcd_debugging_mvcc_watcher_total',
  leaderChanges: 'etcd_server_leader_changes_seen_total',
  keys: 'etcd_debugging_mvcc_keys_total',
} as const;

export const WANTED = new Set<string>(Object.values(METRIC_NAMES));

export interface Scrape {
  atMs: number;
  values: Map<string, number>;
}

export interface Point {
  atMs: number;
  value: number;
}

export interface MemberSeries {
  writesPerSec: Point[];
  readsPerSec: Point[];
  fsyncMs: Point[];
  applyMs: Point[];
  watchers: Point[];
}

export const SERIES_POINTS = 300;

export const emptySeries = (): MemberSeries => ({ writesPerSec: [], readsPerSec: [], fsyncMs: [], applyMs: [], watchers: [] });

function push(series: Point[], p: Point): void {
  series.push(p);
  if (series.length > SERIES_POINTS) series.splice(0, series.length - SERIES_POINTS);
}

/** Adds the points between two scrapes of one member to its series. */
export function addPoints(s: MemberSeries, prev: Scrape, cur: Scrape): void {
  const dt = (cur.atMs - prev.atMs) / 1000;
  if (dt <= 0) return;
  const v = (m: Map<string, number>, name: string): number => m.get(name) ?? 0;
  const delta = (name: string): number => Math.max(0, v(cur.values, name) - v(prev.values, name));
  const meanMs = (sum: string, count: string): number => {
    const n = delta(count);
    return n > 0 ? (delta(sum) / n) * 1000 : 0;
  };
  const at = cur.atMs;
  push(s.writesPerSec, { atMs: at, value: (delta(METRIC_NAMES.puts) + delta(METRIC_NAMES.deletes)) / dt });
  push(s.readsPerSec, { atMs: at, value: delta(METRIC_NAMES.ranges) / dt });
  push(s.fsyncMs, { atMs: at, value: meanMs(METRIC_NAMES.fsyncSum, METRIC_NAMES.fsyncCount) });
  const hasApply = cur.values.has(METRIC_NAMES.applyCount);
  push(s.applyMs, { atMs: at, value: hasApply ? meanMs(METRIC_NAMES.applySum, METRIC_NAMES.applyCount) : meanMs(METRIC_NAMES.commitSum, METRIC_NAMES.commitCount) });
  push(s.watchers, { atMs: at, value: v(cur.values, METRIC_NAMES.watchers) });
}

export async function scrape(base: string, signal?: AbortSignal): Promise<Scrape> {
  const res = await fetch(`${base}/metrics`, { signal: signal ?? AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`/metrics: HTTP ${res.status}`);
  return { atMs: Date.now(), values: parseMetrics(await res.text(), WANTED) };
}
