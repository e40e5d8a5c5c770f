// Helpers for the main thread's side of the worker threads, shared by the
// request loads (runner.ts) and the watch load (watch-runner.ts).
import type { Worker } from 'node:worker_threads';

/** Split n items over k buckets as evenly as possible. */
export function spread(n: number, k: number): number[] {
  return Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0));
}

/** Every worker protocol tags its messages and reports a failure as { type: 'fatal', message }. */
type Tagged = { type: string };

/** Next message of the given type from a worker; rejects on a fatal report, a thread error or an exit. */
export function expectMessage<M extends Tagged, T extends M['type']>(worker: Worker, index: number, type: T): Promise<Extract<M, { type: T }>> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    const onMessage = (msg: M): void => {
      if (msg.type === type) {
        cleanup();
        resolve(msg as Extract<M, { type: T }>);
      } else if (msg.type === 'fatal') {
        cleanup();
        reject(new Error(`bench worker ${index}: ${String((msg as { message?: unknown }).message)}`));
      }
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onExit = (code: number): void => {
      cleanup();
      reject(new Error(`bench worker ${index} exited (code ${code}) before reporting "${type}"`));
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

/**
 * Milliseconds on CLOCK_MONOTONIC (libuv's hrtime). It is one clock for the
 * whole process, so a time taken in one thread can be subtracted from a time
 * taken in another (performance.now() counts from each thread's own origin).
 */
export function monoMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}
