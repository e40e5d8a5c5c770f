// HashKV equal to real etcd's after a cluster catch-up: a 3-member etcd-ts cluster and a real etcd
// single member get the same scripted writes (test/helpers/hashkv-script.ts: leases, deletes,
// txns, compactions at several revisions) while one etcd-ts follower is down; once it is back
// and has applied up to the leader, HashKV (hash, compact_revision, header.revision, or the
// error) at revision 0, -1 and every revision from just below the compacted one to one past the
// head must be the same on all three members and on real etcd.
//   1. A follower killed before the writes misses more entries than the leader keeps
//      (--snapshot-count bounds the retained log), so it is caught up by a raft snapshot: its
//      "applying snapshot" / "applied snapshot" lines (info level) and the leader's "sent
//      database snapshot" say so.
//   2. The other follower is SIGKILLed in the middle of the writes, with part of them applied
//      (its "member started" line gives the revision it restarts from), and misses fewer entries
//      than the leader keeps, so it catches up from the log: no snapshot this time.
// Skipped (with the reason printed) when no `etcd` binary is on PATH.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type ServerProcess } from './helpers/server-process';
import { startCluster, statusOf, until, leaderEndpoint, type Cluster } from './helpers/cluster';
import { etcdVersion, hashKV, key, refusesCompactedRev, runPhases, Script, Target } from './helpers/hashkv-script';

/** The leader keeps at least this many entries (logRetainEntries = min(snapshot-count, 10,000))
 * and compacts its log once it holds 1.5x as many. */
const SNAPSHOT_COUNT = 60;
/** Writes while the first follower is down, after the phases: with the phases' ~40 entries
 * well above 2.5x SNAPSHOT_COUNT, so the leader has compacted the entries it lacks. */
const FILLER_WRITES = 170;
/** The request of the second round after which the other follower is killed (in phase 2). */
const KILL_AFTER = 20;

const version = etcdVersion();
const skip = 'missing' in version ? `etcd not installed: ${version.missing}` : false;
if (skip !== false) console.log(`# skipped: ${skip}`);

