// Acceptance (Watch issue, item 4): on a 3-member cluster, watchers on each member all see the
// same history, matching the writes made; and a watcher on a member that is SIGKILLed resumes
// on another member from its last revision + 1 with nothing missed and nothing twice — once with
// the leader killed, once with a follower killed (resuming on the restarted former leader).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type * as grpc from '@grpc/grpc-js';
import { leaderEndpoint, startCluster, waitForLeader, type Cluster } from './helpers/cluster';
import { b, call, kvClient, type Msg } from './helpers/grpc-client';
import { WatchClient } from './helpers/watch-client';

const PREFIX = 'cw/';
const PREFIX_END = 'cw0';
const WORKERS = 4;

/** One expected event, as a comparable line: revision, type, key, value, create revision, version. */
const line = (rev: number, type: 'PUT' | 'DELETE', key: string, value: string, create: number, version: number): string =>
  `${rev} ${type} ${key} =${value} c${create} v${version}`;

/** The events a watcher has received so far, as lines. */
function seen(w: WatchClient): string[] {
  return w.responses.flatMap((r) =>
    (r.events as Msg[]).map((e) => line(Number(e.kv.mod_revision), e.type === 0 ? 'PUT' : e.type === 1 ? 'DELETE' : (`type ${e.type}` as 'PUT'), e.kv.key.toString(), e.kv.value.toString(), Number(e.kv.create_revision), Number(e.kv.version))),
  );
}

const revOf = (l: string): number => Number(l.split(' ')[0]);

