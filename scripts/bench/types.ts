// Shared shapes passed between the CLI, the main-thread runner and the worker
// threads. Everything here must be structured-clone friendly because it crosses
// the worker_threads boundary.

export type LoadKind = 'put' | 'range';

/** One load: what to send, how much of it and with how much concurrency. */
export interface LoadSpec {
  /** Label used in the table / JSON, e.g. "put", "range-s", "put-1c". */
  name: string;
  kind: LoadKind;
  /** Total number of requests across all clients. */
  total: number;
  /** Concurrent outstanding calls (one in flight per client). */
  clients: number;
  /** Separate gRPC channels (separate TCP connections). */
  conns: number;
  keySize: number;
  /** Value size for put, and for the prefill that precedes a range load. */
  valSize: number;
  /** Keys are drawn from [0, keySpace). */
  keySpace: number;
  /** Sequential keys (request i uses key i % keySpace) instead of uniform random ones. */
  sequentialKeys: boolean;
  /** Range only: serializable (local read) vs linearizable (ReadIndex) reads. */
  serializable: boolean;
  /** Range only: write every key of the key space before timing, so gets hit real data. */
  prefill: boolean;
  /**
   * Cluster size in side-by-side mode. 1: the shared single-member servers.
   * More: a fresh cluster of that many members per server and run, with the
   * connections spread over all members' client endpoints.
   */
  members: number;
}

/** Where and how to run loads; independent of the load itself. */
export interface RunConfig {
  endpoints: string[];
  workers: number;
  protoDir: string;
  callTimeoutMs: number;
}

/** workerData handed to each worker thread. */
export interface WorkerInit {
  spec: LoadSpec;
  endpoints: string[];
  /** Global indexes of the connections this worker owns (used to pick endpoint + make channels distinct). */
  connIndexes: number[];
  clients: number;
  protoDir: string;
  callTimeoutMs: number;
  /** Int32Array[1]: next request index; shared so workers steal work from one queue. */
  counter: SharedArrayBuffer;
  /** Float64Array[total]: latency in ms per request index, NaN for failed requests. */
  latencies: SharedArrayBuffer;
}

export type MainToWorker = { type: 'start' };

export type WorkerToMain =
  | { type: 'ready' }
  | {
      type: 'done';
      ok: number;
      errors: number;
      firstError: string | null;
      /** Absolute epoch ms (timeOrigin + now) so values from different threads compare. */
      startedAt: number;
      finishedAt: number;
    }
  | { type: 'fatal'; message: string };

/** Result of a single timed run of one load against one server. */
export interface RunResult {
  ok: number;
  errors: number;
  firstError: string | null;
  seconds: number;
  throughput: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}
