// Watch checker: 20 concurrent writers (puts, deletes, delete ranges, multi-key txns with
// compares) on 100 keys while 50 watchers on overlapping ranges (single key, prefix, [a, b),
// from-key) are created at different times with different start revisions, prev_kv and filters.
// The reference history is rebuilt exactly from the write responses (each effective write owns
// one revision; deletes report what they removed) and verified against a Range at every
// revision. Every watcher's stream must equal that history filtered to its range: ordered,
// complete, no duplicates, each revision's events in one response.
// WATCH_SEED=<n> repeats a workload (the interleaving of writers still varies).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type * as grpc from '@grpc/grpc-js';
import { startServer, type ServerProcess } from './helpers/server-process';
import { b, call, kvClient, type Msg } from './helpers/grpc-client';
import { WatchClient, type WatchCreate } from './helpers/watch-client';

const TOTAL_OPS = 3000;
const WRITERS = 20;
const WATCHERS = 50;
const STREAMS = 10;
const ZERO = Buffer.from([0]);
const KEYS = Array.from({ length: 100 }, (_, i) => `k/${Math.floor(i / 10)}/${i % 10}`);

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Op = { t: 'put'; key: string; value: string } | { t: 'del'; key: string; end?: string };
interface Write {
  kind: 'put' | 'del' | 'txn';
  /** The ops that ran (the txn branch that was taken). */
  ops: Op[];
  rev: number;
  /** Per op: for puts the prev_kv, for deletes the prev_kvs, as reported by the server. */
  reported: (Msg | null | Msg[])[];
  effective: boolean;
}

interface Kv {
  key: string;
  value: string;
  create: number;
  mod: number;
  version: number;
  lease: string;
}
interface Ev {
  type: number;
  kv: Kv;
  prev?: Kv;
}

const normKv = (kv: Msg): Kv => ({
  key: kv.key.toString(),
  value: kv.value.toString(),
  create: Number(kv.create_revision),
  mod: Number(kv.mod_revision),
  version: Number(kv.version),
  lease: String(kv.lease),
});

const inRange = (k: string, key: string, end: string | undefined): boolean => {
  if (end === undefined) return k === key;
  if (k < key) return false;
  return end === '\0' || k < end;
};

interface Spec extends WatchCreate {
  id: number;
  stream: number;
  desc: string;
  keyS: string;
  endS: string | undefined; // undefined single key, '\0' from key
  /** The first revision the watcher must see (known once created for start 0). */
  from: number;
  createdAtOp: number;
}