describe('HashKV after a cluster catch-up equals real etcd', { skip, timeout: 120_000 }, () => {
  let cluster: Cluster | undefined;
  let etcd: ServerProcess | undefined;
  let script: Script;
  let leader: number;
  const opened: Target[] = [];
  const target = (name: string, endpoint: string): Target => {
    const t = new Target(name, endpoint);
    opened.push(t);
    return t;
  };

  before(async () => {
    const [e, c] = await Promise.allSettled([startServer({ impl: 'etcd' }), startCluster(3, ['--snapshot-count', String(SNAPSHOT_COUNT), '--log-level', 'info'])]);
    if (e.status === 'fulfilled') etcd = e.value;
    if (c.status === 'fulfilled') cluster = c.value;
    if (e.status === 'rejected') throw e.reason;
    if (c.status === 'rejected') throw c.reason;
    const eps = cluster!.endpoints();
    leader = eps.indexOf(await leaderEndpoint(eps));
    const v = version as { version: [number, number, number] };
    script = new Script([target('etcd', etcd!.endpoint), target('etcd-ts leader', eps[leader])], refusesCompactedRev(v.version));
  });

  after(async () => {
    for (const t of opened) t.close();
    for (const m of cluster?.members ?? []) {
      const err = m.process?.stderr() ?? '';
      // A member that crashed says why on stderr.
      if (/"level":"(error|fatal)"/.test(err)) process.stdout.write(`# ${m.name} stderr:\n${err.split('\n').filter((l) => /"level":"(warn|error|fatal)"/.test(l)).map((l) => `#   ${l}`).join('\n')}\n`);
    }
    await Promise.allSettled([cluster?.cleanup(), etcd?.cleanup()]);
  });

  /** Sequential writes (one order on both sides): overwrites of ten keys, a delete every 7th
   * write and a compaction halfway, so that history below and above the compacted revision
   * remains. */
  async function filler(round: string, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      if (i % 7 === 6) await script.all('KV', 'DeleteRange', { key: key(`f/${(i + 3) % 10}`) });
      else await script.all('KV', 'Put', { key: key(`f/${i % 10}`), value: key(`${round}-${i}`) });
      if (i === Math.floor(n / 2)) await script.compact(script.head);
    }
  }

  /** Waits until member i has applied everything the leader has. */
  async function caughtUp(i: number): Promise<void> {
    const eps = cluster!.endpoints();
    const ls = await statusOf(eps[leader]);
    assert.ok(ls !== undefined, 'the leader answers Status');
    assert.equal(String(ls.header.revision), String(script.head), "the leader's revision is the script's head");
    await until(
      `${cluster!.members[i].name} to apply up to index ${ls.raftAppliedIndex} (revision ${script.head})`,
      async () => {
        const st = await statusOf(eps[i]);
        return st !== undefined && Number(st.raftAppliedIndex) >= Number(ls.raftAppliedIndex) && String(st.header.revision) === String(script.head) ? true : undefined;
      },
      20_000,
    );
  }

  /** HashKV of real etcd and all three etcd-ts members, at every interesting revision. */
  async function compareAll(phase: string): Promise<void> {
    const eps = cluster!.endpoints();
    const all = [script.targets[0], ...cluster!.members.map((m, i) => target(`etcd-ts ${m.name}${i === leader ? ' (leader)' : ''}`, eps[i]))];
    // Not vacuous: there is history on both sides of the compacted revision, and every member
    // hashes (an error everywhere would compare equal).
    assert.ok(script.compacted > 1 && script.head - script.compacted >= 5, `history above the compacted revision (compacted ${script.compacted}, head ${script.head})`);
    for (const t of all) {
      const h = await hashKV(t, 0);
      assert.ok('hash' in h && h.compact_revision === String(script.compacted) && h.revision === String(script.head), `${t.name}: HashKV(0) ${JSON.stringify(h)}`);
    }
    await script.compare(phase, all);
  }

  test('a follower killed before the writes is caught up by a snapshot and hashes as etcd', async () => {
    const c = cluster!;
    const fi = (leader + 1) % 3;
    await caughtUp(fi);
    const st = await statusOf(c.endpoints()[fi]);
    assert.ok(st !== undefined);
    const appliedBefore = Number(st.raftAppliedIndex);
    const leaderLogBefore = c.members[leader].process!.stderr().length;
    await c.kill(fi);

    await runPhases(script, { leaseA: '4660', leaseB: '8070450532247928833' /* 0x7000000000000001: a nine-byte varint */, compare: true });
    await filler('r1', FILLER_WRITES);

    const restarted = await c.start(fi);
    await caughtUp(fi);
    await compareAll('a follower caught up by a snapshot');
    assert.deepEqual(script.mismatches, [], `HashKV differs from etcd ${(version as { version: number[] }).version.join('.')} or between members:\n${script.mismatches.join('\n')}`);

    // It was a snapshot: the restarted member installed one newer than what it had applied, and
    // the leader streamed it.
    const log = restarted.stderr();
    const applying = /"msg":"applying snapshot"[^\n]*"incoming-snapshot-index":(\d+)/.exec(log);
    assert.ok(applying !== null, `${c.members[fi].name} logged "applying snapshot":\n${log}`);
    assert.ok(Number(applying[1]) > appliedBefore, `snapshot index ${applying[1]} > index applied before the kill ${appliedBefore}`);
    assert.match(log, /"msg":"applied snapshot"/, 'and installed it');
    assert.match(c.members[leader].process!.stderr().slice(leaderLogBefore), /"msg":"sent database snapshot"/, 'the leader sent a snapshot');
    process.stdout.write(`${c.members[fi].name}: applied index ${appliedBefore} at the kill, snapshot at index ${applying[1]}; head ${script.head}, compacted ${script.compacted}\n`);
  });

  test('a follower killed in the middle of the writes catches up from the log and hashes as etcd', async () => {
    const c = cluster!;
    // Both followers run (the first test restarted one); the other one goes this time.
    for (const [i, m] of c.members.entries()) if (m.process === undefined) await c.start(i);
    const fj = (leader + 2) % 3;
    script.mismatches.length = 0;
    const startSent = script.sent;
    let killed: Promise<void> | undefined;
    let headAtKill = -1;
    script.afterEach = (sent) => {
      // Not awaited, and a moment later: the next write is in flight when the member dies (it
      // may hold an entry it has not applied, or not yet learnt is committed).
      if (sent === startSent + KILL_AFTER) {
        killed = new Promise((res) => setTimeout(res, 2)).then(() => {
          headAtKill = script.head;
          return c.kill(fj);
        });
      }
    };
    try {
      await runPhases(script, { leaseA: '4661', leaseB: '8070450532247928834', compare: true });
      await filler('r2', 20);
    } finally {
      script.afterEach = undefined;
    }
    assert.ok(killed !== undefined, 'the member was killed during the writes');
    await killed;
    assert.ok(script.sent - startSent - KILL_AFTER >= 20, `writes after the kill: ${script.sent - startSent - KILL_AFTER}`);

    const restarted = await c.start(fj);
    await caughtUp(fj);
    await compareAll('a follower killed mid-writes, caught up from the log');
    assert.deepEqual(script.mismatches, [], `HashKV differs from etcd ${(version as { version: number[] }).version.join('.')} or between members:\n${script.mismatches.join('\n')}`);

    // It restarted from its own state (its last checkpoint, with its write-ahead log redone as
    // log entries to apply), and got the rest as log entries: it missed fewer entries than the
    // leader keeps, so no snapshot.
    const log = restarted.stderr();
    const started = /"msg":"member started"[^\n]*"revision":(\d+)/.exec(log);
    assert.ok(started !== null, `"member started" logged:\n${log}`);
    const from = Number(started[1]);
    // At most one write (the one in flight) was past the head when the signal went.
    assert.ok(from > 1 && from <= headAtKill + 1 && from < script.head, `restarted at revision ${from}: its own state (1 < it <= ${headAtKill} + 1 at the kill, < head ${script.head})`);
    assert.doesNotMatch(log, /"msg":"applying snapshot"/, 'caught up from log entries, not a snapshot');
    process.stdout.write(`${c.members[fj].name}: killed at revision ${headAtKill}, restarted at ${from}, caught up to ${script.head} (compacted ${script.compacted})\n`);
  });
});
