// Lease worker thread: owns a share of the lease load's LeaseKeepAlive streams
// and drives them. Each stream keeps streamDepth keep-alives in flight, taking
// indexes from a counter shared by all workers; keep-alive i renews lease
// i % leases, so the leases are cycled through round robin as etcdbench does.
// Responses come in request order on a stream, so each one is matched to the
// oldest unanswered request of its stream.
import { parentPort, workerData } from 'node:worker_threads';
import type * as grpc from '@grpc/grpc-js';
import { loadLeaseMethods, makeChannel, passThrough, waitReady } from './kv';
import { decodeKeepAliveReply, encodeKeepAlive } from './lease-proto';
import { monoMs } from './threads';
import type { LeaseStreamPlan, LeaseWorkerInit, LeaseWorkerToMain, MainToWorker } from './types';

const CONNECT_TIMEOUT_MS = 15_000;
const WATCHDOG_MS = 250;

function send(msg: LeaseWorkerToMain): void {
  parentPort?.postMessage(msg);
}

const init = workerData as LeaseWorkerInit;
const counter = new Int32Array(init.counter);
const latencies = new Float64Array(init.latencies);
// Encoded once: a send is then just a write of a ready buffer.
const requests = init.ids.map(encodeKeepAlive);
const idsBig = init.ids.map((id) => BigInt(id));
const method = loadLeaseMethods(init.protoDir).keepAlive;

let ok = 0;
let errors = 0;
let ttlZero = 0;
let firstError: string | null = null;
let ending = false;

function note(msg: string): void {
  firstError ??= msg;
}

/** One stream's driver; `finished` resolves once it has nothing in flight and nothing left to send, or has failed. */
class KeepAliveStream {
  readonly finished: Promise<void>;
  private readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  // Ring buffer of the in-flight keep-alives (index, send time), oldest at head.
  private readonly inIdx: Int32Array;
  private readonly inAt: Float64Array;
  private head = 0;
  private count = 0;
  private exhausted = false;
  private failed = false;
  private resolve!: () => void;

  constructor(
    private readonly plan: LeaseStreamPlan,
    channel: grpc.Client,
  ) {
    this.inIdx = new Int32Array(init.streamDepth);
    this.inAt = new Float64Array(init.streamDepth);
    this.finished = new Promise((r) => (this.resolve = r));
    this.call = channel.makeBidiStreamRequest(method.path, passThrough, passThrough);
    this.call.on('data', (buf: Buffer) => this.onReply(buf, monoMs()));
    this.call.on('error', (err: grpc.ServiceError) => this.fail(`${err.code} ${err.details || err.message}`));
    // The server ending the stream while requests are in flight loses them.
    this.call.on('end', () => this.fail('stream ended by the server'));
  }

  /** Fills the stream up to its depth. */
  start(): void {
    while (this.count < init.streamDepth && this.sendNext());
    this.checkDone();
  }

  /** Age of the oldest unanswered keep-alive, 0 if none. */
  oldestAge(now: number): number {
    return this.count > 0 ? now - (this.inAt[this.head] ?? now) : 0;
  }

  timeout(): void {
    this.fail(`no answer within ${init.callTimeoutMs} ms`);
    this.call.cancel();
  }

  cancel(): void {
    this.call.cancel();
  }

  private sendNext(): boolean {
    if (this.exhausted || this.failed) return false;
    const i = Atomics.add(counter, 0, 1);
    if (i >= init.total) {
      this.exhausted = true;
      return false;
    }
    const slot = (this.head + this.count) % init.streamDepth;
    this.inIdx[slot] = i;
    this.inAt[slot] = monoMs();
    this.count++;
    this.call.write(requests[i % requests.length]);
    return true;
  }

  private onReply(buf: Buffer, at: number): void {
    if (this.failed) return;
    if (this.count === 0) {
      errors++;
      note(`stream ${this.plan.id}: answer without a request`);
      return;
    }
    const i = this.inIdx[this.head] ?? 0;
    const sentAt = this.inAt[this.head] ?? at;
    this.head = (this.head + 1) % init.streamDepth;
    this.count--;
    const want = idsBig[i % idsBig.length] ?? 0n;
    let problem: string | null = null;
    try {
      const r = decodeKeepAliveReply(buf);
      if (r.id !== want) problem = `keep-alive ${i}: answer for lease ${r.id}, expected ${want}`;
      else if (r.ttl <= 0n) {
        ttlZero++;
        problem = `keep-alive ${i}: lease ${want} answered TTL ${r.ttl} (not found / expired)`;
      }
    } catch (err) {
      problem = `keep-alive ${i}: undecodable answer: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (problem === null) {
      latencies[i] = at - sentAt;
      ok++;
    } else {
      errors++;
      note(`stream ${this.plan.id}: ${problem}`);
    }
    this.sendNext();
    this.checkDone();
  }

  /** Everything in flight is lost; the remaining keep-alives go to the other streams. */
  private fail(why: string): void {
    if (this.failed || ending) return;
    if (this.exhausted && this.count === 0) return;
    this.failed = true;
    errors += this.count;
    note(`stream ${this.plan.id}: ${why} (${this.count} keep-alives in flight)`);
    this.count = 0;
    this.resolve();
  }

  private checkDone(): void {
    if (this.exhausted && this.count === 0) this.resolve();
  }
}

async function main(): Promise<void> {
  if (!parentPort) throw new Error('lease-worker.js must be run as a worker thread');
  const port = parentPort;
  // One channel per connection this worker owns; its streams share them.
  const channels = new Map<number, grpc.Client>();
  for (const s of init.streams) if (!channels.has(s.conn)) channels.set(s.conn, makeChannel(s.endpoint, s.conn));
  await Promise.all(
    [...channels.values()].map((c) =>
      waitReady(c, CONNECT_TIMEOUT_MS).catch((err: unknown) => {
        throw new Error(`cannot connect: ${err instanceof Error ? err.message : String(err)}`);
      }),
    ),
  );
  // Streams are opened before the clock starts, as etcdbench does.
  const streams = init.streams.map((s) => new KeepAliveStream(s, channels.get(s.conn) as grpc.Client));

  await new Promise<void>((resolve) => {
    port.once('message', (msg: MainToWorker) => {
      if (msg.type === 'start') resolve();
    });
    send({ type: 'ready' });
  });

  const startedAt = monoMs();
  // A server that stops answering must not hang the run.
  const watchdog = setInterval(() => {
    const now = monoMs();
    for (const s of streams) if (s.oldestAge(now) > init.callTimeoutMs) s.timeout();
  }, WATCHDOG_MS);
  for (const s of streams) s.start();
  await Promise.all(streams.map((s) => s.finished));
  const finishedAt = monoMs();
  clearInterval(watchdog);

  ending = true;
  for (const s of streams) s.cancel();
  for (const c of channels.values()) c.close();
  send({ type: 'done', ok, errors, ttlZero, firstError, startedAt, finishedAt });
}

main().catch((err: unknown) => {
  send({ type: 'fatal', message: err instanceof Error ? err.message : String(err) });
});
