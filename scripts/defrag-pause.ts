// How long a Defragment pauses reads and writes (issue 13, Defragment bullet), on real etcd and
// on etcd-ts with the same data: fills a fresh store to --mb MiB with --value-kib values from
// several gRPC clients, deletes every other key and compacts physically (so that defrag has half
// the file to give back), then runs a reader (serializable Range of one key, one at a time) and a
// writer (Put of a small key, one at a time) while Maintenance.Defragment runs, and reports per
// server: dbSize before/after, defrag duration, the reader's and writer's worst latency and
// longest gap between completions during the defrag, p50 outside it, and whether either was
// fully blocked (no completion inside the defrag).
//   npm run build && node dist/scripts/defrag-pause.js [--mb 1024] [--value-kib 1024]
//     [--clients 8] [--in-flight 4] [--impl both|etcd|etcd-ts] [--baseline-ms 3000] [--after-ms 2000]
// Not part of the test suite.
import { rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { call, kvClient, maintenanceClient } from '../test/helpers/grpc-client';
import { startServer, type ServerProcess } from '../test/helpers/server-process';

type Impl = 'etcd' | 'etcd-ts';

interface Args {
  mb: number;
  valueKiB: number;
  clients: number;
  inFlight: number;
  impls: Impl[];
  baselineMs: number;
  afterMs: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { mb: 1024, valueKiB: 1024, clients: 8, inFlight: 4, impls: ['etcd', 'etcd-ts'], baselineMs: 3000, afterMs: 2000 };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    const v = argv[++i];
    if (v === undefined) throw new Error(`${name} needs a value`);
    if (name === '--mb') a.mb = Number(v);
    else if (name === '--value-kib') a.valueKiB = Number(v);
    else if (name === '--clients') a.clients = Number(v);
    else if (name === '--in-flight') a.inFlight = Number(v);
    else if (name === '--baseline-ms') a.baselineMs = Number(v);
    else if (name === '--after-ms') a.afterMs = Number(v);
    else if (name === '--impl') a.impls = v === 'both' ? ['etcd', 'etcd-ts'] : [v as Impl];
    else throw new Error(`unknown flag ${name}`);
  }
  if (!(a.mb > 0) || !(a.valueKiB > 0) || a.valueKiB > 1400) throw new Error('--mb must be > 0 and --value-kib in (0, 1400] (etcd refuses requests over 1.5 MiB)');
  return a;
}

// Servers and data dirs still alive, removed on any exit (also failures and SIGINT/SIGTERM).
const live = new Set<ServerProcess>();
process.on('exit', () => {
  for (const s of live) {
    try {
      s.proc.kill('SIGKILL');
    } catch {
      /* gone already */
    }
    rmSync(s.dataDir, { recursive: true, force: true });
  }
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    process.stderr.write(`\n${sig}: killing servers and removing data dirs\n`);
    process.exit(130);
  });
}

const now = (): number => performance.now();
const key = (i: number): Buffer => Buffer.from(`fill/${String(i).padStart(8, '0')}`);
const mib = (n: number): string => (n / 1048576).toFixed(1);

async function status(m: grpc.Client): Promise<{ dbSize: number; dbSizeInUse: number }> {
  const s = await call(m, 'Status', {}, 60_000);
  return { dbSize: Number(s.dbSize), dbSizeInUse: Number(s.dbSizeInUse ?? 0) };
}

/** Puts `count` keys of `valueBytes` from `clients` channels, `inFlight` requests each. */
async function fill(endpoint: string, count: number, valueBytes: number, clients: number, inFlight: number): Promise<number> {
  const chans = Array.from({ length: clients }, () => kvClient(endpoint));
  let next = 0;
  let lastRev = 0;
  let done = 0;
  const started = now();
  let lastLog = started;
  try {
    await Promise.all(
      chans.flatMap((c) =>
        Array.from({ length: inFlight }, async () => {
          // Random, distinct values: nothing to gain from compression or page sharing.
          const value = randomBytes(valueBytes);
          for (;;) {
            const i = next++;
            if (i >= count) return;
            value.writeUInt32BE(i, 0);
            const r = await call(c, 'Put', { key: key(i), value }, 120_000);
            lastRev = Math.max(lastRev, Number(r.header.revision));
            done++;
            if (now() - lastLog > 5000) {
              lastLog = now();
              process.stderr.write(`  filled ${done}/${count} (${((done * valueBytes) / 1048576 / ((now() - started) / 1000)).toFixed(0)} MiB/s)\n`);
            }
          }
        }),
      ),
    );
  } finally {
    for (const c of chans) c.close();
  }
  return lastRev;
}

