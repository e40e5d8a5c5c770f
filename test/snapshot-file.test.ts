// etcd's snapshot file (bbolt db + sha256 trailer) against the real tools: our writer's files are
// checked by `etcdctl snapshot status` (bbolt's own integrity check, hash, revision, key count) and
// `etcdctl snapshot restore` + a real etcd started on the result; real etcd's snapshots are read
// by our reader and must give the same hash etcdctl computes. Tests that need etcd or etcdctl skip,
// with the reason printed, only when those binaries are absent.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { protoType, CONVERSION } from '../src/pb/load';
import { BboltReader } from '../src/snapshot/bbolt-reader';
import type { BboltBucketSource } from '../src/snapshot/bbolt-writer';
import { SnapshotFileError, hasSha256Trailer, snapshotStream, verifySnapshotFile, withSha256Trailer } from '../src/snapshot/snapshot-file';
import { startServer, type ServerProcess } from './helpers/server-process';
import { call, serviceClient, b } from './helpers/grpc-client';
import { ETCDCTL, etcdctlMissing, etcdctlOk } from './helpers/etcdctl';

const etcdMissing: string | false = spawnSync('etcd', ['--version']).status === 0 ? false : 'etcd is not installed (apt-get install etcd-server)';
if (etcdMissing) process.stdout.write(`# skipping real-etcd snapshot tests: ${etcdMissing}\n`);
const needEtcd = etcdMissing || etcdctlMissing;

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'snapshot-file-test-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

// ---- helpers ---------------------------------------------------------------------------------

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32c(crc: number, buf: Buffer): number {
  let c = ~crc >>> 0;
  for (const byte of buf) c = (CRC32C_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8)) >>> 0;
  return ~c >>> 0;
}

interface Status {
  hash: number;
  revision: number;
  totalKey: number;
  totalSize: number;
}

