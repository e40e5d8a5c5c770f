// Entry point of `npm run bench`: parses flags, starts servers when asked to,
// runs every load against every target and prints the table + JSON line.
import * as fs from 'node:fs';
import { parseCommand, USAGE, UsageError, type Command, type Plan } from './options';
import { formatTable, jsonLine, type LoadReport } from './report';
import { prefill, runLoad } from './runner';
import { runWatchLoad } from './watch-runner';
import { runLeaseLoad } from './lease-runner';
import type { LoadSpec, RunConfig, RunResult } from './types';
import {
  findOnPath,
  installCleanupHandlers,
  startServer,
  stopServer,
  type ServerHandle,
  type ServerKind,
} from './servers';

interface Target {
  server: string;
  endpoints: string[];
  /** The server process when the bench started a single member itself (for its CPU and RSS). */
  pid: number | null;
}

/** A server kind to spawn and what to run it with. */
interface ServerSpec {
  kind: ServerKind;
  command: string;
}

type SpawnTargets = Extract<Plan['targets'], { kind: 'spawn' }>;

function log(msg: string): void {
  // Progress goes to stderr so stdout carries only the table and the JSON line.
  process.stderr.write(`[bench] ${msg}\n`);
}

function logRun(spec: LoadSpec, server: string, rep: number, reps: number, res: RunResult): void {
  const rate =
    spec.kind === 'watch' ? `events/s (${(res.putsPerSec ?? NaN).toFixed(0)} puts/s)`
    : spec.kind === 'lease' ? `keep-alives/s${res.server ? ` (server ${res.server.cpuSeconds.toFixed(2)} CPU s, RSS ${res.server.rssAfterMb.toFixed(0)} MB)` : ''}`
    : 'req/s';
  log(
    `${spec.name} on ${server} rep ${rep}/${reps}: ${res.throughput.toFixed(0)} ${rate}, ` +
      `p50 ${res.p50Ms.toFixed(2)} ms, p99 ${res.p99Ms.toFixed(2)} ms, ${res.seconds.toFixed(2)} s` +
      (res.errors > 0 ? `, ${res.errors} errors (${res.firstError ?? ''})` : ''),
  );
}

/** Which servers side-by-side mode compares, checked once up front. */
function resolveServers(t: SpawnTargets): ServerSpec[] {
  const servers: ServerSpec[] = [];
  if (t.only !== 'etcd') {
    if (!fs.existsSync(t.etcdTsMain)) {
      throw new Error(`${t.etcdTsMain} not found (build the server first, or use --only etcd / --target-endpoints)`);
    }
    servers.push({ kind: 'etcd-ts', command: t.etcdTsMain });
  }
  if (t.only !== 'etcd-ts') {
    const bin = findOnPath(t.etcdBin);
    if (bin === null) {
      // Without etcd the run still measures etcd-ts, just without a baseline.
      if (t.only === 'etcd') throw new Error(`etcd binary "${t.etcdBin}" not found`);
      log(`etcd not found on PATH; running etcd-ts only`);
    } else {
      servers.push({ kind: 'etcd', command: bin });
    }
  }
  return servers;
}

/** Watch and lease loads have runners of their own (streams rather than unary calls). */
function run(spec: LoadSpec, cfg: RunConfig): Promise<RunResult> {
  if (spec.kind === 'watch') return runWatchLoad(spec, cfg);
  if (spec.kind === 'lease') return runLeaseLoad(spec, cfg);
  return runLoad(spec, cfg);
}

function cfgFor(plan: Plan, endpoints: string[], serverPid: number | null = null): RunConfig {
  return { endpoints, workers: plan.workers, protoDir: plan.protoDir, callTimeoutMs: plan.callTimeoutMs, serverPid };
}

/** Loads that share long-lived targets: every load runs on every target in turn. */
async function runShared(plan: Plan, loads: LoadSpec[], targets: Target[]): Promise<LoadReport[]> {
  const reports: LoadReport[] = [];
  for (const spec of loads) {
    const byTarget = targets.map((t) => {
      const r: LoadReport = { load: spec.name, server: t.server, endpoint: t.endpoints.join(','), spec, runs: [] };
      reports.push(r);
      return r;
    });
    if (spec.kind === 'range' && spec.prefill) {
      for (const t of targets) {
        log(`${spec.name}: prefilling ${spec.keySpace} keys on ${t.server}`);
        await prefill(spec, cfgFor(plan, t.endpoints));
      }
    }
    // Servers alternate within each rep so slow drift (disk, page cache,
    // thermal) affects both sides alike.
    for (let rep = 1; rep <= plan.reps; rep++) {
      for (const [i, t] of targets.entries()) {
        const res = await run(spec, cfgFor(plan, t.endpoints, t.pid));
        byTarget[i]?.runs.push(res);
        logRun(spec, t.server, rep, plan.reps, res);
      }
    }
  }
  return reports;
}

