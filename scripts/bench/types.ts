// Shared shapes passed between the CLI, the main-thread runner and the worker
// threads. Everything here must be structured-clone friendly because it crosses
// the worker_threads boundary.

export type LoadKind = 'put' | 'range' | 'watch' | 'lease';

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
  /** Watch only: watchers on the load's prefix, each receiving every put's event. */
  watchers: number;
  /** Watch only: Watch streams (one TCP connection each) the watchers are spread over. */
  watchStreams: number;
  /** Lease only: leases granted before the keep-alives (untimed) and revoked after them. */
  leases: number;
  /** Lease only: TTL in seconds the leases are granted with; the run must end well within it. */
  leaseTtl: number;
  /**
   * Lease only: keep-alives in flight per LeaseKeepAlive stream (clients = streams).
   * 1 is etcdbench's shape: each request waits for its response.
   */
  streamDepth: number;
}

/** Where and how to run loads; independent of the load itself. */
export interface RunConfig {
  endpoints: string[];
  workers: number;
  protoDir: string;
  callTimeoutMs: number;
  /** PID of the (single) server process behind the endpoints when the bench started it; null otherwise. */
  serverPid: number | null;
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

/** One Watch stream a watch worker owns, and the global watcher indexes it carries. */
export interface WatchStreamPlan {
  /** Global stream index: picks the endpoint and makes the channel distinct. */
  id: number;
  endpoint: string;
  firstWatcher: number;
  watchers: number;
}

/** workerData of a watch worker thread. */
export interface WatchWorkerInit {
  /** Key prefix the watchers watch and the puts write under (latin1). */
  prefix: string;
  keySize: number;
  /** Puts P: every watcher expects P events. */
  puts: number;
  streams: WatchStreamPlan[];
  protoDir: string;
  /** Float64Array[watchers * puts]: latency in ms of watcher w's event for put i at w * puts + i; NaN until received. */
  latencies: SharedArrayBuffer;
}

export type MainToWatchWorker = { type: 'putsDone' };

export type WatchWorkerToMain =
  | { type: 'ready' }
  | {
      type: 'done';
      /** Events received once each by the right watcher. */
      delivered: number;
      duplicates: number;
      outOfOrder: number;
      /** Events that cannot belong to the load (wrong type, key or value) and stream failures. */
      other: number;
      firstError: string | null;
      /** process.hrtime in ms (one monotonic clock for all threads) of the last new event; NaN if none. */
      lastEventAt: number;
      /** Float64Array[puts]: mod_revision this worker's watchers saw for put i (NaN: none), checked against the put's revision. */
      revisions: Float64Array;
    }
  | { type: 'fatal'; message: string };

/** One LeaseKeepAlive stream of a lease worker. */
export interface LeaseStreamPlan {
  /** Global stream index. */
  id: number;
  /** Global connection index: picks the endpoint and makes the channel distinct. */
  conn: number;
  endpoint: string;
}

/** workerData of a lease keep-alive worker thread. */
export interface LeaseWorkerInit {
  /** Granted lease IDs as decimal strings (int64 does not fit a JS number). */
  ids: string[];
  total: number;
  streamDepth: number;
  streams: LeaseStreamPlan[];
  protoDir: string;
  /** A stream whose oldest keep-alive is unanswered for this long is cancelled (its in-flight ones count as errors). */
  callTimeoutMs: number;
  /** Int32Array[1]: next keep-alive index, shared so streams of all workers take from one queue. */
  counter: SharedArrayBuffer;
  /** Float64Array[total]: latency in ms of keep-alive i; NaN if it failed or was never sent. */
  latencies: SharedArrayBuffer;
}

export type LeaseWorkerToMain =
  | { type: 'ready' }
  | {
      type: 'done';
      ok: number;
      errors: number;
      /** Answers with TTL <= 0 (lease not found / expired); also counted in errors. */
      ttlZero: number;
      firstError: string | null;
      /** monoMs() (one monotonic clock for all threads). */
      startedAt: number;
      finishedAt: number;
    }
  | { type: 'fatal'; message: string };

/** Server-side figures of a run, from /proc of the server process (lease load only). */
export interface ServerUsage {
  /** utime + stime of the server process (all threads) during the timed part. */
  cpuSeconds: number;
  /** VmRSS right before and right after the timed part. */
  rssBeforeMb: number;
  rssAfterMb: number;
}

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
  /** Watch only: put throughput while the events were delivered (throughput is then events/s). */
  putsPerSec?: number;
  /** Lease only: the server's CPU and memory (absent when its PID is unknown). */
  server?: ServerUsage;
  /** Lease only: CPU seconds of this bench process (all threads) during the timed part. */
  clientCpuSeconds?: number;
  /** Lease only: LeaseGrant/s in the untimed setup. */
  grantsPerSec?: number;
}
