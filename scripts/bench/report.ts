// Turning run results into the human table and the machine JSON line.
import { median } from './stats';
import type { LoadSpec, RunResult } from './types';

export interface Summary {
  throughput: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Summed over reps: any failure matters, a median would hide it. */
  errors: number;
  firstError: string | null;
  /** Watch only: puts/s while the events were delivered (NaN otherwise). */
  putsPerSec: number;
  /** Lease only (NaN otherwise): server CPU seconds during the timed part, its RSS before/after it, bench CPU, grant rate. */
  serverCpuS: number;
  rssBeforeMb: number;
  rssAfterMb: number;
  clientCpuS: number;
  grantsPerSec: number;
}

export interface LoadReport {
  load: string;
  server: string;
  endpoint: string;
  spec: LoadSpec;
  runs: RunResult[];
}

/** Per-metric medians across reps (identity for a single rep). */
export function summarize(runs: RunResult[]): Summary {
  const m = (f: (r: RunResult) => number): number => median(runs.map(f));
  return {
    throughput: m((r) => r.throughput),
    meanMs: m((r) => r.meanMs),
    p50Ms: m((r) => r.p50Ms),
    p90Ms: m((r) => r.p90Ms),
    p99Ms: m((r) => r.p99Ms),
    maxMs: m((r) => r.maxMs),
    errors: runs.reduce((s, r) => s + r.errors, 0),
    firstError: runs.find((r) => r.firstError !== null)?.firstError ?? null,
    putsPerSec: m((r) => r.putsPerSec ?? NaN),
    serverCpuS: m((r) => r.server?.cpuSeconds ?? NaN),
    rssBeforeMb: m((r) => r.server?.rssBeforeMb ?? NaN),
    rssAfterMb: m((r) => r.server?.rssAfterMb ?? NaN),
    clientCpuS: m((r) => r.clientCpuSeconds ?? NaN),
    grantsPerSec: m((r) => r.grantsPerSec ?? NaN),
  };
}

/** etcd-ts value divided by etcd value of one metric, per load, when both ran. */
function ratiosOf(reports: LoadReport[], metric: (s: Summary) => number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of reports) {
    if (r.server !== 'etcd-ts') continue;
    const other = reports.find((o) => o.load === r.load && o.server === 'etcd');
    if (other) out[r.load] = metric(summarize(r.runs)) / metric(summarize(other.runs));
  }
  return out;
}

/** etcd-ts throughput divided by etcd throughput, per load (above 1: etcd-ts is faster). */
export function ratios(reports: LoadReport[]): Record<string, number> {
  return ratiosOf(reports, (s) => s.throughput);
}

/** etcd-ts p99 latency divided by etcd p99, per load (below 1: etcd-ts has the lower tail). */
export function p99Ratios(reports: LoadReport[]): Record<string, number> {
  return ratiosOf(reports, (s) => s.p99Ms);
}

function fmt(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

/** etcd-ts server CPU seconds over etcd's, per load that measured them (same work both sides: below 1 favours etcd-ts). */
export function cpuRatios(reports: LoadReport[]): Record<string, number> {
  return ratiosOf(reports.filter(measuredServer), (s) => s.serverCpuS);
}

/** etcd-ts server RSS after the timed part over etcd's. */
export function rssRatios(reports: LoadReport[]): Record<string, number> {
  return ratiosOf(reports.filter(measuredServer), (s) => s.rssAfterMb);
}

/** Only the lease load reads the server's /proc, and only on servers the bench started. */
function measuredServer(r: LoadReport): boolean {
  return r.runs.some((x) => x.server !== undefined);
}

/** The lease row's shape and the figures that do not fit the table (RSS before, bench CPU, grant rate, CPU and RSS ratios). */
function leaseNote(reports: LoadReport[], anyServer: boolean): string | null {
  const lease = reports.filter((r) => r.spec.kind === 'lease');
  const sp = lease[0]?.spec;
  if (sp === undefined) return null;
  const per = lease.map((r) => {
    const s = summarize(r.runs);
    const rss = Number.isFinite(s.rssAfterMb) ? ` RSS ${fmt(s.rssBeforeMb, 0)} -> ${fmt(s.rssAfterMb, 0)} MB,` : '';
    return `${r.server}${rss} bench CPU ${fmt(s.clientCpuS, 2)} s, ${fmt(s.grantsPerSec, 0)} grants/s`;
  });
  const cpu = cpuRatios(reports);
  const rss = rssRatios(reports);
  const rat = Object.keys(cpu).map((k) => `${k} etcd-ts/etcd CPU ${fmt(cpu[k] ?? NaN, 2)}x, RSS ${fmt(rss[k] ?? NaN, 2)}x`);
  return (
    `lease: req/s = keep-alives/s (${sp.total} over ${sp.clients} streams x ${sp.streamDepth} in flight, ${sp.conns} conns, ` +
    `${sp.leases} leases, TTL ${sp.leaseTtl} s), p50/p99 = request sent -> answer; ` +
    (anyServer ? 'srv CPU s = server utime+stime during the keep-alives, srv RSS = after them; ' : '') +
    [...per, ...rat].join('; ')
  );
}

export function formatTable(reports: LoadReport[]): string {
  const ratioByLoad = ratios(reports);
  const p99RatioByLoad = p99Ratios(reports);
  const anyErrors = reports.some((r) => summarize(r.runs).errors > 0);
  // Server columns only when some load measured the server (the lease load, on servers the bench started).
  const anyServer = reports.some(measuredServer);
  // Ratios are etcd-ts over etcd: req/s above 1 and p99 below 1 favour etcd-ts.
  const header = ['load', 'server', 'req/s', 'p50 ms', 'p99 ms', 'etcd-ts/etcd', 'p99 ts/etcd'];
  if (anyServer) header.push('srv CPU s', 'srv RSS MB');
  if (anyErrors) header.push('errors');
  const rows = reports.map((r) => {
    const s = summarize(r.runs);
    const ratio = r.server === 'etcd-ts' ? ratioByLoad[r.load] : undefined;
    const p99Ratio = r.server === 'etcd-ts' ? p99RatioByLoad[r.load] : undefined;
    const x = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '' : `${v.toFixed(2)}x`);
    const row = [r.load, r.server, fmt(s.throughput, 0), fmt(s.p50Ms, 2), fmt(s.p99Ms, 2), x(ratio), x(p99Ratio)];
    if (anyServer) row.push(Number.isFinite(s.serverCpuS) ? fmt(s.serverCpuS, 2) : '', Number.isFinite(s.rssAfterMb) ? fmt(s.rssAfterMb, 0) : '');
    if (anyErrors) row.push(String(s.errors));
    return row;
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  // Text columns left-aligned, numbers right-aligned.
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  const out = [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
  // The watch row's rate is events, not requests; its put rate goes underneath.
  const watch = reports.filter((r) => r.spec.kind === 'watch');
  if (watch.length > 0) {
    const puts = watch.map((r) => `${r.server} ${fmt(summarize(r.runs).putsPerSec, 0)}`).join(', ');
    out.push(`watch: req/s = events delivered/s (watchers x puts / first put -> last event), p50/p99 = put sent -> event received; puts/s: ${puts}`);
  }
  const leaseLine = leaseNote(reports, anyServer);
  if (leaseLine !== null) out.push(leaseLine);
  for (const r of reports) {
    const s = summarize(r.runs);
    if (s.errors > 0) out.push(`! ${r.load} on ${r.server}: ${s.errors} ${r.spec.kind === 'watch' ? 'errors' : r.spec.kind === 'lease' ? 'failed keep-alives' : 'failed requests'}, first: ${s.firstError ?? '?'}`);
  }
  return out.join('\n');
}

const round = (n: number): number | null => (Number.isFinite(n) ? Math.round(n * 1000) / 1000 : null);

function rounded(r: Record<string, number>): Record<string, number | null> {
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, round(v)]));
}

