// Acceptance: SIGKILL the server in the middle of a stream of concurrent writes, many times, at
// random points, on one data dir that keeps its whole history. After every restart: no
// acknowledged write is lost, nothing unacknowledged is half-applied (a Txn's three puts are all
// there or none), nothing appears that was never sent, and revisions are never reused.
//
// Values have random sizes (100-2000 bytes) so that log records vary in size and every kill lands
// at a different offset of whatever the write path writes (frames, batches, segments).
import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { startServer, type ServerProcess } from './helpers/server-process';
import { leaderEndpoint, startCluster, waitForLeader, type Cluster } from './helpers/cluster';
import { prefixEnd } from '../src/concurrency/kv-ops';
import { kvClient, call, b, type Msg } from './helpers/grpc-client';

/** Every key this file writes starts with it; the data dirs hold nothing else under it. */
const PREFIX = 'r';
const PAGE = 2000;

/** One request: a Put of one key, or a Txn of three puts (no compare) sharing one value. */
interface Write {
  id: string;
  kind: 'put' | 'txn';
  keys: string[];
  value: string;
  round: number;
  /** The header revision of its response; undefined while unacknowledged. */
  ackRevision?: number;
  /** Whether it was stored at the first check after its round's kill: from then on it must stay so. */
  seen?: boolean;
}

interface StoredKv {
  key: string;
  value: string;
  create: number;
  mod: number;
  version: number;
}

/** Everything sent on one data dir (or one cluster), in send order, and which write owns each key. */
class Ledger {
  readonly writes: Write[] = [];
  readonly owner = new Map<string, Write>();
  /** The revision before the first write: everything above it is ours. */
  base = -1;

  add(w: Write): void {
    this.writes.push(w);
    for (const k of w.keys) this.owner.set(k, w);
  }
}

// Everything a test starts is torn down in after(), also when the test fails.
const servers: ServerProcess[] = [];
const clusters: Cluster[] = [];
const clients: grpc.Client[] = [];

after(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await s.cleanup();
  for (const c of clusters) await c.cleanup();
});

function client(endpoint: string): grpc.Client {
  const c = kvClient(endpoint);
  clients.push(c);
  return c;
}

function closeClient(c: grpc.Client): void {
  c.close();
  const i = clients.indexOf(c);
  if (i >= 0) clients.splice(i, 1);
}

const rev = (m: Msg): number => Number(m.header.revision);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const randInt = (lo: number, hi: number): number => lo + Math.floor(Math.random() * (hi - lo + 1));

function toStored(kv: Msg): StoredKv {
  return {
    key: (kv.key as Buffer).toString(),
    value: (kv.value as Buffer).toString(),
    create: Number(kv.create_revision),
    mod: Number(kv.mod_revision),
    version: Number(kv.version),
  };
}

/**
 * Every key under PREFIX at one revision, paged (the store grows to tens of MB). The first page
 * fixes the revision (linearizable, unless `serializable`), later pages read at it, so the pages
 * are one consistent view.
 */
async function scanAll(c: grpc.Client, opts: { serializable?: boolean; revision?: number } = {}): Promise<{ kvs: StoredKv[]; revision: number }> {
  const end = prefixEnd(b(PREFIX));
  const kvs: StoredKv[] = [];
  let from = b(PREFIX);
  let revision = opts.revision ?? 0;
  for (;;) {
    const res = await call(c, 'Range', { key: from, range_end: end, limit: PAGE, revision, serializable: opts.serializable === true }, 20_000);
    if (revision === 0) revision = rev(res);
    const page = (res.kvs as Msg[]).map(toStored);
    kvs.push(...page);
    if (res.more !== true) break;
    assert.ok(page.length > 0, 'a page with more=true and no keys');
    from = Buffer.concat([b(page[page.length - 1].key), Buffer.from([0])]);
  }
  return { kvs, revision };
}