/** Waits until the watcher has an event at revision `rev` or later (fails after timeoutMs). */
async function seenThrough(w: WatchClient, rev: number, what: string, timeoutMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = seen(w);
    if (s.length > 0 && revOf(s[s.length - 1]) >= rev) return s;
    if (w.ended) throw new Error(`${what}: stream ended (${w.error?.message ?? 'end'}) at ${s.length} events, last ${s.at(-1)}`);
    if (Date.now() > deadline) throw new Error(`${what}: no event at revision ${rev} within ${timeoutMs} ms (${s.length} events, last ${s.at(-1)})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function opened(w: WatchClient): Promise<number> {
  const created = await w.until((m) => m.created === true, 10_000);
  assert.equal(created.canceled, false, `watch refused: ${created.cancel_reason}`);
  return Number(created.header.revision);
}

type RequestOp = Msg;
interface Op {
  what: string;
  /** The request as one Put / DeleteRange / Txn call. */
  method: 'Put' | 'DeleteRange' | 'Txn';
  req: Msg;
  /** The same writes as the ops of a txn (for guarded writes). */
  ops: RequestOp[];
  /** Checks the response of the plain call. */
  check(res: Msg): void;
  /** The events it makes at revision rev (updates the model). */
  apply(rev: number): string[];
}

/**
 * One writer's keys and their state. Writers own disjoint keys, so the events each write makes
 * follow from its own model whatever the interleaving with the others.
 */
class Worker {
  readonly keys = new Map<string, { value: string; create: number; version: number }>();
  n = 0;
  constructor(readonly id: number) {}

  k(j: number): string {
    return `${PREFIX}w${this.id}/k${j % 6}`;
  }

  r(j: number): string {
    return `${PREFIX}w${this.id}/r/${j % 4}`;
  }

  private put(key: string, value: string, rev: number): string {
    const old = this.keys.get(key);
    const now = { value, create: old?.create ?? rev, version: (old?.version ?? 0) + 1 };
    this.keys.set(key, now);
    return line(rev, 'PUT', key, value, now.create, now.version);
  }

  private del(key: string, rev: number): string {
    assert.ok(this.keys.delete(key), `model: ${key} does not exist`);
    return line(rev, 'DELETE', key, '', 0, 0);
  }

  private existing(prefix: string): string[] {
    return [...this.keys.keys()].filter((k) => k.startsWith(prefix)).sort((x, y) => Buffer.compare(b(x), b(y)));
  }

  /** The next write; `plain` allows a txn whose compare fails (its else branch writes). */
  next(plain: boolean): Op {
    const n = this.n++;
    const v = `w${this.id}n${n}`;
    const existingK = this.existing(`${PREFIX}w${this.id}/k`);
    const existingR = this.existing(`${PREFIX}w${this.id}/r/`);
    const putOp = (key: string): Op => ({
      what: `put ${key}`,
      method: 'Put',
      req: { key: b(key), value: b(v) },
      ops: [{ request_put: { key: b(key), value: b(v) } }],
      check: () => undefined,
      apply: (rev) => [this.put(key, v, rev)],
    });
    switch (n % 8) {
      case 3:
        return putOp(this.r(n));
      case 4: {
        if (existingK.length === 0) return putOp(this.k(n));
        const key = existingK[n % existingK.length];
        return {
          what: `delete ${key}`,
          method: 'DeleteRange',
          req: { key: b(key) },
          ops: [{ request_delete_range: { key: b(key) } }],
          check: (res) => assert.equal(Number(res.deleted), 1, `delete ${key}`),
          apply: (rev) => [this.del(key, rev)],
        };
      }
      case 5:
      case 6: {
        // A txn: two puts and (if there is one) the delete of a third key, all at one revision.
        const a = this.k(n);
        const c = this.k(n + 1);
        const gone = existingK.find((k) => k !== a && k !== c);
        const ops: RequestOp[] = [{ request_put: { key: b(a), value: b(v) } }, { request_put: { key: b(c), value: b(`${v}b`) } }];
        if (gone !== undefined) ops.push({ request_delete_range: { key: b(gone) } });
        const version = this.keys.get(a)?.version ?? 0;
        // n % 8 === 6 (plain only): the compare fails and the else branch writes one key.
        const fails = plain && n % 8 === 6;
        const other = this.k(n + 2);
        const elseOps: RequestOp[] = [{ request_put: { key: b(other), value: b(`${v}else`) } }];
        return {
          what: fails ? `txn else: put ${other}` : `txn: put ${a}, ${c}${gone !== undefined ? `, delete ${gone}` : ''}`,
          method: 'Txn',
          req: { compare: [{ key: b(a), target: 'VERSION', result: 'EQUAL', version: fails ? version + 1 : version }], success: fails ? [{ request_put: { key: b(a), value: b('wrong') } }] : ops, failure: fails ? elseOps : [{ request_put: { key: b(a), value: b('wrong') } }] },
          ops: fails ? elseOps : ops,
          check: (res) => assert.equal(res.succeeded, !fails, 'txn compare'),
          apply: (rev) => (fails ? [this.put(other, `${v}else`, rev)] : [this.put(a, v, rev), this.put(c, `${v}b`, rev), ...(gone !== undefined ? [this.del(gone, rev)] : [])]),
        };
      }
      case 7: {
        if (existingR.length === 0) return putOp(this.r(n));
        const start = `${PREFIX}w${this.id}/r/`;
        const end = `${PREFIX}w${this.id}/r0`;
        return {
          what: `delete range ${start}`,
          method: 'DeleteRange',
          req: { key: b(start), range_end: b(end) },
          ops: [{ request_delete_range: { key: b(start), range_end: b(end) } }],
          check: (res) => assert.equal(Number(res.deleted), existingR.length, 'delete range count'),
          apply: (rev) => existingR.map((k) => this.del(k, rev)),
        };
      }
      default:
        return putOp(this.k(n * 3));
    }
  }
}

describe('watch on a 3-member cluster', () => {
  let cluster: Cluster;
  const kv = new Map<string, grpc.Client>();
  const watchers: WatchClient[] = [];
  const workers = Array.from({ length: WORKERS }, (_, i) => new Worker(i));
  /** Every write made, by revision: the events it made. */
  const history = new Map<number, string[]>();
  /** The original watchers on members 0, 1, 2 (test 1). */
  let perMember: WatchClient[] = [];
  /** Members that are down now. */
  const down = new Set<number>();

  const client = (ep: string): grpc.Client => {
    let c = kv.get(ep);
    if (c === undefined) kv.set(ep, (c = kvClient(ep)));
    return c;
  };
  const watch = (ep: string): WatchClient => {
    const w = new WatchClient(ep);
    watchers.push(w);
    return w;
  };
  const record = (rev: number, events: string[]): void => {
    assert.ok(!history.has(rev), `two writes acknowledged at revision ${rev}`);
    history.set(rev, events);
  };
  /** Every event written, in revision order, from revision `from` on. */
  const expected = (from = 0): string[] =>
    [...history.keys()]
      .filter((r) => r >= from)
      .sort((x, y) => x - y)
      .flatMap((r) => history.get(r) ?? []);

  /**
   * Guarded writes for the kill phases: each op is a txn that also bumps the writer's sequence
   * key (outside the watched prefix) if it still holds n, so a write whose answer was lost in the
   * kill can be retried without being applied twice, and its revision is then read back.
   */
  async function guardedWrite(w: Worker, op: Op, seq: number, turn: number): Promise<void> {
    const seqKey = b(`cwseq/w${w.id}`);
    const deadline = Date.now() + 20_000;
    const eps = cluster.endpoints();
    for (let attempt = 0; ; attempt++) {
      const live = eps.filter((_, i) => !down.has(i));
      const ep = live[(turn + attempt) % live.length];
      try {
        const res = await call(client(ep), 'Txn', { compare: [{ key: seqKey, target: 'VALUE', result: 'EQUAL', value: b(String(seq)) }], success: [...op.ops, { request_put: { key: seqKey, value: b(String(seq + 1)) } }] }, 2000);
        let rev = Number(res.header.revision);
        if (!res.succeeded) {
          // An earlier attempt was applied after all: the sequence key says when.
          const got = await call(client(ep), 'Range', { key: seqKey }, 2000);
          assert.equal(got.kvs[0]?.value.toString(), String(seq + 1), `writer ${w.id}: sequence key after a failed compare`);
          rev = Number(got.kvs[0].mod_revision);
        }
        record(rev, op.apply(rev));
        return;
      } catch (e) {
        if (e instanceof assert.AssertionError || Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** Runs the guarded writers until stop() is called; `acked` counts the writes done. */
  function runWriters(): { acked: () => number; stop: () => Promise<void> } {
    let stopped = false;
    let acked = 0;
    const loops = workers.map(async (w) => {
      const got = await call(client(cluster.endpoints()[[0, 1, 2].find((i) => !down.has(i)) ?? 0]), 'Range', { key: b(`cwseq/w${w.id}`) });
      let seq = Number(got.kvs[0].value.toString());
      for (let turn = w.id; !stopped; turn++) {
        await guardedWrite(w, w.next(false), seq, turn);
        seq++;
        acked++;
      }
    });
    return {
      acked: () => acked,
      stop: async () => {
        stopped = true;
        await Promise.all(loops);
      },
    };
  }

  async function untilAcked(writers: { acked: () => number }, count: number, what: string): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (writers.acked() < count) {
      if (Date.now() > deadline) throw new Error(`${what}: only ${writers.acked()} of ${count} writes acknowledged`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * A watcher on member `victim` sees some guarded writes; the member is SIGKILLed while the
   * writes go on; a new watcher on member `resumeOn` starts from the last revision the first one
   * saw + 1. Together they must hold every event since the first was opened, each once, in order.
   */
  async function killAndResume(victim: number, resumeOn: number): Promise<void> {
    const eps = cluster.endpoints();
    const first = watch(eps[victim]);
    first.create({ key: b(PREFIX), range_end: b(PREFIX_END) });
    const from = (await opened(first)) + 1;
    const writers = runWriters();
    let resumed: WatchClient | undefined;
    try {
      await untilAcked(writers, 120, 'before the kill');
      await cluster.kill(victim);
      down.add(victim);
      assert.ok(seen(first).length > 0, 'the watcher on the killed member saw writes before the kill');
      const atKill = writers.acked();
      // Its stream ends with the member.
      const endBy = Date.now() + 5000;
      while (!first.ended && Date.now() < endBy) await new Promise((r) => setTimeout(r, 20));
      assert.ok(first.ended, 'the watch stream on the killed member ended');
      // The others go on without it; then the resume.
      await untilAcked(writers, atKill + 80, 'after the kill');
      const resumeFrom = revOf(seen(first).at(-1) ?? `${from - 1}`) + 1;
      resumed = watch(eps[resumeOn]);
      resumed.create({ key: b(PREFIX), range_end: b(PREFIX_END), start_revision: resumeFrom });
      const createdAt = await opened(resumed);
      assert.ok(expected(resumeFrom).filter((l) => revOf(l) <= createdAt).length > 0, 'the resumed watcher has history to catch up on');
      await untilAcked(writers, writers.acked() + 40, 'after the resume');
    } finally {
      await writers.stop();
    }
    assert.ok(resumed !== undefined);
    const want = expected(from);
    const last = revOf(want[want.length - 1]);
    const got = [...seen(first), ...(await seenThrough(resumed, last, 'resumed watcher'))];
    assert.deepEqual(got, want, 'first watcher + resumed watcher: every event once, in order');
    assert.ok(
      resumed.responses.every((r) => !r.canceled),
      'the resumed watcher is not canceled',
    );
    // The original watchers on the members still up have everything since test 1 began.
    const all = expected();
    for (const [i, w] of perMember.entries()) {
      if (down.has(i) || w.ended) continue;
      assert.deepEqual(await seenThrough(w, last, `member ${i} watcher`), all, `the watcher on member ${i}`);
    }
  }

  before(async () => {
    cluster = await startCluster(3);
    await waitForLeader(cluster.endpoints(), 10_000);
    // The guarded writers' sequence keys (outside the watched prefix).
    for (const w of workers) await call(client(cluster.endpoints()[0]), 'Put', { key: b(`cwseq/w${w.id}`), value: b('0') });
  });

  after(async () => {
    for (const w of watchers) w.close();
    for (const c of kv.values()) c.close();
    await cluster?.cleanup();
  });

  test('a watcher on each member sees the same history: every put, delete, delete range and txn, once, in order', async () => {
    const eps = cluster.endpoints();
    perMember = eps.map((ep) => watch(ep));
    for (const w of perMember) w.create({ key: b(PREFIX), range_end: b(PREFIX_END) });
    await Promise.all(perMember.map(opened));
    // Writes through every member (followers forward them), 4 writers at once.
    await Promise.all(
      workers.map(async (w) => {
        for (let i = 0; i < 75; i++) {
          const op = w.next(true);
          const res = await call(client(eps[(w.id + i) % eps.length]), op.method, op.req);
          op.check(res);
          const rev = Number(res.header.revision);
          record(rev, op.apply(rev));
        }
      }),
    );
    const want = expected();
    assert.equal(history.size, WORKERS * 75);
    assert.ok(want.length > WORKERS * 75, 'txns and range deletes make several events at a revision');
    assert.ok(want.some((l) => l.includes(' DELETE ')));
    const last = revOf(want[want.length - 1]);
    const got = await Promise.all(perMember.map((w, i) => seenThrough(w, last, `member ${i} watcher`)));
    await new Promise((r) => setTimeout(r, 200)); // nothing more may come
    for (const [i, w] of perMember.entries()) {
      assert.deepEqual(seen(w), got[i], `member ${i} watcher: events after the last write`);
      assert.deepEqual(got[i], want, `member ${i} watcher sees the writes`);
      assert.ok(
        w.responses.every((r) => !r.canceled),
        `member ${i} watcher canceled`,
      );
    }
    assert.deepEqual(got[1], got[0]);
    assert.deepEqual(got[2], got[0]);
  });

  test('the leader is SIGKILLed: its watcher resumes on a follower from its last revision + 1, nothing missed', async () => {
    const eps = cluster.endpoints();
    const leader = eps.indexOf(await leaderEndpoint(eps));
    assert.ok(leader >= 0);
    await killAndResume(leader, (leader + 1) % 3);
    // A new leader among the others.
    const others = eps.filter((_, i) => i !== leader);
    const st = await waitForLeader(others, 10_000);
    assert.notEqual(st, cluster.members[leader].id);
  });

  test('a follower is SIGKILLed: its watcher resumes on the restarted former leader; that member serves the whole history', async () => {
    const eps = cluster.endpoints();
    const restarted = [...down][0];
    assert.ok(restarted !== undefined, 'test 2 left a member down');
    await cluster.start(restarted);
    down.delete(restarted);
    await waitForLeader(eps, 10_000);
    const leader = eps.indexOf(await leaderEndpoint(eps));
    const follower = [0, 1, 2].find((i) => i !== leader && i !== restarted);
    assert.ok(follower !== undefined);
    await killAndResume(follower, restarted);
    // The restarted member holds the same history as everyone: watch it from the first write.
    const all = expected();
    const full = watch(eps[restarted]);
    full.create({ key: b(PREFIX), range_end: b(PREFIX_END), start_revision: revOf(all[0]) });
    await opened(full);
    assert.deepEqual(await seenThrough(full, revOf(all[all.length - 1]), 'full-history watcher'), all);
  });
});