export function jsonLine(reports: LoadReport[], meta: { reps: number; workers: number }): string {
  const rat: Record<string, number | null> = {};
  for (const [k, v] of Object.entries(ratios(reports))) rat[k] = round(v);
  const p99Rat: Record<string, number | null> = {};
  for (const [k, v] of Object.entries(p99Ratios(reports))) p99Rat[k] = round(v);
  return JSON.stringify({
    bench: 'etcd-ts',
    reps: meta.reps,
    workers: meta.workers,
    results: reports.map((r) => {
      const s = summarize(r.runs);
      return {
        load: r.load,
        server: r.server,
        endpoint: r.endpoint,
        kind: r.spec.kind,
        total: r.spec.total,
        clients: r.spec.clients,
        conns: r.spec.conns,
        members: r.spec.members,
        keySize: r.spec.keySize,
        valSize: r.spec.valSize,
        keySpace: r.spec.keySpace,
        sequentialKeys: r.spec.sequentialKeys,
        ...(r.spec.kind === 'range' ? { serializable: r.spec.serializable } : {}),
        ...(r.spec.kind === 'watch'
          ? { watchers: r.spec.watchers, watchStreams: r.spec.watchStreams, eventsPerSec: round(s.throughput), putsPerSec: round(s.putsPerSec) }
          : {}),
        ...(r.spec.kind === 'lease'
          ? {
              leases: r.spec.leases,
              leaseTtl: r.spec.leaseTtl,
              streamDepth: r.spec.streamDepth,
              keepAlivesPerSec: round(s.throughput),
              grantsPerSec: round(s.grantsPerSec),
              serverCpuS: round(s.serverCpuS),
              serverRssBeforeMb: round(s.rssBeforeMb),
              serverRssMb: round(s.rssAfterMb),
              clientCpuS: round(s.clientCpuS),
            }
          : {}),
        reqPerSec: round(s.throughput),
        meanMs: round(s.meanMs),
        p50Ms: round(s.p50Ms),
        p90Ms: round(s.p90Ms),
        p99Ms: round(s.p99Ms),
        maxMs: round(s.maxMs),
        errors: s.errors,
        firstError: s.firstError,
        runs: r.runs.map((x) => ({
          reqPerSec: round(x.throughput),
          seconds: round(x.seconds),
          p50Ms: round(x.p50Ms),
          p99Ms: round(x.p99Ms),
          ...(x.putsPerSec !== undefined ? { putsPerSec: round(x.putsPerSec) } : {}),
          ...(x.server !== undefined ? { serverCpuS: round(x.server.cpuSeconds), serverRssMb: round(x.server.rssAfterMb) } : {}),
          errors: x.errors,
        })),
      };
    }),
    ratioEtcdTsOverEtcd: rat,
    p99RatioEtcdTsOverEtcd: p99Rat,
    serverCpuRatioEtcdTsOverEtcd: rounded(cpuRatios(reports)),
    serverRssRatioEtcdTsOverEtcd: rounded(rssRatios(reports)),
  });
}