describe('Watch checker', () => {
  let server: ServerProcess;
  const clients: grpc.Client[] = [];
  const streams: WatchClient[] = [];

  before(async () => {
    server = await startServer();
  });

  after(async () => {
    for (const s of streams) s.close();
    for (const c of clients) c.close();
    await server?.cleanup();
  });

  test('20 writers, 50 watchers on overlapping ranges: every stream equals the filtered MVCC history', { timeout: 90_000 }, async () => {
    const seed = Number(process.env.WATCH_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`watch-checker seed=${seed}`);
    const rnd = mulberry32(seed);
    const ri = (n: number): number => Math.floor(rnd() * n);
    const pick = <T>(xs: T[]): T => xs[ri(xs.length)];

    for (let i = 0; i < WRITERS; i++) clients.push(kvClient(server.endpoint));
    const kv0 = clients[0];
    const base = Number((await call(kv0, 'Range', { key: b('k/') })).header.revision);
    for (let i = 0; i < STREAMS; i++) streams.push(new WatchClient(server.endpoint));

    // ---- the workload ------------------------------------------------------------------------
    let issued = 0;
    let done = 0;
    let maxRev = base;
    const writes: Write[] = [];
    const distinctKeys = (n: number): string[] => {
      const s = new Set<string>();
      while (s.size < n) s.add(pick(KEYS));
      return [...s];
    };
    const branch = (w: number, n: number): Op[] =>
      distinctKeys(n).map((key) => (rnd() < 0.7 ? { t: 'put', key, value: `w${w}-${issued}-${ri(1e6)}` } : { t: 'del', key }));
    const reqOp = (op: Op): Msg =>
      op.t === 'put'
        ? { request_put: { key: b(op.key), value: b(op.value), prev_kv: true } }
        : { request_delete_range: { key: b(op.key), range_end: op.end === undefined ? Buffer.alloc(0) : b(op.end), prev_kv: true } };

    const writer = async (w: number): Promise<void> => {
      const c = clients[w];
      while (issued < TOTAL_OPS) {
        issued++;
        const p = rnd();
        let rec: Write;
        if (p < 0.4) {
          const op: Op = { t: 'put', key: pick(KEYS), value: `w${w}-${issued}-${ri(1e6)}` };
          const r = await call(c, 'Put', reqOp(op).request_put);
          rec = { kind: 'put', ops: [op], rev: Number(r.header.revision), reported: [r.prev_kv ?? null], effective: true };
        } else if (p < 0.65) {
          let op: Op;
          if (rnd() < 0.5) op = { t: 'del', key: pick(KEYS) };
          else {
            const i = ri(95);
            op = { t: 'del', key: KEYS[i], end: KEYS[i + 1 + ri(5)] };
          }
          const r = await call(c, 'DeleteRange', reqOp(op).request_delete_range);
          rec = { kind: 'del', ops: [op], rev: Number(r.header.revision), reported: [r.prev_kvs], effective: Number(r.deleted) > 0 };
          assert.equal(Number(r.deleted), r.prev_kvs.length);
        } else {
          const success = branch(w, 2 + ri(5));
          const failure = branch(w, 1 + ri(4));
          const compare = rnd() < 0.3 ? [] : [{ target: 0, key: b(pick(KEYS)), result: pick([1, 2, 3]), version: String(ri(3)) }];
          const r = await call(c, 'Txn', { compare, success: success.map(reqOp), failure: failure.map(reqOp) });
          const ops = r.succeeded ? success : failure;
          assert.equal(r.responses.length, ops.length);
          const reported = r.responses.map((x: Msg, i: number) => {
            if (ops[i].t === 'put') {
              assert.ok(x.response_put, 'txn put response');
              return x.response_put.prev_kv ?? null;
            }
            assert.ok(x.response_delete_range, 'txn delete response');
            return x.response_delete_range.prev_kvs;
          });
          const effective = ops.some((op, i) => op.t === 'put' || (reported[i] as Msg[]).length > 0);
          rec = { kind: 'txn', ops, rev: Number(r.header.revision), reported, effective };
        }
        writes.push(rec);
        maxRev = Math.max(maxRev, rec.rev);
        done++;
      }
    };

    // ---- the watchers, created while the writers run ----------------------------------------
    const specs: Spec[] = [];
    const createWatchers = async (): Promise<void> => {
      for (let i = 0; i < WATCHERS; i++) {
        const at = Math.floor((i * TOTAL_OPS * 0.8) / WATCHERS);
        while (done < at) await new Promise((r) => setTimeout(r, 2));
        let keyS: string;
        let endS: string | undefined;
        let desc: string;
        switch (i % 3) {
          case 0:
            keyS = pick(KEYS);
            desc = `key ${keyS}`;
            break;
          case 1: {
            const g = ri(10);
            const span = rnd() < 0.3 ? 1 + ri(3) : 0;
            if (span === 0) {
              keyS = `k/${g}/`;
              endS = `k/${g}0`; // prefix k/g/
              desc = `prefix ${keyS}`;
            } else {
              const lo = ri(90);
              keyS = KEYS[lo];
              endS = KEYS[Math.min(99, lo + 3 + ri(20))];
              desc = `range [${keyS}, ${endS})`;
            }
            break;
          }
          default:
            keyS = rnd() < 0.2 ? 'k/' : pick(KEYS);
            endS = '\0';
            desc = `from-key ${keyS}`;
        }
        const q = rnd();
        const start = q < 0.35 ? 0 : q < 0.55 ? 1 : q < 0.9 ? 1 + ri(maxRev) : maxRev + 1 + ri(60);
        const filters = rnd() < 0.15 ? [0] : rnd() < 0.18 ? [1] : [];
        const prev_kv = rnd() < 0.4;
        const spec: Spec = {
          id: i + 1,
          stream: i % STREAMS,
          desc: `${desc} start=${start}${prev_kv ? ' prev_kv' : ''}${filters[0] === 0 ? ' NOPUT' : filters[0] === 1 ? ' NODELETE' : ''}`,
          keyS,
          endS,
          key: b(keyS),
          range_end: endS === undefined ? undefined : endS === '\0' ? ZERO : b(endS),
          start_revision: start,
          prev_kv,
          filters,
          watch_id: i + 1,
          from: start,
          createdAtOp: done,
        };
        specs.push(spec);
        const { id: _id, stream: _s, desc: _d, keyS: _k, endS: _e, from: _f, createdAtOp: _c, ...create } = spec;
        streams[spec.stream].create(create);
      }
    };

    const t0 = Date.now();
    await Promise.all([...Array.from({ length: WRITERS }, (_, w) => writer(w)), createWatchers()]);
    const writeMs = Date.now() - t0;

    // ---- the reference history ---------------------------------------------------------------
    const eff = writes.filter((w) => w.effective).sort((x, y) => x.rev - y.rev);
    const final = maxRev;
    assert.equal(eff.length, final - base, 'every effective write has its own revision');
    eff.forEach((w, i) => assert.equal(w.rev, base + 1 + i, 'revisions are consecutive'));
    for (const w of writes) if (!w.effective) assert.ok(w.rev <= final);

    const state = new Map<string, Kv>();
    const history: Ev[] = [];
    const stateAt: Kv[][] = []; // index rev - base
    stateAt.push([]);
    for (const w of eff) {
      const rev = w.rev;
      w.ops.forEach((op, i) => {
        if (op.t === 'put') {
          const prev = state.get(op.key);
          const rep = w.reported[i] as Msg | null;
          assert.deepEqual(rep === null ? undefined : normKv(rep), prev, `put prev_kv at rev ${rev}`);
          const kv: Kv = { key: op.key, value: op.value, create: prev?.create ?? rev, mod: rev, version: (prev?.version ?? 0) + 1, lease: '0' };
          state.set(op.key, kv);
          history.push({ type: 0, kv, prev });
        } else {
          const gone = [...state.keys()].filter((k) => inRange(k, op.key, op.end)).sort();
          const rep = (w.reported[i] as Msg[]).map(normKv);
          assert.deepEqual(rep, gone.map((k) => state.get(k)), `delete prev_kvs at rev ${rev}`);
          for (const k of gone) {
            history.push({ type: 1, kv: { key: k, value: '', create: 0, mod: rev, version: 0, lease: '0' }, prev: state.get(k) });
            state.delete(k);
          }
        }
      });
      stateAt.push([...state.values()].sort((x, y) => (x.key < y.key ? -1 : 1)));
    }

    // Cross-check the rebuilt history against the server's own: a Range at every revision.
    let next = base + 1;
    const rangeCheck = async (c: grpc.Client): Promise<void> => {
      while (next <= final) {
        const rev = next++;
        const r = await call(c, 'Range', { key: b('k/'), range_end: b('k0'), revision: rev });
        assert.deepEqual(r.kvs.map(normKv), stateAt[rev - base], `server state at revision ${rev}`);
      }
    };
    await Promise.all(clients.slice(0, 8).map(rangeCheck));

    // ---- every watcher's expected stream -----------------------------------------------------
    const created = new Map<number, Msg>();
    const responsesOf = (s: Spec): Msg[] => streams[s.stream].responses.filter((m) => Number(m.watch_id) === s.id);
    const expectedOf = (s: Spec): Ev[] =>
      history
        .filter((e) => e.kv.mod >= s.from && inRange(e.kv.key, s.keyS, s.endS))
        .filter((e) => !(s.filters?.includes(0) && e.type === 0) && !(s.filters?.includes(1) && e.type === 1))
        .map((e) => (s.prev_kv && e.prev !== undefined ? e : { type: e.type, kv: e.kv }));
    const eventsOf = (s: Spec): Msg[] => responsesOf(s).flatMap((m) => m.events as Msg[]);

    const deadline = Date.now() + 30_000;
    for (const s of specs) {
      for (;;) {
        const c = streams[s.stream].responses.find((m) => Number(m.watch_id) === s.id && m.created);
        if (c !== undefined) {
          created.set(s.id, c);
          if (s.start_revision === 0) s.from = Number(c.header.revision) + 1;
          break;
        }
        if (Date.now() > deadline) assert.fail(`watcher ${s.id} (${s.desc}) was never created`);
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    const expected = new Map(specs.map((s) => [s.id, expectedOf(s)]));
    // Wait until each watcher has received at least as many events as expected (if events are
    // missing this times out and the comparison below says which).
    for (const s of specs) {
      while (eventsOf(s).length < expected.get(s.id)!.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    }
    // Then each stream must say it has sent everything through the final revision.
    for (const ws of streams) ws.progress();
    for (const ws of streams) {
      for (;;) {
        const p = ws.responses.find((m) => Number(m.watch_id) === -1 && Number(m.header.revision) >= final);
        if (p !== undefined) break;
        if (Date.now() > deadline || ws.ended) assert.fail(`stream ${streams.indexOf(ws)}: no progress response at revision >= ${final}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await new Promise((r) => setTimeout(r, 300)); // anything late (duplicates) shows up now

    // ---- compare -----------------------------------------------------------------------------
    const failures: string[] = [];
    let total = 0;
    for (const s of specs) {
      const where = `watcher ${s.id} (${s.desc}, created after op ${s.createdAtOp}, from rev ${s.from})`;
      const c = created.get(s.id)!;
      if (c.canceled) {
        failures.push(`${where}: create refused: ${c.cancel_reason}`);
        continue;
      }
      const rs = responsesOf(s);
      if (rs[0] !== c) failures.push(`${where}: first response is not the created one`);
      let lastRev = 0;
      for (const m of rs.slice(1)) {
        if (m.created || m.canceled) {
          failures.push(`${where}: unexpected created/canceled response ${JSON.stringify({ created: m.created, canceled: m.canceled, reason: m.cancel_reason })}`);
          continue;
        }
        if (m.fragment) failures.push(`${where}: fragment flag without fragment requested`);
        const evs = m.events as Msg[];
        if (evs.length === 0) continue; // progress notification
        const first = Number(evs[0].kv.mod_revision);
        if (first <= lastRev)
          failures.push(`${where}: response starts at revision ${first} after one that ended at ${lastRev} (${first === lastRev ? 'revision split across responses' : 'went backwards'})`);
        for (let i = 1; i < evs.length; i++)
          if (Number(evs[i].kv.mod_revision) < Number(evs[i - 1].kv.mod_revision)) failures.push(`${where}: mod_revision goes backwards inside a response`);
        lastRev = Number(evs[evs.length - 1].kv.mod_revision);
        if (Number(m.header.revision) < lastRev) failures.push(`${where}: header revision ${m.header.revision} < event revision ${lastRev}`);
      }
      const got: Ev[] = rs
        .slice(1)
        .flatMap((m) => m.events as Msg[])
        .map((e) => (e.prev_kv ? { type: e.type, kv: normKv(e.kv), prev: normKv(e.prev_kv) } : { type: e.type, kv: normKv(e.kv) }));
      const want = expected.get(s.id)!;
      total += want.length;
      try {
        assert.deepEqual(got, want);
      } catch {
        let i = 0;
        while (i < got.length && i < want.length && JSON.stringify(got[i]) === JSON.stringify(want[i])) i++;
        const revsGot = got.map((e) => `${e.kv.mod}:${e.kv.key}`);
        const dup = revsGot.length - new Set(revsGot).size;
        failures.push(
          `${where}: got ${got.length} events, expected ${want.length} (${dup} duplicates); first difference at #${i}: ` +
            `got ${JSON.stringify(got[i])}, expected ${JSON.stringify(want[i])}`,
        );
      }
    }
    console.log(
      `${writes.length} writes (${eff.length} revisions ${base + 1}..${final}) in ${writeMs} ms; ${history.length} events; ` +
        `${specs.length} watchers on ${STREAMS} streams expected ${total} events in all`,
    );
    assert.deepEqual(failures, [], `seed ${seed}: ${failures.length} watcher check(s) failed:\n${failures.slice(0, 20).join('\n')}`);
  });
});