// Random filler shared by all values: a value is its write's id plus a slice of it, so values are
// unique (the id) without generating megabytes of random data per round.
const FILLER = randomBytes(3000).toString('base64');

function valueFor(id: string): string {
  const size = randInt(100, 2000);
  const at = randInt(0, FILLER.length - size);
  return `${id}|${FILLER.slice(at, at + size - id.length - 1)}`;
}

interface RoundResult {
  sent: number;
  acked: number;
  /** Requests sent and not answered when the SIGKILL went out. */
  inFlightAtKill: number;
  /** Errors that arrived before the kill (none expected on a single member). */
  errorsBeforeKill: string[];
  killAfterMs: number;
}

/**
 * `writersPerClient` writers on each client, each sending one request at a time (Txn or Put at
 * random) until `kill` runs after a random delay; a write counts as acknowledged only when its
 * response has arrived. Returns once every request has settled and the process is gone, so no
 * request of this round can reach a later server.
 */
async function writeAndKill(ledger: Ledger, endpoint: string, round: number, nClients: number, writersPerClient: number, kill: () => Promise<void>): Promise<RoundResult> {
  const cs = Array.from({ length: nClients }, () => client(endpoint));
  let killed = false;
  let inFlight = 0;
  let sent = 0;
  let acked = 0;
  const errorsBeforeKill: string[] = [];
  const rr = String(round).padStart(2, '0');
  const writer = async (c: grpc.Client, w: number): Promise<void> => {
    for (let seq = 0; !killed; seq++) {
      const id = `${PREFIX}${rr}/w${String(w).padStart(2, '0')}/${String(seq).padStart(5, '0')}`;
      const kind = Math.random() < 0.5 ? 'txn' : 'put';
      const write: Write = { id, kind, keys: kind === 'txn' ? [`${id}/a`, `${id}/b`, `${id}/c`] : [`${id}/p`], value: valueFor(id), round };
      // In the ledger before it is sent: whatever is stored must have been sent.
      ledger.add(write);
      inFlight++;
      sent++;
      try {
        const res =
          kind === 'txn'
            ? await call(c, 'Txn', { compare: [], success: write.keys.map((k) => ({ request_put: { key: b(k), value: b(write.value) } })), failure: [] })
            : await call(c, 'Put', { key: b(write.keys[0]), value: b(write.value) });
        // A Txn without compares always takes its success branch; an answer saying otherwise
        // means its puts were not done, and the checks below would then find them missing.
        if (kind === 'txn' && res.succeeded !== true) errorsBeforeKill.push(`${id}: Txn with no compares answered succeeded=${String(res.succeeded)}`);
        write.ackRevision = rev(res);
        acked++;
      } catch (e) {
        if (!killed) errorsBeforeKill.push(`${id}: ${(e as Error).message}`);
      } finally {
        inFlight--;
      }
      // Now and then a pause, so the writers fall out of step and the server's batches (and so
      // what a kill cuts through) differ in size and content from one to the next.
      if (!killed && Math.random() < 0.3) await sleep(randInt(1, 30));
    }
  };
  const t0 = Date.now();
  const writers = cs.flatMap((c, ci) => Array.from({ length: writersPerClient }, (_, j) => writer(c, ci * writersPerClient + j)));
  // A random point of the write stream: anywhere from the first requests to hundreds of batches in.
  await sleep(randInt(20, 400));
  const inFlightAtKill = inFlight;
  const killAfterMs = Date.now() - t0;
  killed = true;
  const gone = kill(); // SIGKILL goes out synchronously here
  await Promise.all(writers);
  await gone;
  for (const c of cs) closeClient(c);
  return { sent, acked, inFlightAtKill, errorsBeforeKill, killAfterMs };
}

interface Check {
  revision: number;
  keys: number;
  acked: number;
  /** Writes of the last round that were never acknowledged and are stored all the same. */
  unackedApplied: number;
  /** Writes of the last round that were never acknowledged and are not stored. */
  unackedLost: number;
}

