// etcd's corruption checks (issue 13): a member whose store was changed behind Raft's back (here:
// one value byte rewritten in its LMDB file while it was down, as a disk or a bug would) is caught
// by comparing HashKV with its peers. The member is stopped cleanly first: after a SIGKILL its
// next start falls back to its last checkpoint and redoes the write-ahead log, and a file
// changed by another program in between is not supported.
// - --experimental-initial-corrupt-check: the damaged member refuses to start, with etcd's
//   message; an intact member restarts fine with the same flag.
// - --experimental-corrupt-check-time: the leader finds the mismatch and raises CORRUPT for the
//   cluster (member 0, as etcd 3.5); every member then refuses writes with `etcdserver: corrupt
//   cluster` while reads go on, and `etcdctl alarm list` shows it.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { open } from 'lmdb';
import { etcdctl, etcdctlMissing, etcdctlOk, show } from './helpers/etcdctl';
import { leaderEndpoint, startCluster, until, type Cluster } from './helpers/cluster';

const VALUE = 'precious-value';

/** Rewrites VALUE in every stored version of it in the member's history table; returns how many. */
async function damage(dataDir: string): Promise<number> {
  const env = open({ path: join(dataDir, 'member', 'lmdb'), maxDbs: 16 });
  try {
    const history = env.openDB<Buffer, Buffer>('mvcc-history', { keyEncoding: 'ordered-binary', encoding: 'binary' });
    const needle = Buffer.from(VALUE);
    let changed = 0;
    await history.transaction(() => {
      for (const { key, value } of history.getRange({})) {
        const at = value.indexOf(needle);
        if (at < 0) continue;
        const copy = Buffer.from(value);
        copy[at] ^= 0x20; // 'p' -> 'P': same length, another value
        void history.put(key, copy);
        changed++;
      }
    });
    return changed;
  } finally {
    await env.close();
  }
}

async function seed(cluster: Cluster): Promise<void> {
  const leader = await leaderEndpoint(cluster.endpoints());
  await etcdctlOk(leader, ['put', 'k1', VALUE]);
  await etcdctlOk(leader, ['put', 'k2', 'other']);
  await etcdctlOk(leader, ['put', 'k1', `${VALUE}-2`]);
  // Every member has applied the last write before one goes down.
  for (const ep of cluster.endpoints()) await until(`${ep} caught up`, async () => ((await etcdctl(ep, ['get', 'k1', '--consistency=s', '--print-value-only'])).stdout.trim() === `${VALUE}-2` ? true : undefined));
}

describe('initial corruption check', { skip: etcdctlMissing, timeout: 120_000 }, () => {
  let cluster: Cluster | undefined;
  after(async () => {
    await cluster?.cleanup();
  });

  test('a damaged member refuses to start; an intact one restarts', async () => {
    cluster = await startCluster(3, ['--experimental-initial-corrupt-check']);
    await seed(cluster);

    await cluster.kill(1);
    await cluster.start(1);

    await cluster.stop(2);
    assert.ok((await damage(cluster.members[2].dataDir)) >= 2, 'both versions of k1 rewritten');
    await assert.rejects(cluster.start(2), (err: Error) => {
      assert.match(err.message, new RegExp(`${BigInt(cluster?.members[2].id ?? 0).toString(16)} found data inconsistency with peers`));
      return true;
    });
    // The two intact members go on serving writes.
    const leader = await leaderEndpoint(cluster.endpoints().slice(0, 2));
    await etcdctlOk(leader, ['put', 'after', 'ok']);
  });
});

describe('periodic corruption check', { skip: etcdctlMissing, timeout: 120_000 }, () => {
  let cluster: Cluster | undefined;
  after(async () => {
    await cluster?.cleanup();
  });

  test('the leader raises CORRUPT; every member refuses writes and still serves reads', async () => {
    cluster = await startCluster(3, ['--experimental-corrupt-check-time', '300ms']);
    await seed(cluster);
    // Intact members agree: no alarm after several checks.
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal((await etcdctlOk(cluster.endpoints()[0], ['alarm', 'list'])).trim(), '');

    const leader = await leaderEndpoint(cluster.endpoints());
    const follower = cluster.endpoints().findIndex((ep) => ep !== leader);
    await cluster.stop(follower);
    assert.ok((await damage(cluster.members[follower].dataDir)) >= 2);
    await cluster.start(follower);

    const listed = await until('CORRUPT raised', async () => {
      const out = await etcdctlOk(cluster?.endpoints()[0] ?? '', ['alarm', 'list']);
      return out.includes('CORRUPT') ? out : undefined;
    });
    // Raised for member 0 (the cluster), which etcdctl's text form leaves out as a zero field.
    assert.equal(listed.trim(), 'alarm:CORRUPT');
    const status = await etcdctlOk(cluster.endpoints()[0], ['endpoint', 'status', '-w', 'json']);
    assert.match(status, /"errors":\["alarm:CORRUPT "\]/);
    for (const ep of cluster.endpoints()) {
      const r = await until(`${ep} refuses writes`, async () => {
        const put = await etcdctl(ep, ['put', 'k3', 'v']);
        return put.code !== 0 ? put : undefined;
      });
      assert.match(r.stderr, /etcdserver: corrupt cluster/, show(['put', 'k3', 'v'], r));
      const got = await etcdctl(ep, ['get', 'k2', '--print-value-only']);
      assert.equal(got.code, 0, show(['get', 'k2'], got));
      assert.equal(got.stdout.trim(), 'other');
    }
  });
});
