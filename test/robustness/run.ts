// A Jepsen-style robustness run against a 3-member etcd-ts cluster: clients over real gRPC doing
// puts, gets, deletes, optimistic txns, leases and compactions, watchers resuming across members,
// and faults injected at random (kill, stop, partition, blackhole, leader transfer, rolling restart,
// member replacement, bad-input fuzzing). At the end the cluster is healed, its members must
// converge, and the recorded history (history.ts) goes through the checkers.
//
//   npm run robustness -- --minutes N [--seconds N] [--seed S] [--out DIR] [--clients C] [--rate OPS/s]
//                         [--every-kind-first] [--check-seconds S] [--keep-data]
//
// Exits non-zero when a checker finds a violation, cannot decide, or the harness saw a crash, a
// stuck cluster or members that disagree. The seed to replay is printed.
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ClusterControl } from './cluster-control';
import { checkDurability } from './check-durability';
import { checkLinearizability } from './check-linearizability';
import { checkWatches } from './check-watch';
import { FaultInjector } from './faults';
import { runFuzz } from './fuzz';
import type { History, Verdict, WatchEvent } from './history';
import { Prng, sleep } from './prng';
import { now, Recorder } from './recorder';
import { passed, renderReport, writeOutputs, type RunSummary } from './report';
import { errorText, once, str, type Msg } from './rpc';
import { Watcher } from './watchers';
import { Compactor, Janitor, WorkloadClient, type WorkloadOptions } from './workload';

export interface RunOptions {
  durationMs: number;
  seed: number;
  /** Output dir (default: a new dir under the OS temp dir). */
  out?: string;
  clients: number;
  /** Target ops/s over all clients. */
  rate: number;
  /** Each fault kind once first (random order), then random ones; the run lasts until all ran. */
  everyKindFirst: boolean;
  /** Pause between faults (ms). */
  faultGapMs: [number, number];
  /** Time the linearizability checker may take. */
  checkTimeMs: number;
  keepData: boolean;
  /** Extra flags for every member. */
  memberArgs: string[];
  /** Print progress lines. */
  verbose: boolean;
}

export const DEFAULTS: RunOptions = {
  durationMs: 60_000,
  seed: 0,
  clients: 5,
  rate: 200,
  everyKindFirst: false,
  faultGapMs: [1500, 4000],
  checkTimeMs: 60_000,
  keepData: false,
  memberArgs: ['--snapshot-count', '1000'],
  verbose: true,
};

export interface RunResult {
  ok: boolean;
  outDir: string;
  report: string;
  summary: RunSummary;
}

/** Processes to clean up on SIGINT / SIGTERM / a crash of the harness. */
const active = new Set<ClusterControl>();
export async function cleanupAll(): Promise<void> {
  for (const c of [...active]) {
    active.delete(c);
    await c.cleanup(true);
  }
}

