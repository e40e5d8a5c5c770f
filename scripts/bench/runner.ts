// Main-thread side of one load run: fans the load out over worker threads,
// starts them together, then merges their latencies into one result.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { latencySummary, sortedSuccesses } from './stats';
import { expectMessage, spread } from './threads';
import type { LoadSpec, RunConfig, RunResult, WorkerInit, WorkerToMain } from './types';

const WORKER_FILE = path.join(__dirname, 'worker.js');

export async function runLoad(spec: LoadSpec, cfg: RunConfig): Promise<RunResult> {
  // A worker needs at least one connection and one client to be useful.
  const nWorkers = Math.max(1, Math.min(cfg.workers, spec.conns, spec.clients));
  const counter = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
  const latencyBuf = new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT * spec.total);
  const clientsPer = spread(spec.clients, nWorkers);

  const workers: Worker[] = [];
  for (let w = 0; w < nWorkers; w++) {
    const init: WorkerInit = {
      spec,
      endpoints: cfg.endpoints,
      // Round-robin ownership keeps endpoints mixed per worker when there are several.
      connIndexes: Array.from({ length: spec.conns }, (_, i) => i).filter((i) => i % nWorkers === w),
      clients: clientsPer[w] ?? 1,
      protoDir: cfg.protoDir,
      callTimeoutMs: cfg.callTimeoutMs,
      counter,
      latencies: latencyBuf,
    };
    workers.push(new Worker(WORKER_FILE, { workerData: init }));
  }

  try {
    // Start the clock only once every worker has all its connections up.
    await Promise.all(workers.map((w, i) => expectMessage<WorkerToMain, 'ready'>(w, i, 'ready')));
    // Listen for "done" before sending "start" so no report can slip past.
    const done = Promise.all(workers.map((w, i) => expectMessage<WorkerToMain, 'done'>(w, i, 'done')));
    for (const worker of workers) worker.postMessage({ type: 'start' });
    const reports = await done;

    const startedAt = Math.min(...reports.map((r) => r.startedAt));
    const finishedAt = Math.max(...reports.map((r) => r.finishedAt));
    const seconds = (finishedAt - startedAt) / 1000;
    const ok = reports.reduce((s, r) => s + r.ok, 0);
    const errors = reports.reduce((s, r) => s + r.errors, 0);
    const firstError = reports.find((r) => r.firstError !== null)?.firstError ?? null;
    const sorted = sortedSuccesses(new Float64Array(latencyBuf));
    return {
      ok,
      errors,
      firstError,
      seconds,
      throughput: seconds > 0 ? ok / seconds : NaN,
      ...latencySummary(sorted),
    };
  } finally {
    // Workers exit on their own after "done"; terminate covers failures.
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** Write every key of the key space once so range loads read existing keys. Not timed. */
export async function prefill(spec: LoadSpec, cfg: RunConfig): Promise<void> {
  const fill: LoadSpec = {
    ...spec,
    name: `${spec.name}-prefill`,
    kind: 'put',
    total: spec.keySpace,
    sequentialKeys: true,
    clients: Math.min(spec.clients, spec.keySpace, 64),
    conns: Math.min(spec.conns, spec.keySpace, 16),
  };
  const r = await runLoad(fill, cfg);
  if (r.errors > 0) throw new Error(`prefill for ${spec.name} failed ${r.errors} puts: ${r.firstError ?? ''}`);
}