/**
 * Checks the whole store against everything ever sent (see the file's head). `lastRound` is the
 * round killed just before: its unacknowledged writes get their fate (stored or not) fixed here,
 * and it must never change afterwards.
 */
function check(ledger: Ledger, kvs: StoredKv[], revision: number, lastRound: number, where: string): Check {
  const problems: string[] = [];
  const note = (p: string): void => {
    problems.push(p);
  };
  // 4. Nothing stored that was never sent; each key as one put of its write leaves it.
  const stored = new Map<Write, StoredKv[]>();
  for (const s of kvs) {
    const w = ledger.owner.get(s.key);
    if (w === undefined) {
      note(`${s.key} is stored but was never sent`);
      continue;
    }
    if (s.value !== w.value) note(`${s.key} holds a value that was never sent for it (${s.value.slice(0, 40)}...)`);
    if (s.version !== 1 || s.create !== s.mod) note(`${s.key}: version ${s.version}, create ${s.create}, mod ${s.mod}; it was written once`);
    const list = stored.get(w) ?? [];
    list.push(s);
    stored.set(w, list);
  }
  const byRevision = new Map<number, Write>();
  let acked = 0;
  let unackedApplied = 0;
  let unackedLost = 0;
  let maxAcked = ledger.base;
  for (const w of ledger.writes) {
    const got = stored.get(w) ?? [];
    const whole = got.length === w.keys.length;
    // 3. All or nothing, acknowledged or not.
    if (got.length !== 0 && !whole) note(`${w.kind} ${w.id}: ${got.length} of its ${w.keys.length} keys stored (${got.map((s) => s.key).join(' ')})`);
    if (w.ackRevision !== undefined) {
      acked++;
      maxAcked = Math.max(maxAcked, w.ackRevision);
      // 1, 2. Every acknowledged write is there, whole.
      if (!whole) note(`acknowledged ${w.kind} ${w.id} (revision ${w.ackRevision}): ${got.length} of ${w.keys.length} keys stored`);
      // 5. ... at the revision its answer reported.
      for (const s of got) if (s.mod !== w.ackRevision) note(`${s.key}: stored at revision ${s.mod}, acknowledged at ${w.ackRevision}`);
    } else if (w.round === lastRound) {
      if (got.length > 0) unackedApplied++;
      else unackedLost++;
    }
    // Once a check has seen a write stored or not stored, a later one sees the same: a read
    // served it, and the client that sent it is long gone.
    if (w.seen === true && got.length === 0) note(`${w.kind} ${w.id} was stored at an earlier check and is gone`);
    if (w.seen === false && got.length > 0) note(`${w.kind} ${w.id} was not stored at an earlier check and appeared later`);
    if (w.round <= lastRound) w.seen = got.length > 0;
    // 6. One revision per write: a Txn's keys share it, no two writes do.
    const revs = new Set(got.map((s) => s.mod));
    if (revs.size > 1) note(`${w.kind} ${w.id}: its keys are at revisions ${[...revs].join(', ')}`);
    for (const r of revs) {
      const other = byRevision.get(r);
      if (other !== undefined) note(`revision ${r} holds both ${other.id} and ${w.id}`);
      else byRevision.set(r, w);
    }
  }
  // 5. The store is at least at every acknowledged revision ...
  if (revision < maxAcked) note(`the store is at revision ${revision}, below the highest acknowledged ${maxAcked}`);
  // ... and the stored writes take exactly base+1 .. revision, once each: no revision skipped,
  // none taken twice (only this file's writes ever ran on this data dir).
  const revs = [...byRevision.keys()].sort((x, y) => x - y);
  if (revs.length !== revision - ledger.base) note(`${revs.length} stored writes for the ${revision - ledger.base} revisions ${ledger.base + 1}..${revision}`);
  const gap = revs.findIndex((r, i) => r !== ledger.base + 1 + i);
  if (gap >= 0) note(`revision ${ledger.base + 1 + gap} expected at position ${gap}, found ${revs[gap]}`);
  assert.deepEqual(problems.slice(0, 10), [], `${where} (store at revision ${revision}, ${kvs.length} keys, ${ledger.writes.length} writes sent): ${problems.length} problems`);
  return { revision, keys: kvs.length, acked, unackedApplied, unackedLost };
}

