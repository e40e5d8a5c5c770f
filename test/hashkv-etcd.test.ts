// HashKV equal to real etcd's: the same scripted writes go to a real etcd and to etcd-ts, and
// after each phase HashKV (hash, compact_revision, header.revision, or the error) must agree at
// revision 0, at every revision from just below the compacted one to one past the head, and at
// -1. The phases (test/helpers/hashkv-script.ts) cover what decides etcd's bytes and keep set:
// leases, empty and large values, binary and long keys, single/range/missing deletes, several
// writes in one revision, a lease revoke, compactions at a put's and at a delete's revision, no
// key alive; then a restart. Skipped (with the reason printed) when no `etcd` binary is on PATH.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type ServerProcess } from './helpers/server-process';
import { etcdVersion, refusesCompactedRev, runPhases, Script, Target } from './helpers/hashkv-script';

const servers: ServerProcess[] = [];
after(async () => {
  for (const s of servers) await s.cleanup();
});

test("HashKV equals real etcd's after the same operations", { timeout: 180_000 }, async (t) => {
  const v = etcdVersion();
  if ('missing' in v) {
    const reason = `etcd not installed: ${v.missing}`;
    console.log(`# skipped: ${reason}`);
    t.skip(reason);
    return;
  }
  const started = await Promise.all([startServer({ impl: 'etcd' }), startServer({ impl: 'etcd-ts' })]);
  servers.push(...started);
  const s = new Script([new Target('etcd', started[0].endpoint), new Target('etcd-ts', started[1].endpoint)], refusesCompactedRev(v.version));
  try {
    await runPhases(s, { leaseA: '4660', leaseB: '8070450532247928833' /* 0x7000000000000001: a nine-byte varint */, compare: true });
  } finally {
    for (const tg of s.targets) tg.close();
  }

  // A restart (etcd rebuilds its index from bbolt; ours is on disk).
  const restarted = await Promise.all(started.map((p) => p.restart()));
  servers.push(...restarted);
  s.targets = [new Target('etcd', restarted[0].endpoint), new Target('etcd-ts', restarted[1].endpoint)];
  try {
    await s.compare('after restart');
  } finally {
    for (const tg of s.targets) tg.close();
  }

  assert.deepEqual(s.mismatches, [], `HashKV differs from etcd ${v.version.join('.')}:\n${s.mismatches.join('\n')}`);
});