/** Side-by-side single-member servers, started once and shared by all single-member loads. */
async function runSingleMember(plan: Plan, t: SpawnTargets, servers: ServerSpec[], loads: LoadSpec[]): Promise<LoadReport[]> {
  const started: ServerHandle[] = [];
  try {
    const targets: Target[] = [];
    for (const s of servers) {
      log(`starting ${s.kind}${s.kind === 'etcd' ? ` (${s.command})` : ''}`);
      const h = await startServer({ kind: s.kind, command: s.command, protoDir: plan.protoDir, startTimeoutMs: t.startTimeoutMs });
      started.push(h);
      targets.push({ server: s.kind, endpoints: h.endpoints, pid: h.members[0]?.child.pid ?? null });
      log(`${s.kind} serving on ${h.endpoints.join(',')}`);
    }
    return await runShared(plan, loads, targets);
  } finally {
    // Stopped before any cluster load so idle servers do not compete for the CPU.
    for (const h of started.reverse()) await stopServer(h);
  }
}

/**
 * A multi-member load: every run gets a fresh cluster of its own, started
 * before and stopped (data dirs removed) right after it, so each run starts
 * from an empty store and only one cluster uses the machine at a time.
 * Servers alternate within each rep, as for shared targets.
 */
async function runFreshClusters(plan: Plan, t: SpawnTargets, servers: ServerSpec[], spec: LoadSpec): Promise<LoadReport[]> {
  const reports = servers.map((s): LoadReport => ({ load: spec.name, server: s.kind, endpoint: '', spec, runs: [] }));
  for (let rep = 1; rep <= plan.reps; rep++) {
    for (const [i, s] of servers.entries()) {
      const t0 = Date.now();
      log(`${spec.name}: starting a ${spec.members}-member ${s.kind} cluster`);
      const h = await startServer({ kind: s.kind, command: s.command, protoDir: plan.protoDir, startTimeoutMs: t.startTimeoutMs, members: spec.members });
      try {
        log(`${spec.name}: ${s.kind} cluster serving on ${h.endpoints.join(',')} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        // One PID would be one member of several: server usage is reported for single members only.
        const cfg = cfgFor(plan, h.endpoints, h.members.length === 1 ? (h.members[0]?.child.pid ?? null) : null);
        if (spec.kind === 'range' && spec.prefill) await prefill(spec, cfg);
        const res = await run(spec, cfg);
        const r = reports[i];
        if (r) {
          r.runs.push(res);
          // Ports differ per run; keep the latest for the JSON line.
          r.endpoint = h.endpoints.join(',');
        }
        logRun(spec, s.kind, rep, plan.reps, res);
      } finally {
        const t1 = Date.now();
        await stopServer(h);
        log(`${spec.name}: ${s.kind} cluster stopped in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
      }
    }
  }
  return reports;
}

async function runPlan(plan: Plan): Promise<LoadReport[]> {
  const t = plan.targets;
  let reports: LoadReport[];
  if (t.kind === 'endpoints') {
    // Given endpoints are used as they are, whatever cluster is behind them.
    reports = await runShared(plan, plan.loads, [{ server: 'target', endpoints: t.endpoints, pid: null }]);
  } else {
    const servers = resolveServers(t);
    const single = plan.loads.filter((l) => l.members <= 1);
    reports = single.length > 0 ? await runSingleMember(plan, t, servers, single) : [];
    for (const spec of plan.loads.filter((l) => l.members > 1)) {
      reports.push(...(await runFreshClusters(plan, t, servers, spec)));
    }
  }
  // Table and JSON follow the suite order (sort is stable: servers keep theirs).
  const order = (r: LoadReport): number => plan.loads.findIndex((l) => l.name === r.load);
  return reports.sort((a, b) => order(a) - order(b));
}

async function main(): Promise<number> {
  let cmd: Command;
  try {
    cmd = parseCommand(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError || (err instanceof Error && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (cmd.mode === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const { plan } = cmd;
  installCleanupHandlers();
  const t0 = Date.now();
  const reports = await runPlan(plan);
  log(`loads done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  process.stdout.write(`${formatTable(reports)}\n`);
  process.stdout.write(`${jsonLine(reports, { reps: plan.reps, workers: plan.workers })}\n`);
  // Failed requests make the numbers suspect; let scripts notice.
  return reports.some((r) => r.runs.some((x) => x.errors > 0)) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[bench] error: ${err instanceof Error ? err.message : String(err)}\n`);
    // process.exit runs the 'exit' cleanup hook (kills servers, removes temp dirs).
    process.exit(1);
  },
);
