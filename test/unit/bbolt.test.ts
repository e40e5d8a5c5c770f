// The bbolt writer and reader against each other, against hand-built files in bbolt's format, and
// against corrupt bytes. Files written by real etcd/bbolt are read in test/snapshot-file.test.ts.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BboltFormatError, BUCKET_LEAF_FLAG, FREELIST_PAGE_FLAG, LEAF_PAGE_FLAG, encodeMetaPage, readPageHeader, writePageHeader } from '../../src/snapshot/bbolt-format';
import { BboltReader } from '../../src/snapshot/bbolt-reader';
import { bboltChunks, bboltStream, planBbolt, writeBboltFile, type BboltBucketSource } from '../../src/snapshot/bbolt-writer';

type Pair = [Buffer, Buffer];

/** mulberry32: a seeded generator, so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(rand: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

/** Distinct keys in bbolt order, with values from `valueBytes`. */
function sortedPairs(rand: () => number, count: number, keyBytes: () => number, valueBytes: () => number): Pair[] {
  const seen = new Map<string, Buffer>();
  while (seen.size < count) {
    const k = randomBytes(rand, keyBytes());
    seen.set(k.toString('hex'), k);
  }
  return [...seen.values()].sort(Buffer.compare).map((k) => [k, randomBytes(rand, valueBytes())]);
}

function source(name: string | Buffer, pairs: Pair[]): BboltBucketSource {
  return { name: typeof name === 'string' ? Buffer.from(name) : name, entries: () => pairs };
}

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'bbolt-test-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function assertSameBuckets(path: string, buckets: BboltBucketSource[], rand: () => number): void {
  const reader = BboltReader.open(path);
  try {
    const names = buckets.map((b) => b.name).sort(Buffer.compare);
    assert.deepEqual(reader.bucketNames(), names);
    for (const b of buckets) {
      const bucket = reader.bucket(b.name);
      assert.ok(bucket !== undefined, `bucket ${b.name.toString('hex')} is missing`);
      const want = [...b.entries()];
      let i = 0;
      for (const [k, v] of bucket.entries()) {
        assert.ok(i < want.length, 'more entries read than written');
        if (!k.equals(want[i][0]) || !v.equals(want[i][1])) assert.fail(`entry ${i} of ${b.name.toString('hex')} differs`);
        i++;
      }
      assert.equal(i, want.length);
      // Point lookups walk the branch pages by bbolt's descent rule.
      for (let n = 0; n < Math.min(50, want.length); n++) {
        const [k, v] = want[Math.floor(rand() * want.length)];
        assert.ok(bucket.get(k)?.equals(v), `get ${k.toString('hex')}`);
      }
      assert.equal(bucket.get(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), undefined);
    }
  } finally {
    reader.close();
  }
}