function report(t: TestContext, round: number, w: RoundResult | undefined, c: Check): void {
  const wrote = w === undefined ? '' : `; round ${round}: killed after ${w.killAfterMs} ms with ${w.inFlightAtKill} in flight (${w.inFlightAtKill - (w.sent - w.acked)} answered after the signal), ${w.acked}/${w.sent} writes acknowledged`;
  const fate = w === undefined ? '' : `, unacknowledged found applied ${c.unackedApplied}, not applied ${c.unackedLost}`;
  t.diagnostic(`check after round ${round}: revision ${c.revision}, ${c.keys} keys, ${c.acked} acknowledged writes in all${wrote}${fate}`);
}

describe('SIGKILL in the middle of writes, many times', () => {
  test('single member: 18 kills at random points of 24 concurrent writers; after each restart, acknowledged writes all there, others all-or-nothing', async (t) => {
    const ROUNDS = 18;
    const ledger = new Ledger();
    // Small WAL segments (etcd's are 64 MiB): kills land before, in and after segment cuts too.
    let server = await startServer({ env: { ETCD_TS_WAL_SEGMENT_BYTES: String(128 * 1024) } });
    servers.push(server);
    let totalAcked = 0;
    let totalApplied = 0;
    let inFlightKills = 0;
    let last: RoundResult | undefined;
    for (let round = 0; round <= ROUNDS; round++) {
      if (round > 0) {
        server = await server.restart();
        servers.push(server);
      }
      // Check all history so far before writing again.
      const c = client(server.endpoint);
      const { kvs, revision } = await scanAll(c);
      closeClient(c);
      if (ledger.base < 0) ledger.base = revision;
      const res = check(ledger, kvs, revision, round - 1, `after restart ${round}`);
      if (last !== undefined) {
        report(t, round - 1, last, res);
        totalApplied += res.unackedApplied;
      }
      if (round === ROUNDS) break;

      const srv = server;
      last = await writeAndKill(ledger, srv.endpoint, round, 3, 8, () => srv.kill());
      assert.deepEqual(last.errorsBeforeKill.slice(0, 5), [], `round ${round}: ${last.errorsBeforeKill.length} writes failed while the server ran`);
      // Only requests in flight at the kill can go unanswered (some answers were on their way).
      assert.ok(last.sent - last.acked <= last.inFlightAtKill, `round ${round}: ${last.sent - last.acked} unanswered, ${last.inFlightAtKill} were in flight at the kill`);
      totalAcked += last.acked;
      if (last.inFlightAtKill > 0) inFlightKills++;
    }
    t.diagnostic(`${ROUNDS} kills, ${inFlightKills} with writes in flight; ${totalAcked} writes acknowledged, ${totalApplied} unacknowledged found applied`);
    // The kills hit a running write stream, not an idle server.
    assert.equal(inFlightKills, ROUNDS, 'every kill landed with writes in flight');
    assert.ok(totalAcked > ROUNDS * 10, `only ${totalAcked} writes acknowledged in ${ROUNDS} rounds`);

    // Revisions go on from the store's after the last restart.
    const c = client(server.endpoint);
    const { revision } = await scanAll(c);
    const next = await call(c, 'Put', { key: b(`${PREFIX}-after`), value: b('x') });
    assert.equal(rev(next), revision + 1, 'the first write after the last restart takes the next revision');
  });

  test('3-member cluster: the leader is SIGKILLed mid-write 6 times; every member ends with exactly what the cluster committed', async (t) => {
    await clusterKillRounds(t, 6, 'leader');
  });

  // Followers learn most commit indexes alone (in a heartbeat, or a leader's Ready with no new
  // entries), and those are not written to the WAL (as etcd does not sync them): after every
  // member dies at once, each may restart with a commit index behind what it had applied and
  // answered. The cluster must commit those entries again, and lose none.
  test('3-member cluster: every member SIGKILLed at once mid-write 4 times; after each restart nothing acknowledged is lost', async (t) => {
    await clusterKillRounds(t, 4, 'all');
  });
});

