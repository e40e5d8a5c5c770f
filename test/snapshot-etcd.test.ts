// Snapshots as etcd's own bbolt files, both ways (issue 13, acceptance 1 and 2):
//  a) etcd-ts -> `etcdctl snapshot save` -> `etcdctl snapshot status` -> `etcdctl snapshot
//     restore` -> real etcd 3.4 serves the same keys (revisions, versions, values, leases) and
//     the same HashKV as etcd-ts.
//  b) real etcd -> `etcdctl snapshot save` -> `etcd-ts snapshot restore` -> etcd-ts serves the same
//     keys, leases and HashKV as real etcd.
//  c) truncated and corrupted files: a clear error, exit 1, and no data dir (nor temp dir) left.
// The same script runs on both servers, so the snapshots must also agree on revision and total
// keys (`snapshot status` counts rows of every bucket). Skipped only when etcd/etcdctl are missing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAIN, startServer, type ServerProcess } from './helpers/server-process';
import { etcdctl, etcdctlMissing, etcdctlOk, show } from './helpers/etcdctl';
import { call, kvClient, maintenanceClient, type Msg } from './helpers/grpc-client';
import type * as grpc from '@grpc/grpc-js';

const etcdMissing: string | false = spawnSync('etcd', ['--version']).status === 0 ? false : 'etcd is not installed';
const skip = etcdMissing || etcdctlMissing;
if (skip) process.stdout.write(`# skipping snapshot-etcd tests: ${skip}\n`);

const servers: ServerProcess[] = [];
const work = mkdtempSync(join(tmpdir(), 'etcd-ts-snap-'));
let ts: ServerProcess | undefined;
let et: ServerProcess | undefined;
const leaseIds = new Map<ServerProcess, string>();

after(async () => {
  for (const s of servers) await s.cleanup();
  rmSync(work, { recursive: true, force: true });
});

/** Puts, a delete, a lease with a key, a txn, a compaction, more writes: 9 revisions. */
async function script(s: ServerProcess): Promise<void> {
  const ep = s.endpoint;
  await etcdctlOk(ep, ['put', 'a', '1']); // 2
  await etcdctlOk(ep, ['put', 'b', '2']); // 3
  await etcdctlOk(ep, ['put', 'a', '3']); // 4
  await etcdctlOk(ep, ['del', 'b']); // 5
  const granted = await etcdctlOk(ep, ['lease', 'grant', '600']);
  const id = /lease ([0-9a-f]+) granted/.exec(granted)?.[1];
  assert.ok(id !== undefined, granted);
  leaseIds.set(s, id);
  await etcdctlOk(ep, ['put', 'c', '4', `--lease=${id}`]); // 6
  await etcdctlOk(ep, ['txn'], '\nput d 5\nput e ""\n\n\n'); // 7 (two subs, an empty value)
  await etcdctlOk(ep, ['compact', '4']);
  await etcdctlOk(ep, ['put', 'f', '7']); // 8
  await etcdctlOk(ep, ['del', 'd']); // 9
}

interface Kv {
  key: string;
  create_revision: number;
  mod_revision: number;
  version: number;
  value?: string;
  lease?: number;
}

async function keys(s: ServerProcess): Promise<{ revision: number; kvs: Kv[] }> {
  const out = JSON.parse(await etcdctlOk(s.endpoint, ['get', '', '--prefix', '-w', 'json'])) as { header: { revision: number }; kvs?: Kv[] };
  return { revision: out.header.revision, kvs: (out.kvs ?? []).map((k) => ({ key: k.key, create_revision: k.create_revision, mod_revision: k.mod_revision, version: k.version, value: k.value, lease: k.lease })) };
}

async function hashKV(s: ServerProcess, rev: number): Promise<{ hash: number; compact_revision: number }> {
  const out = JSON.parse(await etcdctlOk(s.endpoint, ['endpoint', 'hashkv', '--rev', String(rev), '-w', 'json'])) as { HashKV: { hash: number; compact_revision: number } }[];
  return { hash: out[0].HashKV.hash, compact_revision: out[0].HashKV.compact_revision };
}

async function status(file: string): Promise<{ hash: number; revision: number; totalKey: number; totalSize: number }> {
  return JSON.parse(await etcdctlOk('127.0.0.1:1', ['snapshot', 'status', file, '-w', 'json'])) as { hash: number; revision: number; totalKey: number; totalSize: number };
}