describe('bbolt writer -> reader', () => {
  test('round-trips random buckets: 100k keys, empty and 1 MiB values, 32 KiB keys, many buckets', () => {
    const rand = prng(13);
    const buckets: BboltBucketSource[] = [
      source('many', sortedPairs(rand, 100_000, () => 1 + Math.floor(rand() * 40), () => (rand() < 0.1 ? 0 : Math.floor(rand() * 200)))),
      source('huge-values', sortedPairs(rand, 12, () => 8, () => [0, 1, 4000, 4081, 4096, 10_000, 1 << 20][Math.floor(rand() * 7)])),
      source('one-mib', [[Buffer.from('a'), randomBytes(rand, 1 << 20)], [Buffer.from('b'), randomBytes(rand, 1 << 20)], [Buffer.from('c'), Buffer.alloc(0)]]),
      // Keys at bbolt's maximum make multi-page leaves and branches.
      source('long-keys', sortedPairs(rand, 40, () => [1, 2000, 5000, 32768][Math.floor(rand() * 4)], () => Math.floor(rand() * 50))),
      source('empty', []),
      source(Buffer.from([0x00]), [[Buffer.from([0]), Buffer.alloc(0)]]),
    ];
    // Enough buckets that the root bucket itself needs branch pages.
    for (let i = 0; i < 400; i++) buckets.push(source(`bucket-${String(i).padStart(4, '0')}-${'x'.repeat(Math.floor(rand() * 30))}`, sortedPairs(rand, Math.floor(rand() * 5), () => 1 + Math.floor(rand() * 10), () => Math.floor(rand() * 10))));

    const path = join(dir, 'random.db');
    const layout = writeBboltFile(path, buckets);
    assert.equal(statSync(path).size, layout.sizeBytes);
    assert.equal(layout.sizeBytes, layout.pageCount * 4096);
    assertSameBuckets(path, buckets, rand);

    // Pages tile the file with no gap, each header names its own id, and every branch names only
    // pages written before it (what lets the writer stream front to back).
    const bytes = readFileSync(path);
    let id = 3;
    while (id < layout.pageCount) {
      const h = readPageHeader(bytes, id * 4096);
      assert.equal(h.id, id);
      if (h.flags === 0x01) {
        for (let i = 0; i < h.count; i++) {
          const child = Number(bytes.readBigUInt64LE(id * 4096 + 16 + i * 16 + 8));
          assert.ok(child >= 3 && child < id, `branch ${id} names page ${child}`);
        }
      }
      id += 1 + h.overflow;
    }
    assert.equal(id, layout.pageCount);

    const reader = BboltReader.open(path);
    try {
      assert.equal(reader.meta.pgid, layout.pageCount);
      assert.equal(reader.meta.rootPgid, layout.pageCount - 1);
      assert.equal(reader.meta.txid, 2n);
      assert.deepEqual(reader.freePageIds(), []);
      assert.equal(reader.root().inline, false);
    } finally {
      reader.close();
    }
  });

  test('other page sizes round-trip too', () => {
    const rand = prng(7);
    for (const pageSize of [1024, 16384, 65536]) {
      const buckets = [source('k', sortedPairs(rand, 3000, () => 1 + Math.floor(rand() * 20), () => Math.floor(rand() * 3000)))];
      const path = join(dir, `page-${pageSize}.db`);
      const layout = writeBboltFile(path, buckets, { pageSize });
      assert.equal(statSync(path).size, layout.sizeBytes);
      assertSameBuckets(path, buckets, rand);
    }
  });

  test('an empty database (no buckets) is a valid file', () => {
    const path = join(dir, 'empty.db');
    const layout = writeBboltFile(path, []);
    assert.equal(layout.pageCount, 4);
    const reader = BboltReader.open(path);
    assert.deepEqual(reader.bucketNames(), []);
    reader.close();
  });

  test('streams: chunks of the asked size, entries pulled lazily, bytes equal to the file', () => {
    const rand = prng(99);
    const pairs = sortedPairs(rand, 200_000, () => 12, () => 20);
    let pulled = 0;
    const counting: BboltBucketSource = {
      name: Buffer.from('key'),
      *entries() {
        for (const p of pairs) {
          pulled++;
          yield p;
        }
      },
    };
    const { layout, chunks } = bboltStream([counting], { chunkBytes: 16384 });
    assert.equal(pulled, pairs.length, 'the plan reads every pair once');
    pulled = 0;
    const got: Buffer[] = [];
    for (let i = 0; i < 10; i++) {
      const step = chunks.next();
      assert.ok(step.done !== true);
      assert.equal(step.value.length, 16384);
      got.push(step.value);
    }
    // 10 chunks = 40 pages of 85 pairs: the writer has pulled about as many pairs as fill them.
    assert.ok(pulled < 4000, `pulled ${pulled} pairs for 160 KiB of output`);
    for (const c of chunks) got.push(c);
    const streamed = Buffer.concat(got);
    assert.equal(streamed.length, layout.sizeBytes);
    const path = join(dir, 'streamed.db');
    writeBboltFile(path, [source('key', pairs)]);
    assert.ok(readFileSync(path).equals(streamed));
  });

  test('a source that changes between the passes fails the stream before it ends', () => {
    let calls = 0;
    const shifty: BboltBucketSource = {
      name: Buffer.from('key'),
      *entries() {
        calls++;
        const n = calls === 1 ? 100 : 5000;
        for (let i = 0; i < n; i++) yield [Buffer.from(String(i).padStart(6, '0')), Buffer.alloc(100)] as const;
      },
    };
    const layout = planBbolt([shifty]);
    assert.throws(() => {
      for (const chunk of bboltChunks([shifty], layout)) void chunk;
    }, /changed between planning and writing/);
  });

  test('refuses what bbolt refuses: unsorted or duplicate keys, empty keys, duplicate buckets', () => {
    const run = (buckets: BboltBucketSource[]) => planBbolt(buckets);
    assert.throws(() => run([source('a', [[Buffer.from('b'), Buffer.alloc(0)], [Buffer.from('a'), Buffer.alloc(0)]])]), /strictly increasing/);
    assert.throws(() => run([source('a', [[Buffer.from('a'), Buffer.alloc(0)], [Buffer.from('a'), Buffer.alloc(0)]])]), /strictly increasing/);
    assert.throws(() => run([source('a', [[Buffer.alloc(0), Buffer.alloc(0)]])]), /empty key/);
    assert.throws(() => run([source('a', [[Buffer.alloc(32769), Buffer.alloc(0)]])]), /exceeds/);
    assert.throws(() => run([source('a', []), source('a', [])]), /given twice/);
    assert.throws(() => run([source('', [])]), /empty bucket name/);
  });
});

