// Worker thread: owns a share of the connections and clients of one load run.
// Running the gRPC client in several threads keeps the load generator from
// being the bottleneck (one Node thread saturates well below etcd's rate).
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import type * as grpc from '@grpc/grpc-js';
import { loadKvMethods, makeChannel, passThrough, waitReady } from './kv';
import { requestFactory } from './requests';
import type { MainToWorker, WorkerInit, WorkerToMain } from './types';

function send(msg: WorkerToMain): void {
  parentPort?.postMessage(msg);
}

/** Absolute wall clock in ms with sub-ms precision, comparable across threads. */
function nowAbs(): number {
  return performance.timeOrigin + performance.now();
}

async function main(): Promise<void> {
  if (!parentPort) throw new Error('worker.js must be run as a worker thread');
  const init = workerData as WorkerInit;
  const { spec } = init;
  const methods = loadKvMethods(init.protoDir);
  const method = spec.kind === 'put' ? methods.put : methods.range;
  const makeRequest = requestFactory(spec);
  const counter = new Int32Array(init.counter);
  const latencies = new Float64Array(init.latencies);
  const total = spec.total;

  const targets = init.connIndexes.map((id) => ({ id, endpoint: init.endpoints[id % init.endpoints.length] ?? '' }));
  const channels: grpc.Client[] = targets.map((t) => makeChannel(t.endpoint, t.id));
  // Connect everything before the clock starts so TCP/HTTP2 setup is not timed.
  await Promise.all(
    channels.map((c, i) =>
      waitReady(c, 15_000).catch((err: unknown) => {
        const msg = err instanceof Error ? err.message : String(err);
        throw new Error(`cannot connect to ${targets[i]?.endpoint ?? '?'}: ${msg}`);
      }),
    ),
  );

  let ok = 0;
  let errors = 0;
  let firstError: string | null = null;

  // One client = one call in flight at a time, claiming request indexes from
  // the shared counter until the total is exhausted (work stealing between
  // workers keeps them finishing together).
  const runClient = (client: grpc.Client): Promise<void> =>
    new Promise((resolve) => {
      const next = (): void => {
        const i = Atomics.add(counter, 0, 1);
        if (i >= total) {
          resolve();
          return;
        }
        const req = makeRequest(i);
        const t0 = performance.now();
        client.makeUnaryRequest(
          method.path,
          method.requestSerialize,
          passThrough,
          req,
          { deadline: Date.now() + init.callTimeoutMs },
          (err) => {
            if (err) {
              latencies[i] = NaN;
              errors++;
              if (firstError === null) firstError = `${err.code} ${err.details || err.message}`;
            } else {
              latencies[i] = performance.now() - t0;
              ok++;
            }
            // Callbacks run on a fresh tick, so this does not grow the stack.
            next();
          },
        );
      };
      next();
    });

  await new Promise<void>((resolve) => {
    parentPort?.once('message', (msg: MainToWorker) => {
      if (msg.type === 'start') resolve();
    });
    send({ type: 'ready' });
  });

  const startedAt = nowAbs();
  const loops: Promise<void>[] = [];
  for (let c = 0; c < init.clients; c++) {
    const ch = channels[c % channels.length];
    if (ch) loops.push(runClient(ch));
  }
  await Promise.all(loops);
  const finishedAt = nowAbs();

  for (const ch of channels) ch.close();
  send({ type: 'done', ok, errors, firstError, startedAt, finishedAt });
}

main().catch((err: unknown) => {
  send({ type: 'fatal', message: err instanceof Error ? err.message : String(err) });
});
