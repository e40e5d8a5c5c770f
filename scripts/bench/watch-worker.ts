// Watch worker thread: opens its share of the watch load's streams, creates the
// watchers on them, then checks and times every event. Decoding the event
// stream is most of the client's work in this load, hence the threads.
import { parentPort, workerData } from 'node:worker_threads';
import type * as grpc from '@grpc/grpc-js';
import { loadWatchMethod, makeChannel, passThrough, waitReady } from './kv';
import { monoMs } from './threads';
import type { MainToWatchWorker, WatchStreamPlan, WatchWorkerInit, WatchWorkerToMain } from './types';
import { watchDecoder, type WatchEvent } from './watch-proto';

const CREATE_TIMEOUT_MS = 15_000;
/** After the last put, a run with events still missing ends once none arrived for this long. */
const IDLE_END_MS = 3_000;
/** Once every watcher is complete, stray duplicates are still counted for this long. */
const GRACE_MS = 100;
const POLL_MS = 20;

function send(msg: WatchWorkerToMain): void {
  parentPort?.postMessage(msg);
}

const init = workerData as WatchWorkerInit;
const P = init.puts;
const nWatchers = init.streams.reduce((s, st) => s + st.watchers, 0);
const latencies = new Float64Array(init.latencies);
const revisions = new Float64Array(P).fill(NaN);
// Per watcher, by global index (only this worker's entries are used).
const lastRev = new Map<number, number>();
const received = new Map<number, number>();
const method = loadWatchMethod(init.protoDir);
const decode = watchDecoder(init.protoDir);

let delivered = 0;
let duplicates = 0;
let outOfOrder = 0;
let other = 0;
let firstError: string | null = null;
let lastEventAt = NaN;
let lastActivity = 0;
let complete = 0;
let ending = false;

function note(msg: string): void {
  if (firstError === null) firstError = msg;
}

/** Put index encoded in a key (prefix + zero-padded index), or -1 if the key is not one of the load's. */
function putIndex(key: Uint8Array): number {
  const s = Buffer.from(key.buffer, key.byteOffset, key.length).toString('latin1');
  if (!s.startsWith(init.prefix) || s.length !== init.prefix.length + init.keySize) return -1;
  const i = Number(s.slice(init.prefix.length));
  return Number.isInteger(i) && i >= 0 && i < P ? i : -1;
}

function onEvents(g: number, events: WatchEvent[], at: number): void {
  for (const ev of events) {
    const i = ev.type === 0 && ev.value.length >= 8 ? putIndex(ev.key) : -1;
    if (i < 0) {
      other++;
      note(`watcher ${g}: unexpected event (type ${ev.type}, key ${Buffer.from(ev.key).toString('latin1')})`);
      continue;
    }
    const slot = g * P + i;
    if (!Number.isNaN(latencies[slot] ?? NaN)) {
      duplicates++;
      note(`watcher ${g}: duplicate event for put ${i} (rev ${ev.modRevision})`);
      continue;
    }
    // Every put is its own revision, so a watcher's revisions must strictly increase.
    const prev = lastRev.get(g) ?? 0;
    if (ev.modRevision <= prev) {
      outOfOrder++;
      note(`watcher ${g}: put ${i} at rev ${ev.modRevision} after rev ${prev}`);
    } else {
      lastRev.set(g, ev.modRevision);
    }
    const seen = revisions[i] ?? NaN;
    if (Number.isNaN(seen)) revisions[i] = ev.modRevision;
    else if (seen !== ev.modRevision) {
      other++;
      note(`put ${i}: watcher ${g} saw rev ${ev.modRevision}, another watcher rev ${seen}`);
    }
    // The put's sender wrote its send time (same monotonic clock) into the value.
    latencies[slot] = at - Buffer.from(ev.value.buffer, ev.value.byteOffset, 8).readDoubleLE(0);
    delivered++;
    lastEventAt = at;
    const n = (received.get(g) ?? 0) + 1;
    received.set(g, n);
    if (n === P) complete++;
  }
}