// A leaf node as bbolt lays it out, built here independently of the writer.
function leafNode(id: number, elements: { key: string; value: Buffer; flags?: number }[], size?: number): Buffer {
  const data = elements.reduce((n, e) => n + e.key.length + e.value.length, 0);
  const buf = Buffer.alloc(size ?? 16 + elements.length * 16 + data);
  writePageHeader(buf, { id, flags: LEAF_PAGE_FLAG, count: elements.length, overflow: 0 });
  let at = 16 + elements.length * 16;
  elements.forEach((e, i) => {
    const el = 16 + i * 16;
    buf.writeUInt32LE(e.flags ?? 0, el);
    buf.writeUInt32LE(at - el, el + 4);
    buf.writeUInt32LE(e.key.length, el + 8);
    buf.writeUInt32LE(e.value.length, el + 12);
    at += buf.write(e.key, at);
    at += e.value.copy(buf, at);
  });
  return buf;
}

function bucketValue(root: number, sequence: bigint, inline?: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeBigUInt64LE(BigInt(root), 0);
  h.writeBigUInt64LE(sequence, 8);
  return inline === undefined ? h : Buffer.concat([h, inline]);
}

describe('bbolt reader on hand-built files', () => {
  test('inline and nested buckets, a stored freelist, the meta with the higher txid', () => {
    const P = 4096;
    const nested = leafNode(0, [{ key: 'x', value: Buffer.from('y') }]);
    const inline = leafNode(0, [
      { key: 'a', value: Buffer.from('1') },
      { key: 'nested', value: bucketValue(0, 0n, nested), flags: BUCKET_LEAF_FLAG },
    ]);
    const root = leafNode(
      3,
      [
        { key: 'inl', value: bucketValue(0, 7n, inline), flags: BUCKET_LEAF_FLAG },
        { key: 'paged', value: bucketValue(4, 0n), flags: BUCKET_LEAF_FLAG },
      ],
      P,
    );
    const paged = leafNode(4, [{ key: 'p', value: Buffer.from('q') }, { key: 'r', value: Buffer.alloc(0) }], P);
    const freelist = Buffer.alloc(P);
    writePageHeader(freelist, { id: 2, flags: FREELIST_PAGE_FLAG, count: 2, overflow: 0 });
    freelist.writeBigUInt64LE(6n, 16);
    freelist.writeBigUInt64LE(5n, 24);
    const meta = { pageSize: P, rootPgid: 3, rootSequence: 0n, freelistPgid: 2, pgid: 7 };
    // meta 0 is older (txid 4) and points at an empty root; meta 1 (txid 5) is the current one.
    const oldMeta = encodeMetaPage(P, 0, { ...meta, rootPgid: 5, txid: 4n });
    const oldRoot = leafNode(5, [], P);
    const file = Buffer.concat([oldMeta, encodeMetaPage(P, 1, { ...meta, txid: 5n }), freelist, root, paged, oldRoot, Buffer.alloc(P)]);
    const path = join(dir, 'handmade.db');
    writeFileSync(path, file);

    const reader = BboltReader.open(path);
    assert.equal(reader.meta.txid, 5n);
    assert.deepEqual(reader.bucketNames().map(String), ['inl', 'paged']);
    const inl = reader.bucket('inl');
    assert.ok(inl !== undefined);
    assert.equal(inl.inline, true);
    assert.equal(inl.sequence, 7n);
    assert.deepEqual([...inl.entries()].map(([k, v]) => [String(k), String(v)]), [['a', '1']]);
    assert.deepEqual(inl.bucketNames().map(String), ['nested']);
    assert.equal(inl.get('nested'), undefined);
    assert.equal(String(inl.get('a')), '1');
    assert.deepEqual([...(inl.bucket('nested')?.entries() ?? [])].map(([k, v]) => [String(k), String(v)]), [['x', 'y']]);
    assert.deepEqual([...reader.entries('paged')].map(([k, v]) => [String(k), String(v)]), [['p', 'q'], ['r', '']]);
    assert.deepEqual(reader.freePageIds(), [6, 5]);
    reader.close();

    // The newer meta with a bad checksum: bbolt falls back to the older one.
    const corrupt = Buffer.from(file);
    corrupt[P + 16 + 56] ^= 0xff;
    writeFileSync(path, corrupt);
    const fallback = BboltReader.open(path);
    assert.equal(fallback.meta.txid, 4n);
    assert.deepEqual(fallback.bucketNames(), []);
    fallback.close();
  });
});

