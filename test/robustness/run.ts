// A Jepsen-style robustness run against a 3-member etcd-ts cluster: clients over real gRPC doing
// puts, gets, deletes, optimistic txns, leases and compactions, lease stress traffic (short leases
// with keys, kept alive, revoked or left to expire), watchers resuming across members, and faults
// injected at random. After every fault: every member must have a leader and serve a linearizable
// read within 2 election timeouts + 5 s of the fault being lifted (else a liveness failure), and
// HashKV must agree on every member and over leases' keys must be gone. At the end the cluster is
// healed, its members must converge, and the recorded history (history.ts) goes through the
// checkers (linearizability, watch, durability).
//
//   npm run robustness -- [--minutes N | --seconds N] [--seed S] [--out DIR] [--clients C] [--rate OPS/s]
//                         [--lease-rate OPS/s] [--faults K1,K2,...] [--rounds N] [--every-kind-first]
//                         [--hold-scale X] [--check-seconds S] [--keep-data] [--member-arg ARG]...
//                         [--tls] [--auth]
//
//   --faults     restrict the faults to these kinds or groups (a group: one of its kinds per round)
//   --rounds N   stop after N faults (without --minutes/--seconds the run lasts until then)
//   --every-kind-first  every kind (of --faults, if given) once first, in random order
//   --hold-scale multiplies every fault's hold time (the CI run holds faults for less)
//   --lease-rate ops/s of the lease stress clients (0: none); --rate is the KV workload's
//   --member-arg one more flag for every member (repeat it; e.g. --member-arg=--log-level=info)
//   --tls        every client and peer URL https: a CA and certificates made for the run (in
//                <out>/tls), --client-cert-auth and --peer-client-cert-auth on every member, peer
//                TLS through the fault proxies as any other bytes; every client of the harness
//                (and the fuzzer's raw HTTP/2) presents the client certificate
//   --auth       once the cluster is up, users root and app (READWRITE on every key) are added and
//                auth is enabled over the Auth service; the workload, watchers and lease clients
//                then call as app, checkers and maintenance as root, with tokens got again when
//                a member refuses one (security.ts, access.ts). --tls and --auth combine.
//   e.g. 100 rounds of blackholing one random member (the leader or a follower) for 5-10 s under
//   stress: npm run robustness -- --faults blackhole-one --rounds 100
//
// Fault kinds (fault-kinds.ts; `--help` prints this table too):
//   kill                      SIGKILL one member (the leader or a follower), restart it with its data
//   stop                      SIGSTOP one member for 1.5-5 s, then SIGCONT
//   sigterm-quorum            SIGTERM 2 of 3 members at once, restart them after 1-3 s
//   sigterm-all               SIGTERM every member at once, restart them all
//   partition                 cut every peer link of one member (reset, new connections refused), 2-6 s
//   blackhole-one-way         TCP blackhole of one member's inbound or outbound peer traffic, 2-5 s
//   blackhole-follower        two-way TCP blackhole (bytes vanish, connections stay open) of a follower, 5-10 s
//   blackhole-leader          the same, of the leader
//   blackhole-quorum          the same, of 2 of 3 members (with 3 members: every link)
//   blackhole-all             the same, of every link
//   delay-follower            every chunk on a follower's peer links 500±200 ms or 200±100 ms late, 5-10 s
//   delay-leader / delay-quorum / delay-all   the same, of the leader / 2 of 3 / every link
//   transfer-leader           Maintenance.MoveLeader to a random follower
//   rolling-restart           restart every member one after another (SIGTERM or SIGKILL)
//   partition-rolling-restart two at once: one member partitioned during a whole rolling restart
//   replace-member            remove a member, add a new one (new name, URL, data; voter or learner)
//   readd-member              remove a member, wipe its data, MemberAdd the same peer URL again (a new
//                             member ID, as etcd gives), start it under the same name
//   snapshot-catch-up         SIGKILL a follower, write 4x the log retention (min(--snapshot-count,
//                             10,000)) of entries, restart it: it can only catch up from a snapshot
//   fuzz                      bad-input fuzzing of every client endpoint, 2-5 s
// Groups: blackhole-one (follower or leader), blackhole, delay-one, delay, network, process,
// membership, compound.
//
// The report (report.txt in the output dir, and printed) has the worst recovery time per fault
// kind. Exits non-zero when a checker finds a violation or cannot decide, a liveness failure, or
// the harness saw a crash, a stuck cluster, a HashKV mismatch, leases' keys that outlived them, or
// members that disagree. The seed to replay is printed.
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AfterFaultChecks } from './after-fault-checks';
import { ClusterControl } from './cluster-control';
import { checkDurability } from './check-durability';
import { checkLinearizability } from './check-linearizability';
import { checkWatches } from './check-watch';
import { FaultInjector } from './faults';
import { Filler } from './filler';
import { finalRead, leasesLeft, waitLeasesGone } from './final-read';
import { runFuzz } from './fuzz';
import type { History, Verdict, WatchEvent } from './history';
import { LeaseStressClient } from './lease-stress';
import { Prng, sleep } from './prng';
import { now, Recorder } from './recorder';
import { electionTimeoutMs, livenessBoundMs, RecoveryStats, snapshotCount } from './recovery-stats';
import { passed, renderReport, writeOutputs, type RunSummary } from './report';
import { DEFAULTS, parseArgs, replayCommand, type RunOptions } from './run-options';
import { errorText } from './rpc';
import { enableAuth, prepareSecurity } from './security';
import { Watcher } from './watchers';
import { Compactor, Janitor, WorkloadClient, type WorkloadOptions } from './workload';

