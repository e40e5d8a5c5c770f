// Entry point of `npm run bench`: parses flags, starts servers when asked to,
// runs every load against every target and prints the table + JSON line.
import * as fs from 'node:fs';
import { parseCommand, USAGE, UsageError, type Command, type Plan } from './options';
import { formatTable, jsonLine, type LoadReport } from './report';
import { prefill, runLoad } from './runner';
import type { RunConfig } from './types';
import {
  findOnPath,
  installCleanupHandlers,
  startServer,
  stopServer,
  type ServerHandle,
} from './servers';

interface Target {
  server: string;
  endpoints: string[];
}

function log(msg: string): void {
  // Progress goes to stderr so stdout carries only the table and the JSON line.
  process.stderr.write(`[bench] ${msg}\n`);
}

async function startTargets(plan: Plan, started: ServerHandle[]): Promise<Target[]> {
  const t = plan.targets;
  if (t.kind === 'endpoints') return [{ server: 'target', endpoints: t.endpoints }];

  const targets: Target[] = [];
  if (t.only !== 'etcd') {
    if (!fs.existsSync(t.etcdTsMain)) {
      throw new Error(`${t.etcdTsMain} not found (build the server first, or use --only etcd / --target-endpoints)`);
    }
    log('starting etcd-ts');
    const h = await startServer({ kind: 'etcd-ts', command: t.etcdTsMain, protoDir: plan.protoDir, startTimeoutMs: t.startTimeoutMs });
    started.push(h);
    targets.push({ server: 'etcd-ts', endpoints: [h.endpoint] });
    log(`etcd-ts serving on ${h.endpoint}`);
  }
  if (t.only !== 'etcd-ts') {
    const bin = findOnPath(t.etcdBin);
    if (bin === null) {
      // Without etcd the run still measures etcd-ts, just without a baseline.
      if (t.only === 'etcd') throw new Error(`etcd binary "${t.etcdBin}" not found`);
      log(`etcd not found on PATH; running etcd-ts only`);
    } else {
      log(`starting etcd (${bin})`);
      const h = await startServer({ kind: 'etcd', command: bin, protoDir: plan.protoDir, startTimeoutMs: t.startTimeoutMs });
      started.push(h);
      targets.push({ server: 'etcd', endpoints: [h.endpoint] });
      log(`etcd serving on ${h.endpoint}`);
    }
  }
  return targets;
}

async function runPlan(plan: Plan, targets: Target[]): Promise<LoadReport[]> {
  const reports: LoadReport[] = [];
  for (const spec of plan.loads) {
    const byTarget = targets.map((t) => {
      const r: LoadReport = { load: spec.name, server: t.server, endpoint: t.endpoints.join(','), spec, runs: [] };
      reports.push(r);
      return r;
    });
    const cfgFor = (t: Target): RunConfig => ({ endpoints: t.endpoints, workers: plan.workers, protoDir: plan.protoDir, callTimeoutMs: plan.callTimeoutMs });
    if (spec.kind === 'range' && spec.prefill) {
      for (const t of targets) {
        log(`${spec.name}: prefilling ${spec.keySpace} keys on ${t.server}`);
        await prefill(spec, cfgFor(t));
      }
    }
    // Servers alternate within each rep so slow drift (disk, page cache,
    // thermal) affects both sides alike.
    for (let rep = 1; rep <= plan.reps; rep++) {
      for (const [i, t] of targets.entries()) {
        const res = await runLoad(spec, cfgFor(t));
        byTarget[i]?.runs.push(res);
        log(
          `${spec.name} on ${t.server} rep ${rep}/${plan.reps}: ${res.throughput.toFixed(0)} req/s, ` +
            `p50 ${res.p50Ms.toFixed(2)} ms, p99 ${res.p99Ms.toFixed(2)} ms, ${res.seconds.toFixed(2)} s` +
            (res.errors > 0 ? `, ${res.errors} errors (${res.firstError ?? ''})` : ''),
        );
      }
    }
  }
  return reports;
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
  const started: ServerHandle[] = [];
  try {
    const targets = await startTargets(plan, started);
    const t0 = Date.now();
    const reports = await runPlan(plan, targets);
    log(`loads done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    process.stdout.write(`${formatTable(reports)}\n`);
    process.stdout.write(`${jsonLine(reports, { reps: plan.reps, workers: plan.workers })}\n`);
    // Failed requests make the numbers suspect; let scripts notice.
    return reports.some((r) => r.runs.some((x) => x.errors > 0)) ? 1 : 0;
  } finally {
    for (const h of started.reverse()) await stopServer(h);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[bench] error: ${err instanceof Error ? err.message : String(err)}\n`);
    // process.exit runs the 'exit' cleanup hook (kills servers, removes temp dirs).
    process.exit(1);
  },
);
