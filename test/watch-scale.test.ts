// Watch at scale against the real server process:
// - 10,000 watchers on one stream plus one watcher replaying 100,000 events from revision 1,
//   while more writes arrive: counts, exact order, whole revisions per response, and the
//   server's peak RSS (printed, and bounded).
// - 10,000 create/cancel cycles, and 10,000 watchers on streams that are closed without
//   canceling: the server's RSS must not grow with them (watchers use 32 KiB keys, so leaked
//   watchers or their keys would add hundreds of MB; growth without a leak is ~10-40 MB).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import { startServer, type ServerProcess } from './helpers/server-process';
import { b, call, kvClient, type Msg } from './helpers/grpc-client';
import { WatchClient } from './helpers/watch-client';

const MiB = 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** VmRSS and VmHWM (peak) of a process, in bytes. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string): number => Number(/^\s*(\d+)/.exec(status.split(`${name}:`)[1])![1]) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}
const mb = (n: number): string => `${(n / MiB).toFixed(1)} MiB`;

/** Polls until pred() holds (pred scans what arrived); fails with what() after timeoutMs. */
async function waitFor(pred: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) assert.fail(`timed out: ${what()}`);
    await sleep(10);
  }
}

const KEYS = Array.from({ length: 10_000 }, (_, i) => `s/${String(Math.floor(i / 100)).padStart(2, '0')}/${String(i % 100).padStart(2, '0')}`);
const PREFIX_GROUPS = [3, 27, 50, 81, 99];
const TXN_OPS = 128;
const ROUNDS = 10; // 10 rounds over 10,000 keys: 100,000 events

