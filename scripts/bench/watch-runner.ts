// Main-thread side of the watch load: W watchers on one prefix, spread over S
// Watch streams in worker threads, then P puts under the prefix from this
// thread. Every watcher must get every put's event, once, in revision order.
// Reported: events/s (delivered events over first put -> last event), the
// put -> event latency of each (watcher, put) pair, and puts/s.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type * as grpc from '@grpc/grpc-js';
import { loadKvMethods, makeChannel, waitReady, type KvMethod } from './kv';
import { keyFor } from './requests';
import { latencySummary, sortedSuccesses } from './stats';
import { expectMessage, monoMs, spread } from './threads';
import type { LoadSpec, RunConfig, RunResult, WatchStreamPlan, WatchWorkerInit, WatchWorkerToMain } from './types';

const WORKER_FILE = path.join(__dirname, 'watch-worker.js');

type Done = Extract<WatchWorkerToMain, { type: 'done' }>;

let runSeq = 0;

/** Stream s carries watchers [first, first + count); streams go round-robin to endpoints. */
function planStreams(spec: LoadSpec, endpoints: string[]): WatchStreamPlan[] {
  const counts = spread(spec.watchers, Math.min(spec.watchStreams, spec.watchers));
  let first = 0;
  return counts.map((watchers, id) => {
    const plan = { id, endpoint: endpoints[id % endpoints.length] ?? '', firstWatcher: first, watchers };
    first += watchers;
    return plan;
  });
}

interface PutOutcome {
  ok: number;
  errors: number;
  firstError: string | null;
  /** Revision of put i from its response (NaN if it failed). */
  revisions: Float64Array;
  startedAt: number;
  finishedAt: number;
}

/** P puts from spec.clients concurrent callers over spec.conns connections; each value starts with its send time. */
async function runPuts(spec: LoadSpec, cfg: RunConfig, prefix: string, firstConnId: number): Promise<PutOutcome> {
  const put: KvMethod = loadKvMethods(cfg.protoDir).put;
  const channels: grpc.Client[] = Array.from({ length: spec.conns }, (_, c) =>
    makeChannel(cfg.endpoints[c % cfg.endpoints.length] ?? '', firstConnId + c),
  );
  await Promise.all(channels.map((c) => waitReady(c, 15_000)));
  const revisions = new Float64Array(spec.total).fill(NaN);
  const out: PutOutcome = { ok: 0, errors: 0, firstError: null, revisions, startedAt: monoMs(), finishedAt: 0 };
  let next = 0;
  const client = (ch: grpc.Client): Promise<void> =>
    new Promise((resolve) => {
      const one = (): void => {
        const i = next++;
        if (i >= spec.total) {
          resolve();
          return;
        }
        const key = Buffer.concat([Buffer.from(prefix, 'latin1'), keyFor(i, spec.keySize)]);
        const value = Buffer.alloc(spec.valSize, 'v');
        value.writeDoubleLE(monoMs(), 0);
        ch.makeUnaryRequest(put.path, put.requestSerialize, put.responseDeserialize, { key, value }, { deadline: Date.now() + cfg.callTimeoutMs }, (err, res) => {
          if (err) {
            out.errors++;
            out.firstError ??= `put ${i}: ${err.code} ${err.details || err.message}`;
          } else {
            out.ok++;
            // longs: String in kv.ts's loader, so the revision arrives as a decimal string.
            revisions[i] = Number((res as { header?: { revision?: string } } | undefined)?.header?.revision ?? NaN);
          }
          one();
        });
      };
      one();
    });
  await Promise.all(Array.from({ length: spec.clients }, (_, c) => client(channels[c % channels.length] as grpc.Client)));
  out.finishedAt = monoMs();
  for (const ch of channels) ch.close();
  return out;
}

export async function runWatchLoad(spec: LoadSpec, cfg: RunConfig): Promise<RunResult> {
  const P = spec.total;
  const W = spec.watchers;
  // A fresh prefix per run: reps share a server, and no watcher may see another run's keys.
  const prefix = `bench-watch/${process.pid}-${++runSeq}/`;
  const latencyBuf = new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT * W * P);
  const latencies = new Float64Array(latencyBuf).fill(NaN);
  const streams = planStreams(spec, cfg.endpoints);
  const nWorkers = Math.max(1, Math.min(cfg.workers, streams.length));
  const workers: Worker[] = [];
  for (let w = 0; w < nWorkers; w++) {
    const init: WatchWorkerInit = {
      prefix,
      keySize: spec.keySize,
      puts: P,
      streams: streams.filter((s) => s.id % nWorkers === w),
      protoDir: cfg.protoDir,
      latencies: latencyBuf,
    };
    workers.push(new Worker(WORKER_FILE, { workerData: init }));
  }
  try {
    // Every watcher's created response is in before the first put, so none can miss an event.
    await Promise.all(workers.map((w, i) => expectMessage<WatchWorkerToMain, 'ready'>(w, i, 'ready')));
    const done = Promise.all(workers.map((w, i) => expectMessage<WatchWorkerToMain, 'done'>(w, i, 'done')));
    const puts = await runPuts(spec, cfg, prefix, streams.length);
    for (const w of workers) w.postMessage({ type: 'putsDone' });
    return summarizeWatch(spec, puts, await done, latencies);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

function summarizeWatch(spec: LoadSpec, puts: PutOutcome, reports: Done[], latencies: Float64Array): RunResult {
  const P = spec.total;
  let firstError = puts.firstError ?? reports.find((r) => r.firstError !== null)?.firstError ?? null;
  let errors = puts.errors;
  for (const r of reports) errors += r.duplicates + r.outOfOrder + r.other;
  // An event whose revision is not the one its put got back is not that put's event.
  for (const r of reports) {
    for (let i = 0; i < P; i++) {
      const seen = r.revisions[i] ?? NaN;
      const want = puts.revisions[i] ?? NaN;
      if (!Number.isNaN(seen) && !Number.isNaN(want) && seen !== want) {
        errors++;
        firstError ??= `put ${i}: committed at rev ${want}, watchers saw rev ${seen}`;
      }
    }
  }
  // Missing: a (watcher, put) pair without an event, for every put that succeeded.
  let missing = 0;
  for (let g = 0; g < spec.watchers; g++) {
    for (let i = 0; i < P; i++) {
      if (Number.isNaN(puts.revisions[i] ?? NaN) || !Number.isNaN(latencies[g * P + i] ?? NaN)) continue;
      missing++;
      firstError ??= `watcher ${g} missed put ${i} (rev ${puts.revisions[i] ?? NaN})`;
    }
  }
  errors += missing;
  if (missing > 0) firstError = `${missing} events missing; ${firstError ?? ''}`;
  const delivered = reports.reduce((s, r) => s + r.delivered, 0);
  const lastEventAt = Math.max(...reports.map((r) => (Number.isNaN(r.lastEventAt) ? -Infinity : r.lastEventAt)));
  const seconds = (lastEventAt - puts.startedAt) / 1000;
  const putSeconds = (puts.finishedAt - puts.startedAt) / 1000;
  const sorted = sortedSuccesses(latencies);
  return {
    ok: delivered,
    errors,
    firstError,
    seconds,
    throughput: seconds > 0 ? delivered / seconds : NaN,
    ...latencySummary(sorted),
    putsPerSec: putSeconds > 0 ? puts.ok / putSeconds : NaN,
  };
}