/**
 * Rounds of writes to a 3-member cluster's leader, each ended by SIGKILL of the leader or of
 * every member; after each restart every member must hold exactly what the cluster committed.
 */
async function clusterKillRounds(t: TestContext, rounds: number, victims: 'leader' | 'all'): Promise<void> {
  const what = victims === 'all' ? 'whole-cluster' : 'leader';
  const cluster = await startCluster(3, ['--heartbeat-interval', '50', '--election-timeout', '500']);
  clusters.push(cluster);
  const eps = cluster.endpoints();
  const killAll = async (): Promise<void> => {
    await Promise.all(eps.map((_, i) => cluster.kill(i)));
  };
  const ledger = new Ledger();
  let totalAcked = 0;
  let totalApplied = 0;
  let last: RoundResult | undefined;
  for (let round = 0; round <= rounds; round++) {
    await waitForLeader(eps);
    const leader = await leaderEndpoint(eps);
    const li = eps.indexOf(leader);
    // A linearizable read on the leader: it has committed an entry of its term, so the fate of
    // every write of the killed leader is decided now.
    const c = client(leader);
    const { kvs, revision } = await scanAll(c);
    closeClient(c);
    if (ledger.base < 0) ledger.base = revision;
    const res = check(ledger, kvs, revision, round - 1, `after ${what} kill ${round}`);
    // Every member, the restarted old leader too, holds the same at that revision: an entry the
    // old leader wrote to its own log and never got committed is gone from it.
    for (const [i, ep] of eps.entries()) {
      const m = client(ep);
      let view: { kvs: StoredKv[]; revision: number } | undefined;
      for (let tries = 0; view === undefined; tries++) {
        const at = rev(await call(m, 'Range', { key: b(PREFIX), serializable: true, count_only: true }));
        if (at >= revision) view = await scanAll(m, { serializable: true, revision });
        else if (tries > 100) assert.fail(`member ${i} stays at revision ${at}, behind ${revision}`);
        else await sleep(50);
      }
      closeClient(m);
      assert.deepEqual(view.kvs, kvs, `round ${round}: member ${i} differs from the leader at revision ${revision}`);
    }
    if (last !== undefined) {
      report(t, round - 1, last, res);
      totalApplied += res.unackedApplied;
    }
    if (round === rounds) break;

    last = await writeAndKill(ledger, leader, round, 2, 8, victims === 'all' ? killAll : () => cluster.kill(li));
    // Writes fail before the kill only if leadership moves on its own (a slow heartbeat on a
    // busy machine): they stay unacknowledged and are checked all-or-nothing like the rest.
    if (last.errorsBeforeKill.length > 0) t.diagnostic(`round ${round}: ${last.errorsBeforeKill.length} writes failed before the kill, e.g. ${last.errorsBeforeKill[0]}`);
    totalAcked += last.acked;
    if (victims === 'all') await Promise.all(eps.map((_, i) => cluster.start(i)));
    else await cluster.start(li);
  }
  t.diagnostic(`${rounds} ${what} kills; ${totalAcked} writes acknowledged, ${totalApplied} unacknowledged found applied`);
  assert.ok(totalAcked > rounds * 10, `only ${totalAcked} writes acknowledged in ${rounds} rounds`);
}
