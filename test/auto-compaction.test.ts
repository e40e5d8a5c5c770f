// --auto-compaction-mode / --auto-compaction-retention with etcd 3.4's semantics (v3compactor),
// against real server processes with short retentions: periodic mode compacts at the revision
// of one retention ago, first once a whole retention has passed, then again every retention;
// revision mode keeps the last N revisions; only the leader of a cluster compacts.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type * as grpc from '@grpc/grpc-js';
import { startServer, type ServerProcess } from './helpers/server-process';
import { startCluster, until, type Cluster } from './helpers/cluster';
import { call, kvClient, maintenanceClient, type Msg } from './helpers/grpc-client';

const COMPACTED = /required revision has been compacted/;

const servers: ServerProcess[] = [];
const clusters: Cluster[] = [];
const clients: grpc.Client[] = [];
after(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await s.cleanup();
  for (const c of clusters) await c.cleanup();
});

async function compactRevision(mt: grpc.Client): Promise<number> {
  return Number((await call(mt, 'HashKV', { revision: 0 })).compact_revision);
}

async function put(kv: grpc.Client, key: string, value: string): Promise<number> {
  const r = await call(kv, 'Put', { key: Buffer.from(key), value: Buffer.from(value) });
  return Number((r.header as Msg).revision);
}