/** Writers of the snapshot-catch-up fault's entries: enough in flight for group commit to pay. */
const FILL_WRITERS = 24;

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
  const electionMs = electionTimeoutMs(o.memberArgs);
  const recovery = new RecoveryStats(livenessBoundMs(electionMs));

  const length = Number.isFinite(o.durationMs) ? `${Math.round(o.durationMs / 1000)} s` : `${o.rounds ?? '?'} rounds`;
  const security = await prepareSecurity({ tls: o.tls, auth: o.auth, dir: join(outDir, 'tls'), rec });
  const mode = security.access.mode;
  say(`seed ${o.seed}, ${mode}, ${length}, ${o.clients} clients + lease stress ${o.leaseRate} ops/s, liveness bound ${recovery.boundMs} ms, output ${outDir}`);
  // Free ports are picked, then bound by the members: another process may take one in between.
  let cluster: ClusterControl | undefined;
  for (let attempt = 1; cluster === undefined; attempt++) {
    try {
      cluster = await ClusterControl.start(3, o.memberArgs, rec, security);
    } catch (e) {
      if (attempt >= 3 || !/EADDRINUSE/.test(errorText(e))) throw e;
      say(`cluster start failed (${errorText(e).slice(0, 200)}); again with other ports`);
      rec.anomalies.length = 0;
    }
  }
  active.add(cluster);
  const watchers: Watcher[] = [];
  const clients: WorkloadClient[] = [];
  const stress: LeaseStressClient[] = [];
  let checks: AfterFaultChecks | undefined;
  let stopWorkload = false;
  let finalEvents: WatchEvent[] = [];
  let finalState: History['finalState'] = {};
  let finalRevision = 0;
  let convergence = 'not reached';
  const faultsDone: Record<string, number> = {};
  try {
    await cluster.waitHealthy(30_000);
    say(`cluster up: ${cluster.members.map((m) => `${m.name}@${security.access.scheme}://${m.endpoint}`).join(' ')}`);
    if (o.auth) {
      const done = await enableAuth(cluster, rec);
      rec.note(done);
      say(done);
    }
    const live = (): string[] => cluster.liveEndpoints();
    const access = security.access;

    // The reference watcher (everything, from revision 1), then the others on overlapping ranges.
    const ref = new Watcher({ id: 0, key: '\0', rangeEnd: '\0', endpoints: live, prng: prng.fork(), rec, hopPerSecond: 0.02, reference: true, access });
    watchers.push(ref);
    ref.start(1);
    for (const [i, [key, end]] of WATCH_RANGES.entries()) {
      const w = new Watcher({ id: i + 1, key, rangeEnd: end, endpoints: live, prng: prng.fork(), rec, hopPerSecond: 0.03, access });
      watchers.push(w);
    }

    const wo: WorkloadOptions = { endpoints: live, rec, ratePerClient: o.rate / o.clients, timeoutMs: 3000, access };
    for (let i = 0; i < o.clients; i++) clients.push(new WorkloadClient(i, prng.fork(), wo));
    const compactor = new Compactor(o.clients, prng.fork(), wo);
    const janitor = new Janitor(o.clients + 1, prng.fork(), wo);
    // Client IDs: workload 0..C-1, compactor C, janitor C+1, lease stress, then the fillers.
    const stressClients = o.leaseRate > 0 ? Math.max(1, Math.round(o.leaseRate / 50)) : 0;
    for (let i = 0; i < stressClients; i++) stress.push(new LeaseStressClient(o.clients + 2 + i, prng.fork(), wo));
    const filler = new Filler(o.clients + 2 + stressClients, FILL_WRITERS, prng.fork(), { ...wo, ratePerClient: Infinity });
    const deadline = now() + o.durationMs;
    const timeUp = (): boolean => now() >= deadline;
    const loops = [...clients.map((c) => c.run(() => stopWorkload)), ...stress.map((c) => c.run(() => stopWorkload, o.leaseRate / stressClients))];
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

    checks = new AfterFaultChecks(cluster, rec, stress, electionMs);
    const fuzz = (eps: string[], seed: number, ms: number): ReturnType<typeof runFuzz> => runFuzz(eps, seed, ms, { tls: access.tls });
    const injector = new FaultInjector({ cluster, rec, prng: prng.fork(), runFuzz: fuzz, filler, recovery, checks, snapshotCount: snapshotCount(o.memberArgs), holdScale: o.holdScale });
    const roundsDone = (): boolean => o.rounds !== undefined && injector.rounds >= o.rounds;
    try {
      await injector.run(timeUp, { everyKindFirst: o.everyKindFirst, gapMs: o.faultGapMs, choices: o.faults, rounds: o.rounds });
      // The run lasts at least durationMs (faults may stop early on a stuck cluster).
      while (!timeUp() && !roundsDone() && injector.stuck === undefined) await sleep(200);
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
      if (checks !== undefined && healthy) rec.note(`at the end: ${await checks.checkLeases('the run')}`);

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
    filler.close();
  } catch (e) {
    rec.anomaly(`harness error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  } finally {
    stopWorkload = true;
    for (const w of watchers) w.close();
    for (const c of [...clients, ...stress]) c.close();
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
        const lvl = /"level":"(\w+)"/.exec(line);
        if (lvl !== null && ['error', 'dpanic', 'panic', 'fatal'].includes(lvl[1])) {
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
    mode,
    authenticated: security.access.authenticated(),
    durationMs: now() - t0,
    clients: o.clients,
    replay: replayCommand(o),
    history,
    verdicts,
    anomalies: rec.anomalies,
    errors: rec.errors,
    watchers: watchers.map((w, i) => ({ id: i, range: i === 0 ? 'everything (reference)' : rangeText(WATCH_RANGES[i - 1]), sessions: w.sessions, hops: w.hops, compactions: w.compactions, events: history.watches.filter((s) => s.watcher === i).reduce((n, s) => n + s.responses.reduce((k, r) => k + r.events.length, 0), 0) })),
    members,
    convergence,
    log: rec.log,
    faultsDone,
    livenessBoundMs: recovery.boundMs,
    livenessFailures: rec.livenessFailures,
    recovery: recovery.summary(),
    afterFault: checks?.counts ?? { hashChecks: 0, hashUndecided: 0, leaseAudits: 0, leasesVerified: 0, leaseFindings: 0, leasesUntracked: 0 },
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

export { DEFAULTS, renderReport, type RunOptions };