describe('Watch scale', () => {
  describe('10,000 watchers on one stream and a 100,000-event replay', () => {
    let server: ServerProcess;
    let kvs: grpc.Client[] = [];
    let ws: WatchClient | undefined;

    before(async () => {
      server = await startServer();
      kvs = Array.from({ length: 8 }, () => kvClient(server.endpoint));
    });
    after(async () => {
      ws?.close();
      for (const c of kvs) c.close();
      await server?.cleanup();
    });

    /** One round: a put of every key, in txns of 128; returns [revision, keys] per txn. */
    async function writeRound(round: number): Promise<[number, string[]][]> {
      const chunks: string[][] = [];
      for (let i = 0; i < KEYS.length; i += TXN_OPS) chunks.push(KEYS.slice(i, i + TXN_OPS));
      const out: [number, string[]][] = [];
      let next = 0;
      await Promise.all(
        kvs.map(async (c) => {
          while (next < chunks.length) {
            const keys = chunks[next++];
            const success = keys.map((k) => ({ request_put: { key: b(k), value: b(`${k}=${round}`.padEnd(100, '.')) } }));
            const r = await call(c, 'Txn', { success }, 30_000);
            out.push([Number(r.header.revision), keys]);
          }
        }),
      );
      return out.sort((x, y) => x[0] - y[0]);
    }

    test('every watcher gets exactly its events, the replay is complete and ordered, peak RSS bounded', { timeout: 120_000 }, async () => {
      const t0 = Date.now();
      const base = Number((await call(kvs[0], 'Range', { key: b('s/') })).header.revision);
      const txns: [number, string[]][] = [];
      for (let r = 0; r < ROUNDS; r++) txns.push(...(await writeRound(r)));
      const afterWrites = memory(server.proc.pid!);
      console.log(`wrote ${ROUNDS * KEYS.length} events in ${txns.length} txns in ${Date.now() - t0} ms; server RSS ${mb(afterWrites.rss)}, peak ${mb(afterWrites.peak)}`);
      txns.forEach(([rev], i) => assert.equal(rev, base + 1 + i, 'one revision per txn'));

      // 9,995 single-key watchers and 5 prefix watchers, from now.
      const t1 = Date.now();
      ws = new WatchClient(server.endpoint);
      const single = 10_000 - PREFIX_GROUPS.length;
      for (let i = 0; i < single; i++) ws.create({ key: b(KEYS[i]), watch_id: i + 1 });
      PREFIX_GROUPS.forEach((g, j) => {
        const p = `s/${String(g).padStart(2, '0')}/`;
        ws!.create({ key: b(p), range_end: b(p.slice(0, -1) + '0'), watch_id: single + 1 + j });
      });
      const REPLAY = 10_001;
      let createdSeen = 0;
      let scanned = 0;
      const scanCreated = (): boolean => {
        for (; scanned < ws!.responses.length; scanned++) {
          const m = ws!.responses[scanned];
          if (m.created) {
            assert.equal(m.canceled, false, `create refused: ${m.cancel_reason}`);
            createdSeen++;
          }
        }
        return createdSeen >= 10_000;
      };
      await waitFor(scanCreated, 30_000, () => `${createdSeen} of 10,000 watchers created`);
      const createMs = Date.now() - t1;

      // The replay watcher, and one more round of writes while it catches up.
      const t2 = Date.now();
      ws.create({ key: b('s/'), range_end: b('s0'), start_revision: 1, watch_id: REPLAY });
      const live = await writeRound(ROUNDS);
      const all = [...txns, ...live];
      const liveFirst = live[0][0];

      // Expected: each single-key watcher the one live put of its key; each prefix watcher the
      // 100 live puts of its prefix; the replay watcher every event, in revision order.
      const expectedCount = new Map<number, number>();
      for (let i = 0; i < single; i++) expectedCount.set(i + 1, 1);
      PREFIX_GROUPS.forEach((_, j) => expectedCount.set(single + 1 + j, 100));
      const replayTotal = all.reduce((n, [, keys]) => n + keys.length, 0);
      expectedCount.set(REPLAY, replayTotal);
      const counts = new Map<number, number>();
      let pending = expectedCount.size;
      let pos = scanned;
      const scanEvents = (): boolean => {
        for (; pos < ws!.responses.length; pos++) {
          const m = ws!.responses[pos];
          const id = Number(m.watch_id);
          const n = (counts.get(id) ?? 0) + m.events.length;
          counts.set(id, n);
          if (m.events.length > 0 && n >= expectedCount.get(id)! && n - m.events.length < expectedCount.get(id)!) pending--;
        }
        return pending === 0;
      };
      await waitFor(scanEvents, 60_000, () => `${pending} watchers short of their events; replay has ${counts.get(REPLAY) ?? 0} of ${replayTotal}`);
      await sleep(300); // extra (duplicate) events would show up now
      const watchMs = Date.now() - t2;
      const peak = memory(server.proc.pid!);
      console.log(
        `10,000 watchers created in ${createMs} ms; replay of ${replayTotal} events (+ live events to 10,000 watchers) in ${watchMs} ms; ` +
          `server RSS ${mb(peak.rss)}, peak RSS ${mb(peak.peak)}`,
      );

      // Exact contents.
      const perWatcher = new Map<number, Msg[][]>();
      for (const m of ws.responses.slice(scanned)) {
        if (m.events.length === 0) continue;
        const id = Number(m.watch_id);
        let l = perWatcher.get(id);
        if (l === undefined) perWatcher.set(id, (l = []));
        l.push(m.events);
      }
      for (const m of ws.responses) assert.ok(!m.canceled && !m.fragment, `unexpected response ${JSON.stringify({ id: m.watch_id, canceled: m.canceled, reason: m.cancel_reason })}`);
      const liveRev = new Map<string, number>();
      for (const [rev, keys] of live) for (const k of keys) liveRev.set(k, rev);
      const failures: string[] = [];
      for (let i = 0; i < single; i++) {
        const got = (perWatcher.get(i + 1) ?? []).flat();
        const k = KEYS[i];
        const desc = got.map((e) => `${e.kv.key}@${e.kv.mod_revision} v${e.kv.version}`).join(', ');
        if (got.length !== 1 || got[0].kv.key.toString() !== k || Number(got[0].kv.mod_revision) !== liveRev.get(k) || Number(got[0].kv.version) !== ROUNDS + 1)
          failures.push(`watcher ${i + 1} on ${k}: got [${desc}], expected [${k}@${liveRev.get(k)} v${ROUNDS + 1}]`);
      }
      PREFIX_GROUPS.forEach((g, j) => {
        const p = `s/${String(g).padStart(2, '0')}/`;
        const got = (perWatcher.get(single + 1 + j) ?? []).flat().map((e) => `${e.kv.key}@${e.kv.mod_revision}`);
        const want = live.flatMap(([rev, keys]) => keys.filter((k) => k.startsWith(p)).map((k) => `${k}@${rev}`));
        if (JSON.stringify(got) !== JSON.stringify(want)) failures.push(`prefix watcher ${p}: got ${got.length} events, expected ${want.length}`);
      });
      // The replay: every event of every revision, in order, one revision never split.
      const replay = perWatcher.get(REPLAY) ?? [];
      const want = all.flatMap(([rev, keys]) => keys.map((k) => `${k}@${rev}`));
      const got = replay.flat().map((e) => `${e.kv.key}@${e.kv.mod_revision}`);
      if (got.length !== want.length || got.some((x, i) => x !== want[i])) {
        const i = got.findIndex((x, n) => x !== want[n]);
        failures.push(`replay: got ${got.length} events, expected ${want.length}; first difference at #${i}: got ${got[i]}, expected ${want[i]}`);
      }
      let last = 0;
      for (const evs of replay) {
        const first = Number(evs[0].kv.mod_revision);
        if (first <= last) failures.push(`replay: a response starts at revision ${first} after one that ended at ${last}`);
        last = Number(evs[evs.length - 1].kv.mod_revision);
      }
      assert.ok(liveFirst > txns[txns.length - 1][0]);
      assert.deepEqual(failures.slice(0, 20), [], `${failures.length} failures`);
      assert.ok(peak.peak < 1024 * MiB, `peak RSS ${mb(peak.peak)} >= 1 GiB`);
    });
  });

  describe('cancel and close free what watchers held', () => {
    let server: ServerProcess;
    let kv: grpc.Client;

    before(async () => {
      server = await startServer();
      kv = kvClient(server.endpoint);
    });
    after(async () => {
      kv?.close();
      await server?.cleanup();
    });

    const PAD = 'x'.repeat(32 * 1024);
    const BATCH = 100;
    let serial = 0;
    /** Creates n watchers (32 KiB keys; ranges, prev_kv and starts in the past mixed in) on ws and waits for them. */
    async function createBatch(ws: WatchClient, n: number, rev: number): Promise<number[]> {
      const from = ws.responses.length;
      for (let j = 0; j < n; j++) {
        const i = serial++;
        const key = b(`c/${String(i).padStart(7, '0')}/${PAD}`);
        const range = j % 4 === 0;
        ws.create({ key, range_end: range ? b(`c/${String(i).padStart(7, '0')}0`) : undefined, prev_kv: j % 2 === 0, start_revision: j % 10 === 0 ? Math.max(1, rev - 5) : 0 });
      }
      const ids: number[] = [];
      await waitFor(
        () => {
          for (let k = from + ids.length; k < ws.responses.length; k++) if (ws.responses[k].created) ids.push(Number(ws.responses[k].watch_id));
          return ids.length >= n;
        },
        10_000,
        () => `${ids.length} of ${n} created`,
      );
      ids.forEach((id) => assert.ok(id >= 0, 'create refused'));
      return ids;
    }

    async function settledRss(): Promise<number> {
      await sleep(1000);
      return memory(server.proc.pid!).rss;
    }

    test('10,000 create/cancel cycles on one stream: RSS does not grow', { timeout: 60_000 }, async () => {
      const t0 = Date.now();
      // A little history for the watchers that start in the past.
      for (let i = 0; i < 20; i++) await call(kv, 'Put', { key: b(`c/hist/${i}`), value: b('v') });
      const rev = Number((await call(kv, 'Range', { key: b('c/') })).header.revision);
      const ws = new WatchClient(server.endpoint);
      try {
        const cycles = async (n: number): Promise<void> => {
          for (let done = 0; done < n; done += BATCH) {
            const ids = await createBatch(ws, BATCH, rev);
            const from = ws.responses.length;
            for (const id of ids) ws.cancel(id);
            let canceled = 0;
            await waitFor(
              () => {
                canceled = ws.responses.slice(from).filter((m) => m.canceled).length;
                return canceled >= ids.length;
              },
              10_000,
              () => `${canceled} of ${ids.length} canceled`,
            );
            ws.responses.length = 0; // the client keeps no history of its own
          }
        };
        await cycles(1000);
        const warm = await settledRss();
        await cycles(9000);
        const end = await settledRss();
        console.log(`10,000 create/cancel cycles in ${Date.now() - t0} ms; server RSS after 1,000: ${mb(warm)}, after 10,000: ${mb(end)} (growth ${mb(end - warm)})`);
        assert.ok(end - warm < 100 * MiB, `RSS grew by ${mb(end - warm)} over 9,000 create/cancel cycles`);
      } finally {
        ws.close();
      }
    });

    test('100 streams of 100 watchers closed without canceling: RSS does not grow', { timeout: 60_000 }, async () => {
      const t0 = Date.now();
      const rev = Number((await call(kv, 'Range', { key: b('c/') })).header.revision);
      const streams = async (n: number): Promise<void> => {
        for (let s = 0; s < n; s++) {
          const ws = new WatchClient(server.endpoint);
          try {
            await createBatch(ws, BATCH, rev);
            // One event for some of them, so the stream has delivered something too.
            await call(kv, 'Put', { key: b(`c/${String(serial - 1).padStart(7, '0')}/${PAD}`), value: b('v') });
            await waitFor(() => ws.responses.some((m) => m.events.length > 0), 10_000, () => 'no event');
          } finally {
            ws.close();
          }
        }
      };
      await streams(10);
      const warm = await settledRss();
      await streams(90);
      const end = await settledRss();
      console.log(`100 streams x 100 watchers opened and closed in ${Date.now() - t0} ms; server RSS after 10 streams: ${mb(warm)}, after 100: ${mb(end)} (growth ${mb(end - warm)})`);
      assert.ok(end - warm < 100 * MiB, `RSS grew by ${mb(end - warm)} over 90 closed streams of 100 watchers`);
    });
  });
});