function etcdTs(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Revisions to compare HashKV at: above the compacted one (4), which etcd 3.4.23 refuses. */
const HASH_REVS = [0, 5, 6, 8, 9];

const cluster = ['--name', 'default', '--initial-cluster', 'default=http://localhost:2380', '--initial-advertise-peer-urls', 'http://localhost:2380', '--initial-cluster-token', 'etcd-cluster'];

before(async () => {
  if (skip) return;
  ts = await startServer({ impl: 'etcd-ts' });
  servers.push(ts);
  et = await startServer({ impl: 'etcd' });
  servers.push(et);
  await script(ts);
  await script(et);
});

test('acceptance 1: an etcd-ts snapshot is an etcd file: status, etcdctl restore, real etcd serves the same', { skip }, async () => {
  assert.ok(ts !== undefined && et !== undefined);
  const file = join(work, 'from-ts.db');
  await etcdctlOk(ts.endpoint, ['snapshot', 'save', file]);
  const st = await status(file);
  assert.equal(st.revision, 9);
  // key rows kept after compact 4: b@3 (its newest at or below 4), a@4, b@5(t), c@6, d@7, e@7,
  // f@8, d@9(t) = 8; meta 3 (consistent_index, finished/scheduledCompactRev); lease 1; members 1;
  // cluster 1; auth 1 (authRevision).
  assert.equal(st.totalKey, 15);
  const etFile = join(work, 'from-etcd-for-status.db');
  await etcdctlOk(et.endpoint, ['snapshot', 'save', etFile]);
  const etSt = await status(etFile);
  assert.equal(st.totalKey, etSt.totalKey, 'same rows as real etcd after the same script');
  assert.equal(st.revision, etSt.revision);
  // Our own status reads the file as etcdctl does.
  for (const w of ['json', 'simple', 'table']) {
    const ours = etcdTs(['snapshot', 'status', file, '-w', w]);
    assert.equal(ours.code, 0, ours.stderr);
    assert.equal(ours.stdout, await etcdctlOk('127.0.0.1:1', ['snapshot', 'status', file, '-w', w]));
  }

  const dir = join(work, 'etcd-restored');
  const r = await etcdctl('127.0.0.1:1', ['snapshot', 'restore', file, '--data-dir', dir, ...cluster]);
  assert.equal(r.code, 0, show(['snapshot', 'restore'], r));
  const restored = await startServer({ impl: 'etcd', dataDir: dir });
  servers.push(restored);
  const want = await keys(ts);
  const got = await keys(restored);
  assert.equal(got.revision, want.revision);
  assert.deepEqual(got.kvs, want.kvs);
  for (const rev of HASH_REVS) assert.deepEqual(await hashKV(restored, rev), await hashKV(ts, rev), `HashKV at ${rev}`);
  const leases = await etcdctlOk(restored.endpoint, ['lease', 'list']);
  assert.match(leases, new RegExp(leaseIds.get(ts) ?? 'none'));
  const ttl = await etcdctlOk(restored.endpoint, ['lease', 'timetolive', leaseIds.get(ts) ?? '0', '--keys']);
  assert.match(ttl, /granted with TTL\(600s\).*attached keys\(\[c\]\)/);
});

test('acceptance 2: a real etcd snapshot restored by etcd-ts serves the same keys, leases and HashKV', { skip }, async () => {
  assert.ok(et !== undefined);
  const file = join(work, 'from-etcd.db');
  await etcdctlOk(et.endpoint, ['snapshot', 'save', file]);
  const dir = join(work, 'ts-restored');
  const r = etcdTs(['snapshot', 'restore', file, '--data-dir', dir, ...cluster]);
  assert.equal(r.code, 0, r.stderr);
  const restored = await startServer({ impl: 'etcd-ts', dataDir: dir });
  servers.push(restored);
  const want = await keys(et);
  const got = await keys(restored);
  assert.equal(got.revision, want.revision);
  assert.deepEqual(got.kvs, want.kvs);
  for (const rev of HASH_REVS) assert.deepEqual(await hashKV(restored, rev), await hashKV(et, rev), `HashKV at ${rev}`);
  const id = leaseIds.get(et) ?? '0';
  assert.match(await etcdctlOk(restored.endpoint, ['lease', 'list']), new RegExp(id));
  assert.match(await etcdctlOk(restored.endpoint, ['lease', 'timetolive', id, '--keys']), /granted with TTL\(600s\).*attached keys\(\[c\]\)/);
  // Reads below the compacted revision fail there as on etcd.
  const old = await etcdctl(restored.endpoint, ['get', 'a', '--rev', '3']);
  assert.notEqual(old.code, 0);
  assert.match(old.stderr, /required revision has been compacted/);
  // And the restored member takes writes at the next revision.
  await etcdctlOk(restored.endpoint, ['put', 'g', '8']);
  assert.equal((await keys(restored)).revision, 10);
});

test('truncated or corrupted snapshot files: clear error, nothing left behind', { skip }, async () => {
  assert.ok(ts !== undefined);
  const good = join(work, 'good.db');
  await etcdctlOk(ts.endpoint, ['snapshot', 'save', good]);
  const size = readFileSync(good).length;
  const cases: { name: string; make: (p: string) => void; extra: string[]; error: RegExp }[] = [
    { name: 'truncated', make: (p) => (copyFileSync(good, p), truncateSync(p, size - 1000)), extra: [], error: /missing hash/ },
    {
      name: 'corrupted',
      make: (p) => {
        const b = readFileSync(good);
        b[5000] ^= 0xff;
        writeFileSync(p, b);
      },
      extra: [],
      error: /expected sha256/,
    },
    { name: 'truncated, hash check skipped', make: (p) => (copyFileSync(good, p), truncateSync(p, 8192)), extra: ['--skip-hash-check'], error: /bbolt|page|snapshot/ },
    { name: 'not a snapshot', make: (p) => writeFileSync(p, Buffer.alloc(4096 + 32, 7)), extra: [], error: /expected sha256/ },
  ];
  for (const c of cases) {
    const file = join(work, `${c.name.replace(/\W+/g, '-')}.db`);
    c.make(file);
    const parent = mkdtempSync(join(work, 'bad-'));
    const dir = join(parent, 'data');
    const r = etcdTs(['snapshot', 'restore', file, '--data-dir', dir, ...cluster, ...c.extra]);
    assert.equal(r.code, 1, `${c.name}: ${r.stderr}`);
    assert.match(r.stderr, /^Error: /, c.name);
    assert.match(r.stderr, c.error, c.name);
    assert.equal(existsSync(dir), false, `${c.name}: no data dir`);
    assert.deepEqual(readdirSync(parent), [], `${c.name}: no temp dir left`);
  }
  // An existing data dir is refused as etcdctl does.
  const existing = mkdtempSync(join(work, 'exists-'));
  const r = etcdTs(['snapshot', 'restore', good, '--data-dir', existing, ...cluster]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /data-dir ".*" exists/);
});

type SnapshotClient = { Snapshot(req: Msg): grpc.ClientReadableStream<Msg> };

// Last: it adds keys to the etcd-ts member the tests above compare.
test('Snapshot RPC: etcd 3.4 remaining_bytes and trailer; a client that goes away releases the read view', { skip }, async () => {
  assert.ok(ts !== undefined);
  const kv = kvClient(ts.endpoint);
  const m = maintenanceClient(ts.endpoint);
  try {
    const value = Buffer.alloc(10_000, 0x61);
    for (let i = 0; i < 300; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => call(kv, 'Put', { key: Buffer.from(`big/${i + j}`), value })));
    }
    const msgs: Msg[] = [];
    await new Promise<void>((res, rej) => {
      const st = (m as unknown as SnapshotClient).Snapshot({});
      st.on('data', (d: Msg) => msgs.push(d));
      st.on('error', rej);
      st.on('end', () => res());
    });
    assert.ok(msgs.length > 10, `${msgs.length} messages`);
    const trailer = msgs[msgs.length - 1];
    const db = Buffer.concat(msgs.slice(0, -1).map((x) => x.blob as Buffer));
    assert.equal((trailer.blob as Buffer).length, 32);
    assert.equal(trailer.remaining_bytes, '0');
    assert.ok(createHash('sha256').update(db).digest().equals(trailer.blob as Buffer), 'trailer is the sha256 of the db');
    assert.equal(db.length % 4096, 0);
    let sent = 0;
    for (const x of msgs.slice(0, -1)) {
      sent += (x.blob as Buffer).length;
      assert.equal(x.remaining_bytes, String(db.length - sent));
    }
    // A client that reads one message and cancels: the member lets its read view go, so a
    // defragment (which waits for open views) goes through.
    await new Promise<void>((res) => {
      const st = (m as unknown as SnapshotClient).Snapshot({});
      st.once('data', () => st.cancel());
      st.on('error', () => res());
      st.on('end', () => res());
    });
    await call(m, 'Defragment', {}, 20_000);
  } finally {
    kv.close();
    m.close();
  }
});