/** Deletes every other key (one DeleteRange each), from several channels; returns the last revision. */
async function deleteHalf(endpoint: string, count: number, clients: number, inFlight: number): Promise<number> {
  const chans = Array.from({ length: clients }, () => kvClient(endpoint));
  let next = 0;
  let lastRev = 0;
  try {
    await Promise.all(
      chans.flatMap((c) =>
        Array.from({ length: inFlight }, async () => {
          for (;;) {
            const i = 2 * next++;
            if (i >= count) return;
            const r = await call(c, 'DeleteRange', { key: key(i) }, 120_000);
            lastRev = Math.max(lastRev, Number(r.header.revision));
          }
        }),
      ),
    );
  } finally {
    for (const c of chans) c.close();
  }
  return lastRev;
}

interface Sample {
  start: number;
  end: number;
  ok: boolean;
}

/** One request at a time until stopped; every request's start/end recorded. */
function loop(send: () => Promise<unknown>): { stop: () => Promise<Sample[]> } {
  const samples: Sample[] = [];
  let stopped = false;
  const run = (async () => {
    while (!stopped) {
      const start = now();
      let ok = true;
      try {
        await send();
      } catch (e) {
        ok = false;
        if (samples.filter((s) => !s.ok).length < 3) process.stderr.write(`  request failed: ${String(e)}\n`);
      }
      samples.push({ start, end: now(), ok });
    }
  })();
  return {
    async stop() {
      stopped = true;
      await run;
      return samples;
    },
  };
}