/** What `etcdctl snapshot status` computes (clientv3/snapshot Status), over our reader's view. */
function statusOf(path: string): Status {
  const reader = BboltReader.open(path);
  try {
    let hash = 0;
    let revision = 0;
    let totalKey = 0;
    for (const name of reader.bucketNames()) {
      hash = crc32c(hash, name);
      const bucket = reader.bucket(name);
      assert.ok(bucket !== undefined);
      for (const e of bucket.elements()) {
        hash = crc32c(hash, e.key);
        // bbolt's ForEach hands a nested bucket's value over as nil.
        if (!e.isBucket) hash = crc32c(hash, e.value);
        if (name.toString() === 'key') revision = Number(e.key.readBigUInt64BE(0));
        totalKey++;
      }
    }
    return { hash, revision, totalKey, totalSize: reader.sizeBytes };
  } finally {
    reader.close();
  }
}

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(cmd, args, { env: { ...process.env, ETCDCTL_API: '3' }, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      res({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

async function etcdctlStatus(path: string): Promise<Status> {
  const r = await run(ETCDCTL, ['snapshot', 'status', path, '-w', 'json']);
  assert.equal(r.code, 0, `etcdctl snapshot status failed: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as Status;
}

/** Writes buckets as an etcd snapshot file (db + trailer), streaming the chunks to disk. */
function writeSnapshot(path: string, buckets: BboltBucketSource[]): number {
  const { chunks, totalBytes } = snapshotStream(buckets);
  const fd = openSync(path, 'w');
  try {
    for (const c of chunks) for (let off = 0; off < c.length; ) off += writeSync(fd, c, off);
  } finally {
    closeSync(fd);
  }
  return totalBytes;
}

const bucket = (name: string, pairs: [Buffer, Buffer][]): BboltBucketSource => ({ name: Buffer.from(name), entries: () => pairs });

/** etcd's 17-byte revision key: main (8 bytes BE) '_' sub (8 bytes BE); 18 with the tombstone mark. */
function revKey(main: number, sub: number, tombstone = false): Buffer {
  const k = Buffer.alloc(tombstone ? 18 : 17);
  k.writeBigUInt64BE(BigInt(main), 0);
  k[8] = 0x5f;
  k.writeBigUInt64BE(BigInt(sub), 9);
  if (tombstone) k[17] = 0x74;
  return k;
}

function u64be(n: number | bigint): Buffer {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64BE(BigInt(n));
  return buf;
}

const KeyValue = () => protoType('mvccpb.KeyValue');

function encodeKv(kv: { key: string; value?: string; create_revision?: number; mod_revision: number; version?: number; lease?: number }): Buffer {
  // Zero fields are left out, as Go's marshaller leaves them out.
  const msg: Record<string, unknown> = { key: Buffer.from(kv.key), mod_revision: kv.mod_revision };
  if (kv.value !== undefined) msg.value = Buffer.from(kv.value);
  if (kv.create_revision !== undefined) msg.create_revision = kv.create_revision;
  if (kv.version !== undefined) msg.version = kv.version;
  if (kv.lease !== undefined) msg.lease = kv.lease;
  return Buffer.from(KeyValue().encode(KeyValue().fromObject(msg)).finish());
}

function decodeKv(buf: Buffer): { key: Buffer; value: Buffer; create_revision: string; mod_revision: string; version: string; lease: string } {
  return KeyValue().toObject(KeyValue().decode(buf), CONVERSION) as { key: Buffer; value: Buffer; create_revision: string; mod_revision: string; version: string; lease: string };
}

// ---- the trailer -----------------------------------------------------------------------------

describe('snapshot file trailer', () => {
  const buckets = [bucket('key', [[revKey(2, 0), encodeKv({ key: 'a', value: 'b', create_revision: 2, mod_revision: 2, version: 1 })]]), bucket('meta', [])];

  test("etcdctl's rule: a trailer is there exactly when size % 512 == 32", () => {
    assert.equal(hasSha256Trailer(4096 * 5 + 32), true);
    assert.equal(hasSha256Trailer(4096 * 5), false);
    assert.equal(hasSha256Trailer(4096 * 5 + 31), false);
    assert.equal(hasSha256Trailer(32), true);
  });

  test('the stream is the db then sha256 of it; verify accepts it, the reader reads through the trailer', () => {
    const path = join(dir, 'trailer.snap');
    const total = writeSnapshot(path, buckets);
    const bytes = readFileSync(path);
    assert.equal(bytes.length, total);
    const db = bytes.subarray(0, bytes.length - 32);
    const digest = spawnSync('sha256sum', { input: db, encoding: 'utf8' }).stdout.split(' ')[0];
    assert.equal(bytes.subarray(bytes.length - 32).toString('hex'), digest);
    const check = verifySnapshotFile(path);
    assert.equal(check.dbBytes, db.length);
    assert.equal(check.sha256?.toString('hex'), digest);
    const reader = BboltReader.open(path);
    assert.deepEqual(reader.bucketNames().map(String), ['key', 'meta']);
    assert.equal(reader.sizeBytes, db.length);
    reader.close();
    const chunks = [...withSha256Trailer([Buffer.from('ab'), Buffer.from('c')])];
    assert.equal(chunks.length, 3);
    assert.equal(chunks[2].toString('hex'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  test('a flipped byte, a missing trailer and a truncated file are refused as etcdctl refuses them', () => {
    const path = join(dir, 'bad.snap');
    writeSnapshot(path, buckets);
    const good = readFileSync(path);
    const flipped = Buffer.from(good);
    flipped[5000] ^= 1;
    writeFileSync(path, flipped);
    assert.throws(() => verifySnapshotFile(path), (e: unknown) => e instanceof SnapshotFileError && /expected sha256 [0-9a-f]{64}, got/.test(e.message));
    writeFileSync(path, good.subarray(0, good.length - 32));
    assert.throws(() => verifySnapshotFile(path), /missing hash but --skip-hash-check=false/);
    assert.equal(verifySnapshotFile(path, { skipHashCheck: true }).dbBytes, good.length - 32);
    writeFileSync(path, good.subarray(0, good.length - 1));
    assert.throws(() => verifySnapshotFile(path), SnapshotFileError);
  });
});

// ---- against the real tools ------------------------------------------------------------------

describe('our bbolt files in real etcdctl', { skip: etcdctlMissing }, () => {
  test('snapshot status passes bbolt integrity check, same hash and key count for random buckets', async () => {
    let seed = 42;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
    const buckets: BboltBucketSource[] = [];
    for (let i = 0; i < 300; i++) {
      const keys = new Map<string, Buffer>();
      const n = i === 0 ? 20_000 : Math.floor(rand() * 6);
      while (keys.size < n) {
        const k = bytes(1 + Math.floor(rand() * 30));
        keys.set(k.toString('hex'), k);
      }
      const pairs = [...keys.values()].sort(Buffer.compare).map((k): [Buffer, Buffer] => [k, bytes(rand() < 0.001 ? 300_000 : Math.floor(rand() * 100))]);
      if (i === 1) pairs.push([Buffer.alloc(32768, 0xff), bytes(1 << 20)]);
      buckets.push({ name: Buffer.from(`b${i}-${'n'.repeat(Math.floor(rand() * 40))}`), entries: () => pairs });
    }
    const path = join(dir, 'random.snap');
    writeSnapshot(path, buckets);
    const theirs = await etcdctlStatus(path);
    const ours = statusOf(path);
    assert.deepEqual(theirs, ours);
    assert.ok(ours.totalKey > 20_000);
  });
});

describe('our snapshot restored by etcdctl and served by real etcd', { skip: needEtcd }, () => {
  let server: ServerProcess | undefined;
  after(async () => server?.cleanup());

  test('status, restore, then etcd serves our keys with their revisions, versions and lease', async () => {
    const LEASE = 0x1234;
    const keyBucket: [Buffer, Buffer][] = [
      [revKey(2, 0), encodeKv({ key: 'foo', value: 'bar', create_revision: 2, mod_revision: 2, version: 1 })],
      [revKey(3, 0), encodeKv({ key: 'foo', value: 'baz', create_revision: 2, mod_revision: 3, version: 2 })],
      [revKey(4, 0), encodeKv({ key: 'leased', value: 'x', create_revision: 4, mod_revision: 4, version: 1, lease: LEASE })],
      [revKey(5, 0), encodeKv({ key: 'gone', value: '1', create_revision: 5, mod_revision: 5, version: 1 })],
      [revKey(6, 0, true), encodeKv({ key: 'gone', mod_revision: 6 })],
      [revKey(7, 0), encodeKv({ key: 'a', value: '1', create_revision: 7, mod_revision: 7, version: 1 })],
      [revKey(7, 1), encodeKv({ key: 'b', value: '2', create_revision: 7, mod_revision: 7, version: 1 })],
    ];
    // leasepb.Lease{ID: 0x1234, TTL: 600}: field 1 and field 2 as varints.
    const lease = Buffer.from([0x08, 0xb4, 0x24, 0x10, 0xd8, 0x04]);
    const buckets = [
      bucket('alarm', []),
      bucket('auth', [[b('authEnabled'), Buffer.from([0])], [b('authRevision'), u64be(1)]]),
      bucket('authRoles', []),
      bucket('authUsers', []),
      bucket('cluster', [[b('clusterVersion'), b('3.4.0')]]),
      bucket('key', keyBucket),
      bucket('lease', [[u64be(LEASE), lease]]),
      bucket('members', []),
      bucket('members_removed', []),
      // Compacted at revision 2, which keeps every pair above (foo@2 is foo's latest at 2), and
      // finished: etcd must refuse revision 1 and not compact again.
      bucket('meta', [[b('consistent_index'), u64be(20)], [b('finishedCompactRev'), revKey(2, 0)], [b('scheduledCompactRev'), revKey(2, 0)]]),
    ];
    const path = join(dir, 'ours.snap');
    writeSnapshot(path, buckets);

    const status = await etcdctlStatus(path);
    assert.equal(status.revision, 7);
    assert.equal(status.totalKey, 7 + 2 + 1 + 1 + 3);
    assert.deepEqual(status, statusOf(path));

    const dataDir = join(dir, 'restored');
    const peer = 'http://localhost:2380';
    const r = await run(ETCDCTL, ['snapshot', 'restore', path, '--data-dir', dataDir, '--name', 'default', '--initial-cluster', `default=${peer}`, '--initial-advertise-peer-urls', peer]);
    assert.equal(r.code, 0, `etcdctl snapshot restore failed: ${r.stdout}${r.stderr}`);

    // The restored db is our file after a bbolt write transaction (restore deletes the members
    // and stores consistent_index = number of members): real bbolt's output, with freed pages.
    const restored = BboltReader.open(join(dataDir, 'member', 'snap', 'db'));
    try {
      assert.equal([...restored.entries('key')].length, keyBucket.length);
      assert.equal(restored.bucket('meta')?.get('consistent_index')?.readBigUInt64BE(0), 1n);
      assert.ok(restored.meta.txid > 2n, 'bbolt committed on top of our metas');
    } finally {
      restored.close();
    }

    server = await startServer({ impl: 'etcd', dataDir });
    const kv = serviceClient('KV', server.endpoint);
    try {
      const foo = await call(kv, 'Range', { key: b('foo') });
      assert.equal(foo.header.revision, '7');
      assert.equal(foo.kvs.length, 1);
      assert.deepEqual(
        { value: String(foo.kvs[0].value), create: foo.kvs[0].create_revision, mod: foo.kvs[0].mod_revision, version: foo.kvs[0].version },
        { value: 'baz', create: '2', mod: '3', version: '2' },
      );
      const old = await call(kv, 'Range', { key: b('foo'), revision: 2 });
      assert.equal(String(old.kvs[0].value), 'bar');
      await assert.rejects(call(kv, 'Range', { key: b('foo'), revision: 1 }), /required revision has been compacted/);
      const leased = await call(kv, 'Range', { key: b('leased') });
      assert.equal(leased.kvs[0].lease, String(LEASE));
      assert.equal((await call(kv, 'Range', { key: b('gone') })).kvs.length, 0);
      const ab = await call(kv, 'Range', { key: b('a'), range_end: b('c') });
      assert.deepEqual(
        ab.kvs.map((k: { key: Buffer; mod_revision: string }) => [String(k.key), k.mod_revision]),
        [
          ['a', '7'],
          ['b', '7'],
        ],
      );
      assert.match(await etcdctlOk(server.endpoint, ['lease', 'list']), /^0*1234$/m);
      const leaseClient = serviceClient('Lease', server.endpoint);
      const ttl = await call(leaseClient, 'LeaseTimeToLive', { ID: LEASE, keys: true });
      leaseClient.close();
      assert.equal(ttl.grantedTTL, '600');
      assert.deepEqual(ttl.keys.map(String), ['leased']);
      const get = await etcdctlOk(server.endpoint, ['get', 'foo', '--print-value-only']);
      assert.equal(get.trim(), 'baz');
    } finally {
      kv.close();
    }
  });
});

describe('real etcd snapshots read by our reader', { skip: needEtcd }, () => {
  let server: ServerProcess | undefined;
  after(async () => server?.cleanup());

  test('buckets, keys, revisions, lease and hash equal to etcdctl snapshot status', async () => {
    server = await startServer({ impl: 'etcd' });
    const kv = serviceClient('KV', server.endpoint);
    const leaseClient = serviceClient('Lease', server.endpoint);
    const N = 3000;
    const big = Buffer.alloc(1 << 20, 0x5a);
    try {
      for (let i = 0; i < N; i += 100) {
        await Promise.all(Array.from({ length: 100 }, (_, j) => call(kv, 'Put', { key: b(`key-${String(i + j).padStart(5, '0')}`), value: Buffer.alloc(100, i + j) })));
      }
      await call(kv, 'Put', { key: b('big'), value: big });
      const grant = await call(leaseClient, 'LeaseGrant', { TTL: 600, ID: 0 });
      await call(kv, 'Put', { key: b('leased'), value: b('x'), lease: grant.ID });
      await call(kv, 'Put', { key: b('key-00000'), value: b('second') });
      const del = await call(kv, 'DeleteRange', { key: b('key-00001') });
      await call(kv, 'Compact', { revision: 10, physical: true });
      const path = join(dir, 'etcd.snap');
      await etcdctlOk(server.endpoint, ['snapshot', 'save', path]);

      const check = verifySnapshotFile(path);
      assert.equal(check.hasTrailer, true);
      assert.deepEqual(statusOf(path), await etcdctlStatus(path));

      const reader = BboltReader.open(path);
      try {
        assert.equal(reader.sizeBytes, check.dbBytes);
        const names = reader.bucketNames().map(String);
        for (const want of ['alarm', 'auth', 'authRoles', 'authUsers', 'cluster', 'key', 'lease', 'members', 'members_removed', 'meta']) assert.ok(names.includes(want), `bucket ${want} in ${names.join(',')}`);
        assert.ok(reader.bucket('alarm')?.inline, 'small buckets are inline in etcd files');
        assert.equal(reader.bucket('key')?.inline, false);

        const latest = new Map<string, { tombstone: boolean; value: Buffer; mod: string; version: string; lease: string }>();
        let lastRev = 0;
        for (const [k, v] of reader.entries('key')) {
          assert.ok(k.length === 17 || (k.length === 18 && k[17] === 0x74), `revision key ${k.toString('hex')}`);
          lastRev = Number(k.readBigUInt64BE(0));
          const decoded = decodeKv(v);
          latest.set(String(decoded.key), { tombstone: k.length === 18, value: decoded.value, mod: decoded.mod_revision, version: decoded.version, lease: decoded.lease });
        }
        assert.equal(String(lastRev), del.header.revision);
        assert.equal(latest.size, N + 2);
        assert.ok(latest.get('big')?.value.equals(big), 'the 1 MiB value (overflow pages) reads back');
        assert.equal(String(latest.get('key-00000')?.value), 'second');
        assert.equal(latest.get('key-00000')?.version, '2');
        assert.equal(latest.get('key-00001')?.tombstone, true);
        assert.ok(latest.get('key-02999')?.value.equals(Buffer.alloc(100, 2999)));
        assert.equal(latest.get('leased')?.lease, String(grant.ID));

        const meta = reader.bucket('meta');
        assert.equal(meta?.get('consistent_index')?.length, 8);
        assert.ok(meta?.get('finishedCompactRev')?.equals(revKey(10, 0)));
        const leases = [...reader.entries('lease')];
        assert.equal(leases.length, 1);
        assert.equal(leases[0][0].readBigUInt64BE(0).toString(), String(grant.ID));
        assert.equal(reader.freePageIds(), undefined, 'etcd runs bbolt without a stored freelist');
      } finally {
        reader.close();
      }
    } finally {
      kv.close();
      leaseClient.close();
    }
  });
});
