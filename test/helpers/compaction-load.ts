// Load for measuring how a big compaction stalls a member (test/compaction-batches.test.ts,
// scripts/compaction-stall.ts): many revisions written fast from several connections, then a
// writer and a reader timing each call while one Compact removes almost all of them.
import type * as grpc from '@grpc/grpc-js';
import { call, kvClient, type Msg } from './grpc-client';

export interface LoadOptions {
  /** Key versions to write. */
  versions: number;
  /** Puts per request: 1 = one Put (one revision) each; more = Txns of that many puts (one revision each). */
  putsPerTxn: number;
  /** Distinct keys the revisions are spread over (each gets revisions / keys versions). */
  keys: number;
  /** Connections, and calls in flight on each. */
  connections: number;
  inFlightPerConnection: number;
}

/**
 * Writes `versions` key versions over `keys` small keys, as single puts or as txns of
 * `putsPerTxn` puts of distinct keys; resolves with the head revision.
 */
export async function loadRevisions(endpoint: string, o: LoadOptions): Promise<number> {
  const clients = Array.from({ length: o.connections }, () => kvClient(endpoint));
  const requests = Math.ceil(o.versions / o.putsPerTxn);
  let next = 0;
  let head = 0;
  const value = Buffer.from('v'.repeat(16));
  const key = (n: number): Buffer => Buffer.from(`key-${(n % o.keys).toString().padStart(6, '0')}`);
  const worker = async (c: grpc.Client): Promise<void> => {
    // Each worker takes the next request number until all are taken: bounded by `requests`.
    while (next < requests) {
      const i = next++;
      const r =
        o.putsPerTxn === 1
          ? await call(c, 'Put', { key: key(i), value }, 120_000)
          : await call(c, 'Txn', { success: Array.from({ length: o.putsPerTxn }, (_, j) => ({ request_put: { key: key(i * o.putsPerTxn + j), value } })) }, 120_000);
      head = Math.max(head, Number((r.header as Msg).revision));
    }
  };
  try {
    await Promise.all(clients.flatMap((c) => Array.from({ length: o.inFlightPerConnection }, () => worker(c))));
  } finally {
    for (const c of clients) c.close();
  }
  return head;
}

export interface LatencyStats {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export function stats(samplesMs: number[]): LatencyStats {
  const s = [...samplesMs].sort((a, b) => a - b);
  const at = (q: number): number => (s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))]);
  return { count: s.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: s.length === 0 ? NaN : s[s.length - 1] };
}

/** A loop of calls, one at a time, each timed, until stop() (bounded by the time it runs). */
export class TimedLoop {
  private samples: { atMs: number; ms: number }[] = [];
  private running = true;
  private readonly done: Promise<void>;
  errors = 0;

  constructor(fn: (i: number) => Promise<unknown>) {
    this.done = (async () => {
      for (let i = 0; this.running; i++) {
        const t0 = performance.now();
        try {
          await fn(i);
        } catch {
          this.errors++;
        }
        this.samples.push({ atMs: t0, ms: performance.now() - t0 });
      }
    })();
  }

  /** Latencies of the calls that ran wholly within [fromMs, toMs] (performance.now() times). */
  within(fromMs: number, toMs: number): number[] {
    return this.samples.filter((s) => s.atMs >= fromMs && s.atMs + s.ms <= toMs).map((s) => s.ms);
  }

  /**
   * Latencies of the calls that were in flight at some moment of (fromMs, toMs), leaving out
   * those in flight at some moment of `except`.
   */
  overlapping(fromMs: number, toMs: number, except?: [number, number]): number[] {
    const during = (s: { atMs: number; ms: number }, a: number, b: number): boolean => s.atMs + s.ms > a && s.atMs < b;
    return this.samples.filter((s) => during(s, fromMs, toMs) && (except === undefined || !during(s, except[0], except[1]))).map((s) => s.ms);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

export interface CompactionStall {
  compactRevision: number;
  /** How long the Compact call took (physical: until the history was deleted). */
  compactMs: number;
  writerBefore: LatencyStats;
  writerDuring: LatencyStats;
  readerBefore: LatencyStats;
  readerDuring: LatencyStats;
  writerErrors: number;
}

/**
 * With `head` revisions in the store: a writer (puts to one key) and a reader (serializable gets)
 * run for `baselineMs`, then Compact(head, physical) is called and they go on until it answers
 * (physical: once the compacted history is deleted; a server that deletes inside the apply
 * answers when that is done).
 */
export async function measureCompaction(endpoint: string, head: number, baselineMs: number): Promise<CompactionStall> {
  const wc = kvClient(endpoint);
  const rc = kvClient(endpoint);
  const cc = kvClient(endpoint);
  try {
    const writer = new TimedLoop((i) => call(wc, 'Put', { key: Buffer.from('writer'), value: Buffer.from(String(i)) }, 120_000));
    const reader = new TimedLoop(() => call(rc, 'Range', { key: Buffer.from('key-000001'), serializable: true }, 120_000));
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, baselineMs));
    const t1 = performance.now();
    await call(cc, 'Compact', { revision: head, physical: true }, 600_000);
    const t2 = performance.now();
    await writer.stop();
    await reader.stop();
    return {
      compactRevision: head,
      compactMs: t2 - t1,
      writerBefore: stats(writer.within(t0, t1)),
      writerDuring: stats(writer.overlapping(t1, t2)),
      readerBefore: stats(reader.within(t0, t1)),
      readerDuring: stats(reader.overlapping(t1, t2)),
      writerErrors: writer.errors,
    };
  } finally {
    wc.close();
    rc.close();
    cc.close();
  }
}
