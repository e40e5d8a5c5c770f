// Main-thread side of the lease-keepalive load, shaped like etcdbench's
// lease-keepalive op so the figures compare: grant `leases` leases (untimed),
// send `total` keep-alives over `clients` LeaseKeepAlive streams on `conns`
// connections (streams in worker threads), then revoke the leases (untimed,
// so reps on a shared server each start from the same lease count).
// Reported: keep-alives/s, request -> response latency, and the server's CPU
// seconds and RSS around the timed part, from /proc when its PID is known.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type * as grpc from '@grpc/grpc-js';
import { loadLeaseMethods, makeChannel, waitReady, type KvMethod } from './kv';
import { readProc, type ProcSample } from './proc';
import { latencySummary, sortedSuccesses } from './stats';
import { expectMessage, monoMs } from './threads';
import type { LeaseStreamPlan, LeaseWorkerInit, LeaseWorkerToMain, LoadSpec, RunConfig, RunResult, ServerUsage } from './types';

const WORKER_FILE = path.join(__dirname, 'lease-worker.js');
/** Concurrent LeaseGrant / LeaseRevoke calls in the untimed setup and teardown. */
const SETUP_CONCURRENCY = 64;

interface UnaryOutcome {
  responses: unknown[];
  errors: number;
  firstError: string | null;
  seconds: number;
}

/** Calls method once per request, `SETUP_CONCURRENCY` at a time spread over the channels. */
async function unaryAll(channels: grpc.Client[], method: KvMethod, reqs: object[], timeoutMs: number): Promise<UnaryOutcome> {
  const out: UnaryOutcome = { responses: new Array<unknown>(reqs.length), errors: 0, firstError: null, seconds: 0 };
  const t0 = monoMs();
  let next = 0;
  const caller = (ch: grpc.Client): Promise<void> =>
    new Promise((resolve) => {
      const one = (): void => {
        const i = next++;
        if (i >= reqs.length) return resolve();
        ch.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, reqs[i], { deadline: Date.now() + timeoutMs }, (err, res) => {
          if (err) {
            out.errors++;
            out.firstError ??= `${err.code} ${err.details || err.message}`;
          } else out.responses[i] = res;
          one();
        });
      };
      one();
    });
  const n = Math.min(SETUP_CONCURRENCY, reqs.length);
  await Promise.all(Array.from({ length: n }, (_, c) => caller(channels[c % channels.length] as grpc.Client)));
  out.seconds = (monoMs() - t0) / 1000;
  return out;
}

/** Stream s uses connection s % conns; a worker owns whole connections (round robin) with their streams. */
function planStreams(spec: LoadSpec, endpoints: string[], nWorkers: number): LeaseStreamPlan[][] {
  const perWorker: LeaseStreamPlan[][] = Array.from({ length: nWorkers }, () => []);
  for (let id = 0; id < spec.clients; id++) {
    const conn = id % spec.conns;
    perWorker[conn % nWorkers]?.push({ id, conn, endpoint: endpoints[conn % endpoints.length] ?? '' });
  }
  return perWorker;
}

function usage(before: ProcSample | null, after: ProcSample | null): ServerUsage | undefined {
  if (before === null || after === null) return undefined;
  return { cpuSeconds: after.cpuSeconds - before.cpuSeconds, rssBeforeMb: before.rssMb, rssAfterMb: after.rssMb };
}

export async function runLeaseLoad(spec: LoadSpec, cfg: RunConfig): Promise<RunResult> {
  const methods = loadLeaseMethods(cfg.protoDir);
  // Setup channels get ids past the streams' connection ids so none is shared with them.
  const setup = Array.from({ length: spec.conns }, (_, c) => makeChannel(cfg.endpoints[c % cfg.endpoints.length] ?? '', spec.conns + c));
  let ids: string[] = [];
  try {
    await Promise.all(setup.map((c) => waitReady(c, 15_000)));
    const grants = await unaryAll(setup, methods.grant, Array.from({ length: spec.leases }, () => ({ TTL: spec.leaseTtl, ID: 0 })), cfg.callTimeoutMs);
    // longs: String in kv.ts's loader, so IDs arrive as decimal strings.
    ids = grants.responses.map((r) => String((r as { ID?: unknown } | undefined)?.ID ?? '')).filter((id) => id !== '' && id !== '0');
    if (grants.errors > 0 || ids.length !== spec.leases) {
      throw new Error(`granting ${spec.leases} leases: ${grants.errors} errors (${grants.firstError ?? 'no ID in some answers'})`);
    }
    const result = await keepAlives(spec, cfg, ids);
    result.grantsPerSec = spec.leases / grants.seconds;
    return result;
  } finally {
    // Revoke even after a failure so leftovers do not weigh on later loads; failures here are not the load's.
    if (ids.length > 0) {
      const revokes = await unaryAll(setup, methods.revoke, ids.map((ID) => ({ ID })), cfg.callTimeoutMs);
      if (revokes.errors > 0) process.stderr.write(`[bench] ${spec.name}: ${revokes.errors} revokes failed (${revokes.firstError ?? ''})\n`);
    }
    for (const c of setup) c.close();
  }
}

async function keepAlives(spec: LoadSpec, cfg: RunConfig, ids: string[]): Promise<RunResult> {
  const nWorkers = Math.max(1, Math.min(cfg.workers, spec.conns));
  const latencyBuf = new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT * spec.total);
  // NaN = no answer: keep-alives never sent (all streams failed) must not count as 0 ms.
  const latencies = new Float64Array(latencyBuf).fill(NaN);
  const counter = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
  const workers = planStreams(spec, cfg.endpoints, nWorkers).map((streams) => {
    const init: LeaseWorkerInit = {
      ids,
      total: spec.total,
      streamDepth: spec.streamDepth,
      streams,
      protoDir: cfg.protoDir,
      callTimeoutMs: cfg.callTimeoutMs,
      counter,
      latencies: latencyBuf,
    };
    return new Worker(WORKER_FILE, { workerData: init });
  });
  try {
    await Promise.all(workers.map((w, i) => expectMessage<LeaseWorkerToMain, 'ready'>(w, i, 'ready')));
    const done = Promise.all(workers.map((w, i) => expectMessage<LeaseWorkerToMain, 'done'>(w, i, 'done')));
    const pid = cfg.serverPid;
    const before = pid === null ? null : readProc(pid);
    const clientBefore = process.cpuUsage();
    for (const w of workers) w.postMessage({ type: 'start' });
    const reports = await done;
    const after = pid === null ? null : readProc(pid);
    const client = process.cpuUsage(clientBefore);

    const seconds = (Math.max(...reports.map((r) => r.finishedAt)) - Math.min(...reports.map((r) => r.startedAt))) / 1000;
    const ok = reports.reduce((s, r) => s + r.ok, 0);
    const reported = reports.reduce((s, r) => s + r.errors, 0);
    const ttlZero = reports.reduce((s, r) => s + r.ttlZero, 0);
    let firstError = reports.find((r) => r.firstError !== null)?.firstError ?? null;
    if (ttlZero > 0) firstError = `${ttlZero} answers with TTL <= 0; ${firstError ?? ''}`;
    const sorted = sortedSuccesses(latencies);
    return {
      ok,
      // Every keep-alive without a good answer, including any never sent because every stream failed.
      errors: Math.max(spec.total - ok, reported),
      firstError,
      seconds,
      throughput: seconds > 0 ? ok / seconds : NaN,
      ...latencySummary(sorted),
      server: usage(before, after),
      // process.cpuUsage covers every thread of the process, the workers included.
      clientCpuSeconds: (client.user + client.system) / 1e6,
    };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