interface Pause {
  requests: number;
  errors: number;
  errorsDuring: number;
  /** Requests completed successfully strictly inside the defrag. */
  completedDuring: number;
  /** Worst latency of a request in flight at any time during the defrag. */
  worstMsDuring: number;
  /** Longest time without a completion, over the defrag (from the last completion before it to the first after). */
  longestGapMs: number;
  /** Where that gap starts, in ms from the start of the defrag (negative: before it). */
  longestGapStartsAtMs: number;
  p50MsOutside: number;
  p99MsOutside: number;
  fullyBlocked: boolean;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function analyse(samples: Sample[], d0: number, d1: number): Pause {
  const during = samples.filter((s) => s.end > d0 && s.start < d1);
  const outside = samples
    .filter((s) => !(s.end > d0 && s.start < d1))
    .map((s) => s.end - s.start)
    .sort((x, y) => x - y);
  // Only successful completions count as progress (etcd answers a stuck Put with a timeout error).
  const ends = samples.filter((s) => s.ok).map((s) => s.end).sort((x, y) => x - y);
  // Gaps between consecutive completions, over the window [last completion <= d0, first completion >= d1].
  let longestGap = 0;
  let gapAt = 0;
  for (let i = 1; i < ends.length; i++) {
    if (ends[i] >= d0 && ends[i - 1] <= d1 && ends[i] - ends[i - 1] > longestGap) {
      longestGap = ends[i] - ends[i - 1];
      gapAt = ends[i - 1] - d0;
    }
  }
  const completedDuring = samples.filter((s) => s.ok && s.end > d0 && s.end < d1).length;
  return {
    requests: samples.length,
    errors: samples.filter((s) => !s.ok).length,
    errorsDuring: during.filter((s) => !s.ok).length,
    completedDuring,
    worstMsDuring: Math.max(0, ...during.map((s) => s.end - s.start)),
    longestGapMs: longestGap,
    longestGapStartsAtMs: gapAt,
    p50MsOutside: pct(outside, 50),
    p99MsOutside: pct(outside, 99),
    // Blocked for the whole defrag: nothing completed inside it, or no completion for >= 90% of it.
    fullyBlocked: completedDuring === 0 || longestGap >= 0.9 * (d1 - d0),
  };
}

interface Result {
  impl: Impl;
  mb: number;
  keys: number;
  fillSeconds: number;
  dbSizeBeforeMiB: number;
  dbInUseBeforeMiB: number;
  dbSizeAfterMiB: number;
  dbInUseAfterMiB: number;
  defragMs: number;
  reader: Pause;
  writer: Pause;
  error?: string;
}

async function measure(impl: Impl, a: Args): Promise<Result> {
  const valueBytes = a.valueKiB * 1024;
  const count = Math.max(2, Math.ceil((a.mb * 1048576) / valueBytes));
  // Quota well above the fill, on both servers (the default 2 GiB would raise NOSPACE past it).
  const quota = String(Math.max(8 * 1024 ** 3, 4 * a.mb * 1048576));
  process.stderr.write(`${impl}: starting\n`);
  const server = await startServer({ impl, args: ['--quota-backend-bytes', quota] });
  live.add(server);
  const m = maintenanceClient(server.endpoint);
  const readerC = kvClient(server.endpoint);
  const writerC = kvClient(server.endpoint);
  try {
    process.stderr.write(`${impl}: filling ${count} keys x ${a.valueKiB} KiB into ${server.dataDir}\n`);
    const t0 = now();
    await fill(server.endpoint, count, valueBytes, a.clients, a.inFlight);
    const fillSeconds = (now() - t0) / 1000;
    process.stderr.write(`${impl}: filled in ${fillSeconds.toFixed(1)} s; deleting half\n`);
    const rev = await deleteHalf(server.endpoint, count, a.clients, a.inFlight);
    await call(readerC, 'Put', { key: Buffer.from('reader-key'), value: Buffer.from('reader-value') });
    process.stderr.write(`${impl}: compacting at ${rev}\n`);
    await call(readerC, 'Compact', { revision: rev, physical: true }, 600_000);
    const before = await status(m);
    process.stderr.write(`${impl}: dbSize ${mib(before.dbSize)} MiB (in use ${mib(before.dbSizeInUse)} MiB); baseline ${a.baselineMs} ms\n`);

    const reader = loop(() => call(readerC, 'Range', { key: Buffer.from('reader-key'), serializable: true }, 600_000));
    let w = 0;
    const writer = loop(() => call(writerC, 'Put', { key: Buffer.from('writer-key'), value: Buffer.from(`v${w++}`) }, 600_000));
    await new Promise((r) => setTimeout(r, a.baselineMs));
    process.stderr.write(`${impl}: Defragment\n`);
    const d0 = now();
    let error: string | undefined;
    try {
      await call(m, 'Defragment', {}, 1_800_000);
    } catch (e) {
      error = String(e);
      process.stderr.write(`${impl}: Defragment failed: ${error}\n`);
    }
    const d1 = now();
    process.stderr.write(`${impl}: defrag took ${(d1 - d0).toFixed(0)} ms; after ${a.afterMs} ms\n`);
    await new Promise((r) => setTimeout(r, a.afterMs));
    const [rs, ws] = await Promise.all([reader.stop(), writer.stop()]);
    const after = await status(m);
    if (server.proc.exitCode !== null || server.proc.signalCode !== null) error = `${error ?? ''} server exited: ${server.stderr().slice(-2000)}`;
    return {
      impl,
      mb: a.mb,
      keys: count,
      fillSeconds: Number(fillSeconds.toFixed(1)),
      dbSizeBeforeMiB: Number(mib(before.dbSize)),
      dbInUseBeforeMiB: Number(mib(before.dbSizeInUse)),
      dbSizeAfterMiB: Number(mib(after.dbSize)),
      dbInUseAfterMiB: Number(mib(after.dbSizeInUse)),
      defragMs: Math.round(d1 - d0),
      reader: analyse(rs, d0, d1),
      writer: analyse(ws, d0, d1),
      ...(error ? { error } : {}),
    };
  } finally {
    m.close();
    readerC.close();
    writerC.close();
    await server.cleanup();
    live.delete(server);
  }
}

const f = (n: number): string => (Number.isFinite(n) ? n.toFixed(n < 10 ? 2 : 0) : '-');

function table(results: Result[]): string {
  const head = ['server', 'dbSize before', 'after', 'defrag ms', 'reader worst/gap ms', 'reader p50 out', 'reader blocked', 'writer worst/gap ms', 'writer p50 out', 'writer blocked'];
  const rows = results.map((r) => [
    r.impl,
    `${r.dbSizeBeforeMiB} MiB (${r.dbInUseBeforeMiB} in use)`,
    `${r.dbSizeAfterMiB} MiB`,
    String(r.defragMs),
    `${f(r.reader.worstMsDuring)} / ${f(r.reader.longestGapMs)}`,
    f(r.reader.p50MsOutside),
    `${r.reader.fullyBlocked ? 'YES' : 'no'} (${r.reader.completedDuring} done in defrag)`,
    `${f(r.writer.worstMsDuring)} / ${f(r.writer.longestGapMs)}`,
    f(r.writer.p50MsOutside),
    `${r.writer.fullyBlocked ? 'YES' : 'no'} (${r.writer.completedDuring} done in defrag)`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  return [line(head), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const results: Result[] = [];
  for (const impl of a.impls) results.push(await measure(impl, a));
  console.log(`\nDefragment pause, ${a.mb} MiB filled with ${a.valueKiB} KiB values, half deleted and compacted:\n`);
  console.log(table(results));
  console.log('\n' + JSON.stringify({ args: a, results }, null, 2));
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);