describe('bbolt reader on corrupt files', () => {
  let good: Buffer;
  let path = '';
  before(() => {
    const rand = prng(5);
    path = join(dir, 'corrupt.db');
    const buckets = [
      source('key', sortedPairs(rand, 3000, () => 17, () => Math.floor(rand() * 300))),
      source('big', [[Buffer.from('v'), randomBytes(rand, 20_000)]]),
      source('meta', [[Buffer.from('consistent_index'), Buffer.alloc(8)]]),
    ];
    writeBboltFile(path, buckets);
    good = readFileSync(path);
  });

  function readAll(bytes: Buffer): void {
    writeFileSync(path, bytes);
    const reader = BboltReader.open(path);
    try {
      for (const name of reader.bucketNames()) {
        const b = reader.bucket(name);
        if (b === undefined) throw new Error('listed bucket is missing');
        for (const e of b.elements()) void e;
        b.get(Buffer.from('000000000000000000'));
      }
    } finally {
      reader.close();
    }
  }

  const formatError = (e: unknown): boolean => e instanceof BboltFormatError;

  test('truncated files and non-bbolt files', () => {
    assert.throws(() => readAll(good.subarray(0, good.length / 2)), /truncated/);
    assert.throws(() => readAll(good.subarray(0, 100)), /too small/);
    assert.throws(() => readAll(Buffer.alloc(16384, 7)), /no valid meta page/);
    const bothBad = Buffer.from(good);
    bothBad[16 + 56] ^= 1;
    bothBad[4096 + 16 + 56] ^= 1;
    assert.throws(() => readAll(bothBad), /checksum mismatch/);
  });

  /** The first branch page of the file (the 'key' bucket has several leaves). */
  function firstBranch(bytes: Buffer): number {
    for (let id = 3; id * 4096 < bytes.length; ) {
      const h = readPageHeader(bytes, id * 4096);
      if (h.flags === 0x01) return id;
      id += 1 + h.overflow;
    }
    throw new Error('no branch page');
  }

  test('a branch that points at itself is a cycle, not a hang', () => {
    const bytes = Buffer.from(good);
    const id = firstBranch(bytes);
    bytes.writeBigUInt64LE(BigInt(id), id * 4096 + 16 + 8);
    assert.throws(() => readAll(bytes), formatError);
  });

  test('page ids past the end, and headers naming another page', () => {
    const far = Buffer.from(good);
    const id = firstBranch(far);
    far.writeBigUInt64LE(1_000_000n, id * 4096 + 16 + 8);
    assert.throws(() => readAll(far), /outside 2\.\./);
    const moved = Buffer.from(good);
    moved.writeBigUInt64LE(BigInt(id + 1), id * 4096);
    assert.throws(() => readAll(moved), /has the header of page/);
  });

  test('random byte flips in data pages give BboltFormatError or a clean read, never a crash', () => {
    const rand = prng(2024);
    let failures = 0;
    for (let round = 0; round < 400; round++) {
      const bytes = Buffer.from(good);
      const flips = 1 + Math.floor(rand() * 8);
      for (let i = 0; i < flips; i++) {
        // Aim at headers and element tables (the first 256 bytes of a page) half the time.
        const page = 2 + Math.floor(rand() * (bytes.length / 4096 - 2));
        const off = rand() < 0.5 ? Math.floor(rand() * 256) : Math.floor(rand() * 4096);
        bytes[page * 4096 + off] ^= 1 << Math.floor(rand() * 8);
      }
      try {
        readAll(bytes);
      } catch (e) {
        if (!(e instanceof BboltFormatError)) throw new Error(`round ${round}: ${String(e)}`);
        failures++;
      }
    }
    assert.ok(failures > 50, `only ${failures} of 400 corruptions were noticed`);
  });
});