/** Opens one stream, creates its watchers; resolves once every created response is in. */
function openStream(plan: WatchStreamPlan, channel: grpc.Client): { call: grpc.ClientDuplexStream<object, Buffer>; created: Promise<void> } {
  const call = channel.makeBidiStreamRequest(method.path, method.requestSerialize, passThrough);
  const ids = new Map<number, number>();
  const created = new Promise<void>((resolve, reject) => {
    call.on('data', (buf: Buffer) => {
      const at = monoMs();
      lastActivity = at;
      const r = decode(buf);
      if (r.created) {
        if (r.canceled) {
          reject(new Error(`stream ${plan.id}: watch refused: ${r.cancelReason}`));
          return;
        }
        // Creates are answered in the order they were sent on the stream.
        ids.set(r.watchId, plan.firstWatcher + ids.size);
        if (ids.size === plan.watchers) resolve();
        return;
      }
      const g = ids.get(r.watchId);
      if (r.canceled || g === undefined) {
        other++;
        note(`stream ${plan.id}: watch ${r.watchId} ${r.canceled ? `canceled: ${r.cancelReason}` : 'unknown'}`);
        return;
      }
      onEvents(g, r.events, at);
    });
    call.on('error', (err: grpc.ServiceError) => {
      reject(err);
      // Cancelling our own streams at the end surfaces here too.
      if (ending) return;
      other++;
      note(`stream ${plan.id}: ${err.code} ${err.details || err.message}`);
    });
  });
  const key = Buffer.from(init.prefix, 'latin1');
  // Range end = the prefix with its last byte incremented (etcd's prefix range); the prefix ends in '/'.
  const rangeEnd = Buffer.from(key);
  rangeEnd[rangeEnd.length - 1] = (rangeEnd[rangeEnd.length - 1] ?? 0) + 1;
  for (let k = 0; k < plan.watchers; k++) call.write({ create_request: { key, range_end: rangeEnd } });
  return { call, created };
}

async function main(): Promise<void> {
  if (!parentPort) throw new Error('watch-worker.js must be run as a worker thread');
  const port = parentPort;
  const channels = init.streams.map((s) => makeChannel(s.endpoint, s.id));
  await Promise.all(channels.map((c, i) => waitReady(c, CREATE_TIMEOUT_MS).catch((err: unknown) => {
    throw new Error(`cannot connect to ${init.streams[i]?.endpoint ?? '?'}: ${err instanceof Error ? err.message : String(err)}`);
  })));
  const streams = init.streams.map((s, i) => openStream(s, channels[i] as grpc.Client));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`watchers not created within ${CREATE_TIMEOUT_MS} ms`)), CREATE_TIMEOUT_MS);
  });
  await Promise.race([Promise.all(streams.map((s) => s.created)), timeout]);
  clearTimeout(timer);

  const putsDone = new Promise<void>((resolve) => {
    port.on('message', (msg: MainToWatchWorker) => {
      if (msg.type === 'putsDone') resolve();
    });
  });
  send({ type: 'ready' });
  await putsDone;
  lastActivity = Math.max(lastActivity, monoMs());
  // Done when every watcher has every put (plus a grace for duplicates), or when events stop.
  await new Promise<void>((resolve) => {
    let completeAt = NaN;
    const poll = setInterval(() => {
      const now = monoMs();
      if (complete === nWatchers && Number.isNaN(completeAt)) completeAt = now;
      if (now - completeAt >= GRACE_MS || now - lastActivity >= IDLE_END_MS) {
        clearInterval(poll);
        resolve();
      }
    }, POLL_MS);
  });
  ending = true;
  for (const s of streams) s.call.cancel();
  for (const c of channels) c.close();
  send({ type: 'done', delivered, duplicates, outOfOrder, other, firstError, lastEventAt, revisions });
}

main().catch((err: unknown) => {
  send({ type: 'fatal', message: err instanceof Error ? err.message : String(err) });
});