export async function runRobustness(partial: Partial<RunOptions> = {}): Promise<RunResult> {
  const o: RunOptions = { ...DEFAULTS, ...partial };
  const say = (s: string): void => {
    if (o.verbose) process.stdout.write(`[robustness +${(now() / 1000).toFixed(1)}s] ${s}\n`);
  };
  const outDir = resolve(o.out ?? join(tmpdir(), `etcd-ts-robustness-${new Date().toISOString().replace(/[:.]/g, '-')}-seed${o.seed}`));
  mkdirSync(outDir, { recursive: true });
  const rec = new Recorder(o.seed);
  const prng = new Prng(o.seed);
  const t0 = now();

  say(`seed ${o.seed}, ${Math.round(o.durationMs / 1000)} s, ${o.clients} clients, output ${outDir}`);
  // Free ports are picked, then bound by the members: another process may take one in between.
  let cluster: ClusterControl | undefined;
  for (let attempt = 1; cluster === undefined; attempt++) {
    try {
      cluster = await ClusterControl.start(3, o.memberArgs, rec);
    } catch (e) {
      if (attempt >= 3 || !/EADDRINUSE/.test(errorText(e))) throw e;
      say(`cluster start failed (${errorText(e).slice(0, 200)}); again with other ports`);
      rec.anomalies.length = 0;
    }
  }
  active.add(cluster);
  const watchers: Watcher[] = [];
  const clients: WorkloadClient[] = [];
  let stopWorkload = false;
  let finalEvents: WatchEvent[] = [];
  let finalState: History['finalState'] = {};
  let finalRevision = 0;
  let convergence = 'not reached';
  const faultsDone: Record<string, number> = {};
  try {
    await cluster.waitHealthy(30_000);
    say(`cluster up: ${cluster.members.map((m) => `${m.name}@${m.endpoint}`).join(' ')}`);
    const live = (): string[] => cluster.liveEndpoints();

    // The reference watcher (everything, from revision 1), then the others on overlapping ranges.
    const ref = new Watcher({ id: 0, key: '\0', rangeEnd: '\0', endpoints: live, prng: prng.fork(), rec, hopPerSecond: 0.02, reference: true });
    watchers.push(ref);
    ref.start(1);
    for (const [i, [key, end]] of WATCH_RANGES.entries()) {
      const w = new Watcher({ id: i + 1, key, rangeEnd: end, endpoints: live, prng: prng.fork(), rec, hopPerSecond: 0.03 });
      watchers.push(w);
    }

    const wo: WorkloadOptions = { endpoints: live, rec, ratePerClient: o.rate / o.clients, timeoutMs: 3000 };
    for (let i = 0; i < o.clients; i++) clients.push(new WorkloadClient(i, prng.fork(), wo));
    const compactor = new Compactor(o.clients, prng.fork(), wo);
    const janitor = new Janitor(o.clients + 1, prng.fork(), wo);
    const deadline = now() + o.durationMs;
    const timeUp = (): boolean => now() >= deadline;
    const loops = clients.map((c) => c.run(() => stopWorkload));
    const compacting = compactor.run(() => stopWorkload, () => ref.lastRev, [3000, 8000]);
    // The other watchers start a little later, some from the past.
    const starting = (async () => {
      for (const w of watchers.slice(1)) {
        await sleep(prng.int(200, 1500));
        w.start(Math.max(1, ref.lastRev - prng.int(0, 40)));
      }
    })();

    const progress = setInterval(() => {
      const done = rec.calls.filter((c) => c.completeMs !== undefined).length;
      say(`${done} ops, ${rec.faults.length} faults, reference watcher at ${ref.lastRev}, ${rec.anomalies.length} anomalies`);
    }, 10_000);
    progress.unref();

    const injector = new FaultInjector(cluster, rec, prng.fork(), runFuzz);
    try {
      await injector.run(timeUp, o.everyKindFirst, o.faultGapMs);
      // The run lasts at least durationMs (faults may stop early on a stuck cluster).
      while (!timeUp() && injector.stuck === undefined) await sleep(200);
    } finally {
      Object.assign(faultsDone, injector.done);
    }
    say(`faults over (${rec.faults.length}); healing`);
    let healthy = true;
    try {
      await injector.recover(60_000);
    } catch (e) {
      healthy = false;
      rec.anomaly(`cluster not healthy 60 s after the last fault was healed: ${errorText(e)}`);
    }
    stopWorkload = true;
    await Promise.all([...loops, compacting, starting]);
    clearInterval(progress);
    say(`workload stopped: ${rec.calls.length} calls`);

    {
      // (Also when not every member recovered: the final state is read from those that serve,
      // the stuck ones are reported, and the history is still checked.)
      // Leases run out (short TTLs); any left (e.g. granted with an unknown outcome and long
      // renewed) are revoked as recorded calls, so that nothing changes after the final read.
      await waitLeasesGone(cluster, 20_000);
      const left = await leasesLeft(cluster);
      for (const id of left) await janitor.revoke(id);
      if (left.length > 0) await waitLeasesGone(cluster, 10_000);

      const fin = await finalRead(cluster, rec, healthy ? 30_000 : 10_000);
      finalState = fin.state;
      finalRevision = fin.revision;
      convergence = fin.convergence;
      say(`final revision ${finalRevision}: ${convergence}`);

      // Every watcher catches up to the final revision (the reference one must).
      const t1 = now();
      while (now() - t1 < 30_000 && !watchers.every((w) => w.caughtUp(finalRevision))) {
        for (const w of watchers) if (!w.caughtUp(finalRevision)) w.requestProgress();
        await sleep(300);
      }
      if (ref.lastRev < finalRevision) rec.anomaly(`the reference watcher did not reach the final revision ${finalRevision} within 30 s (last event at ${ref.lastRev}, ${ref.sessions} sessions)`);
      const behind = watchers.filter((w) => !w.caughtUp(finalRevision));
      if (behind.length > 0) rec.note(`watchers not confirmed caught up: ${behind.length}`);
    }
    compactor.close();
    janitor.close();
  } catch (e) {
    rec.anomaly(`harness error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  } finally {
    stopWorkload = true;
    for (const w of watchers) w.close();
    for (const c of clients) c.close();
  }
  const ref = watchers[0];
  finalEvents = ref?.events ?? [];

  // Stop the cluster before checking (the checkers want the CPU); keep the member logs.
  const memberLogs: { file: string; text: string }[] = [];
  const members: RunSummary['members'] = [];
  for (const m of cluster.allMembers()) {
    const errorLogs: Record<string, number> = {};
    m.incarnations.forEach((inc, i) => {
      const text = inc.proc.stderr();
      memberLogs.push({ file: `${m.name}-${i + 1}.log`, text });
      for (const line of text.split('\n')) {
        const lvl = /"level":(\d+)/.exec(line);
        if (lvl !== null && Number(lvl[1]) >= 50) {
          const msg = /"msg":"([^"]*)"/.exec(line)?.[1] ?? line.slice(0, 100);
          errorLogs[msg] = (errorLogs[msg] ?? 0) + 1;
        } else if (lvl === null && line.trim() !== '' && !line.startsWith('{')) {
          const k = `stderr: ${line.trim().slice(0, 100)}`;
          errorLogs[k] = (errorLogs[k] ?? 0) + 1;
        }
      }
    });
    members.push({ name: m.name, incarnations: m.incarnations.length, errorLogs });
  }
  active.delete(cluster);
  await cluster.cleanup(!o.keepData);
  say(`cluster stopped${o.keepData ? ` (data kept in ${cluster.root})` : ''}; checking`);

  const history = rec.history(finalEvents, finalState, finalRevision);
  const verdicts: Verdict[] = [];
  if (finalRevision === 0) {
    for (const checker of ['linearizability', 'watch', 'durability'] as const) verdicts.push({ checker, result: 'unknown', message: 'not checked: no final state could be read (see anomalies)' });
  } else {
    const runCheck = async (name: Verdict['checker'], fn: () => Verdict | Promise<Verdict>): Promise<void> => {
      const t = now();
      try {
        verdicts.push(await fn());
      } catch (e) {
        verdicts.push({ checker: name, result: 'unknown', message: `checker threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}` });
      }
      say(`${name}: ${verdicts[verdicts.length - 1].result} (${Math.round(now() - t)} ms)`);
    };
    await runCheck('linearizability', () => checkLinearizability(history, o.checkTimeMs));
    await runCheck('watch', () => checkWatches(history));
    await runCheck('durability', () => checkDurability(history));
  }

  const summary: RunSummary = {
    seed: o.seed,
    durationMs: now() - t0,
    clients: o.clients,
    replay: `npm run robustness -- --seconds ${Math.round(o.durationMs / 1000)} --seed ${o.seed} --clients ${o.clients} --rate ${o.rate}${o.everyKindFirst ? ' --every-kind-first' : ''}`,
    history,
    verdicts,
    anomalies: rec.anomalies,
    errors: rec.errors,
    watchers: watchers.map((w, i) => ({ id: i, range: i === 0 ? 'everything (reference)' : rangeText(WATCH_RANGES[i - 1]), sessions: w.sessions, hops: w.hops, compactions: w.compactions, events: history.watches.filter((s) => s.watcher === i).reduce((n, s) => n + s.responses.reduce((k, r) => k + r.events.length, 0), 0) })),
    members,
    convergence,
    log: rec.log,
    faultsDone,
  };
  const report = writeOutputs(outDir, summary, memberLogs);
  return { ok: passed(summary), outDir, report, summary };
}

/** The watchers besides the reference one: [key, rangeEnd) ('' rangeEnd: the key alone), overlapping. */
const WATCH_RANGES: [string, string][] = [
  ['k/', 'k0'],
  ['k/00', 'k/06'],
  ['k/04', 'k/10'],
  ['k/03', ''],
  ['k/09', ''],
];
const rangeText = ([k, e]: [string, string] = ['?', '']): string => (e === '' ? k : `[${k}, ${e})`);

async function leasesLeft(cluster: ClusterControl): Promise<string[]> {
  for (const ep of cluster.liveEndpoints()) {
    try {
      const r = await once('Lease', ep, 'LeaseLeases', {}, 3000);
      return ((r.leases as Msg[]) ?? []).map((l) => String(l.ID));
    } catch {
      // next
    }
  }
  return [];
}

async function waitLeasesGone(cluster: ClusterControl, timeoutMs: number): Promise<void> {
  const t0 = now();
  while (now() - t0 < timeoutMs && (await leasesLeft(cluster)).length > 0) await sleep(500);
}

/**
 * The final state: a linearizable Range of every key; then every member must reach that revision
 * and give the same HashKV at it; and a second read must find the revision unchanged (nothing
 * moved after the final read). Retried a few times while revisions still move.
 */
async function finalRead(cluster: ClusterControl, rec: Recorder, catchUpMs: number): Promise<{ state: History['finalState']; revision: number; convergence: string }> {
  let lastWhy = '';
  for (let attempt = 0; attempt < 6; attempt++) {
    const ep = cluster.liveEndpoints()[attempt % cluster.liveEndpoints().length];
    let r: Msg;
    try {
      r = await once('KV', ep, 'Range', { key: Buffer.from([0]), range_end: Buffer.from([0]) }, 5000);
    } catch (e) {
      lastWhy = `final read on ${ep}: ${errorText(e)}`;
      await sleep(1000);
      continue;
    }
    const revision = Number(r.header.revision);
    const state: History['finalState'] = {};
    for (const kv of (r.kvs as Msg[]) ?? []) state[str(kv.key)] = [str(kv.value), Number(kv.mod_revision)];
    const hashes: string[] = [];
    let behind = '';
    for (const m of cluster.members) {
      const t0 = now();
      let rev = 0;
      while (now() - t0 < catchUpMs) {
        try {
          rev = Number((await once('KV', m.endpoint, 'Range', { key: Buffer.from('health'), serializable: true }, 2000)).header.revision);
          if (rev >= revision) break;
        } catch {
          // retry
        }
        await sleep(200);
      }
      if (rev < revision) {
        behind += `${m.name} stuck at revision ${rev} < ${revision}; `;
        continue;
      }
      try {
        const h = await once('Maintenance', m.endpoint, 'HashKV', { revision }, 10_000);
        hashes.push(`${m.name}: hash ${h.hash} at ${h.hash_revision} (compacted ${h.compact_revision})`);
      } catch (e) {
        behind += `${m.name} HashKV: ${errorText(e)}; `;
      }
    }
    const again = await once('KV', ep, 'Range', { key: Buffer.from('health') }, 5000).catch(() => undefined);
    const moved = again !== undefined && Number(again.header.revision) !== revision;
    if (moved) {
      lastWhy = `revision moved from ${revision} to ${again?.header.revision} after the final read`;
      rec.note(lastWhy);
      await sleep(2000);
      continue;
    }
    const distinct = new Set(hashes.map((x) => x.replace(/^m\d+: /, '')));
    if (behind !== '' || distinct.size !== 1) {
      rec.anomaly(`members do not converge at revision ${revision}: ${behind}${hashes.join('; ')}`);
      return { state, revision, convergence: `NOT CONVERGED at ${revision}: ${behind}${hashes.join('; ')}` };
    }
    return { state, revision, convergence: `all ${cluster.members.length} members agree at revision ${revision}: ${hashes.join('; ')}` };
  }
  rec.anomaly(`no stable final state: ${lastWhy}`);
  return { state: {}, revision: 0, convergence: `no stable final state: ${lastWhy}` };
}

function parseArgs(argv: string[]): Partial<RunOptions> {
  const o: Partial<RunOptions> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const val = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const num = (): number => {
      const v = Number(val());
      if (!Number.isFinite(v)) throw new Error(`${flag}: not a number`);
      return v;
    };
    switch (flag) {
      case '--minutes':
        o.durationMs = num() * 60_000;
        break;
      case '--seconds':
        o.durationMs = num() * 1000;
        break;
      case '--seed':
        o.seed = num() >>> 0;
        break;
      case '--out':
        o.out = val();
        break;
      case '--clients':
        o.clients = num();
        break;
      case '--rate':
        o.rate = num();
        break;
      case '--every-kind-first':
        o.everyKindFirst = true;
        break;
      case '--check-seconds':
        o.checkTimeMs = num() * 1000;
        break;
      case '--keep-data':
        o.keepData = true;
        break;
      case '--help':
      case '-h':
        process.stdout.write('npm run robustness -- [--minutes N=1 | --seconds N] [--seed S=random] [--out DIR] [--clients C=5] [--rate OPS/s=200] [--every-kind-first] [--check-seconds S=60] [--keep-data]\n');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown flag ${a}`);
    }
  }
  return o;
}

async function main(): Promise<void> {
  let opts: Partial<RunOptions>;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`robustness: ${errorText(e)}\n`);
    process.exit(2);
  }
  if (opts.seed === undefined) opts.seed = Math.floor(Math.random() * 2 ** 31);
  const onSignal = (sig: string): void => {
    process.stderr.write(`\nrobustness: ${sig}: stopping every member (seed ${opts.seed})\n`);
    cleanupAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  let result: RunResult;
  try {
    result = await runRobustness(opts);
  } catch (e) {
    process.stderr.write(`robustness: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\nseed ${opts.seed}\n`);
    await cleanupAll();
    process.exit(1);
  }
  process.stdout.write(`\n${result.report}\noutput: ${result.outDir}\n`);
  process.exit(result.ok ? 0 : 1);
}

if (require.main === module) void main();

export { renderReport };