async function rangeError(kv: grpc.Client, rev: number): Promise<string | undefined> {
  try {
    await call(kv, 'Range', { key: Buffer.from('k'), revision: rev });
    return undefined;
  } catch (err) {
    return (err as grpc.ServiceError).details;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('auto-compaction', () => {
  test('periodic: after one retention, the revision of one retention ago; then again every retention', { timeout: 60_000 }, async () => {
    const spawnedMs = Date.now();
    const s = await startServer({ args: ['--auto-compaction-mode', 'periodic', '--auto-compaction-retention', '2s', '--log-level', 'info'] });
    servers.push(s);
    const kv = kvClient(s.endpoint);
    const mt = maintenanceClient(s.endpoint);
    clients.push(kv, mt);
    // Revisions as time goes on, one put every 50 ms (bounded: 9 s).
    const written: { atMs: number; rev: number }[] = [];
    const startMs = Date.now();
    const seen: { atMs: number; compacted: number }[] = [];
    while (Date.now() - startMs < 9000) {
      written.push({ atMs: Date.now(), rev: await put(kv, 'k', String(written.length)) });
      const compacted = await compactRevision(mt);
      if (seen.length === 0 || seen[seen.length - 1].compacted !== compacted) seen.push({ atMs: Date.now(), compacted });
      await sleep(50);
    }
    const compactions = seen.filter((c) => c.compacted > 0);
    assert.ok(compactions.length >= 2, `compacted more than once: ${JSON.stringify(seen)}`);
    const first = compactions[0];
    // Not before a whole retention has passed since the member started.
    assert.ok(first.atMs - spawnedMs >= 2000, `first compaction ${first.atMs - spawnedMs} ms after the process was spawned`);
    for (const c of compactions) {
      // The revision compacted was current about one retention (2 s, noted every 200 ms) before.
      const before = written.filter((w) => w.atMs <= c.atMs - 1500);
      const latestOld = before.length > 0 ? before[before.length - 1].rev : 1;
      assert.ok(c.compacted <= latestOld, `compacted ${c.compacted} at +${c.atMs - startMs} ms, newer than the revision of 1.5 s before (${latestOld})`);
      const long = written.filter((w) => w.atMs <= c.atMs - 5000);
      if (long.length > 0) assert.ok(c.compacted >= long[long.length - 1].rev, `compacted ${c.compacted} is older than 5 s before`);
    }
    // Later compactions come one retention apart, not every retry interval.
    for (let i = 1; i < compactions.length; i++) {
      const gap = compactions[i].atMs - compactions[i - 1].atMs;
      assert.ok(gap >= 1500, `compactions ${gap} ms apart`);
    }
    const last = compactions[compactions.length - 1].compacted;
    assert.match((await rangeError(kv, last - 1)) ?? '', COMPACTED);
    assert.equal(await rangeError(kv, last), undefined);
    assert.match(s.stderr(), /Starting auto-compaction at revision \d+ \(retention: 2s\)/);
    assert.match(s.stderr(), /Finished auto-compaction at revision \d+/);
    const line = s.stderr().split('\n').find((l) => l.includes('Starting auto-compaction'));
    assert.ok(line !== undefined);
    const fields = JSON.parse(line) as Record<string, unknown>;
    assert.equal(fields['compact-period'], '2s');
    assert.equal(typeof fields.revision, 'number');
  });

  test('revision: keeps the last N revisions', { timeout: 60_000 }, async () => {
    const s = await startServer({
      args: ['--auto-compaction-mode', 'revision', '--auto-compaction-retention', '10', '--etcd-ts-auto-compaction-revision-interval', '300ms', '--log-level', 'info'],
    });
    servers.push(s);
    const kv = kvClient(s.endpoint);
    const mt = maintenanceClient(s.endpoint);
    clients.push(kv, mt);
    let head = 0;
    for (let i = 0; i < 30; i++) head = await put(kv, 'k', String(i));
    assert.equal(head, 31);
    const compacted = await until('the revision compaction', async () => ((await compactRevision(mt)) === head - 10 ? head - 10 : undefined), 10_000);
    assert.equal(compacted, 21);
    assert.match((await rangeError(kv, 20)) ?? '', COMPACTED);
    assert.equal(await rangeError(kv, 21), undefined);
    // Nothing new written: the next checks find the same revision and leave it be (a check
    // while the puts were still going may have compacted an older revision before).
    const starts = (): string[] => s.stderr().split('\n').filter((l) => l.includes('Starting auto-compaction'));
    const startsBefore = starts().length;
    await sleep(1000);
    assert.equal(await compactRevision(mt), 21);
    assert.equal(starts().length, startsBefore, starts().join('\n'));
    const fields = JSON.parse(starts()[startsBefore - 1]) as Record<string, unknown>;
    assert.equal(fields.msg, 'Starting auto-compaction at revision 21 (retention: 10 revisions)');
    assert.equal(fields.revision, 21);
    assert.equal(fields['revision-compaction-retention'], 10);
    assert.match(s.stderr(), /"msg":"Finished auto-compaction at revision 21"/);
    for (let i = 0; i < 5; i++) head = await put(kv, 'k', String(i));
    await until('the next revision compaction', async () => ((await compactRevision(mt)) === head - 10 ? true : undefined), 10_000);
  });

  test('revision, 3 members: only the leader compacts, every member sees it', { timeout: 90_000 }, async () => {
    const cluster = await startCluster(3, ['--auto-compaction-mode', 'revision', '--auto-compaction-retention', '5', '--etcd-ts-auto-compaction-revision-interval', '300ms', '--log-level', 'info']);
    clusters.push(cluster);
    const kv = kvClient(cluster.endpoints()[0]);
    clients.push(kv);
    let head = 0;
    for (let i = 0; i < 20; i++) head = await put(kv, 'k', String(i));
    for (const ep of cluster.endpoints()) {
      const mt = maintenanceClient(ep);
      clients.push(mt);
      await until(`compaction seen at ${ep}`, async () => ((await compactRevision(mt)) === head - 5 ? true : undefined), 15_000);
    }
    const starters = cluster.members.filter((m) => (m.process?.stderr() ?? '').includes('Starting auto-compaction'));
    assert.equal(starters.length, 1, `members that compacted: ${starters.map((m) => m.name).join(', ')}`);
    const mt = maintenanceClient(cluster.endpoints()[0]);
    clients.push(mt);
    const status = await call(mt, 'Status', {});
    assert.equal(starters[0].id, String(status.leader));
  });
});
