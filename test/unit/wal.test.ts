// The write-ahead log on real files: round trips, segment cuts and release, torn tails, stale
// frames, corruption, group commit and I/O failure.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EntryType, type Entry } from '../../src/raft/types';
import { Wal, WalCorruptError, WalUnusableError, type WalPosition, type WalRecord } from '../../src/wal/wal';
import { HEADER_FRAME_BYTES, frameBytes, parseSegmentFileName } from '../../src/wal/segment-format';
import { scanSegment } from '../../src/wal/segment-scan';
import { readSegmentFile } from '../../src/wal/segment-files';

const root = mkdtempSync(join(tmpdir(), 'wal-test-'));
// A closed WAL may still be finishing a spare file in the background: retry the removal.
after(() => rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 20 }));
let dirs = 0;
const freshDir = (): string => join(root, `wal-${dirs++}`);

const entry = (index: number, term: number, data: Buffer | string = `e${index}`, type = EntryType.Normal): Entry => ({
  index,
  term,
  type,
  data: typeof data === 'string' ? Buffer.from(data) : data,
});
const entries = (...es: Entry[]): WalRecord => ({ kind: 'entries', entries: es });
/** One record per index, data of `bytes` bytes that differ per index. */
const filler = (from: number, count: number, bytes = 100): WalRecord[] =>
  Array.from({ length: count }, (_, i) => entries(entry(from + i, 1, Buffer.alloc(bytes, (from + i) % 251))));

const segmentFiles = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith('.wal')).sort();
const lastSegment = (dir: string): string => {
  const files = segmentFiles(dir);
  return join(dir, files[files.length - 1]);
};

/** Opens, checks, closes: what a restart would read. */
function reopen(dir: string, segmentBytes?: number): { records: WalRecord[]; tornTail: boolean; lastMark: number } {
  const { wal, records, tornTail } = Wal.open(dir, { segmentBytes });
  const lastMark = wal.lastMark();
  wal.close();
  return { records, tornTail, lastMark };
}

/** Start offsets of the record frames in a segment file (after its header), up to the zeros. */
function frameOffsets(file: string): number[] {
  const buf = readFileSync(file);
  const offsets: number[] = [];
  for (let off = HEADER_FRAME_BYTES; off + 8 <= buf.length && buf.readUInt32LE(off) !== 0; off += frameBytes(buf.readUInt32LE(off))) offsets.push(off);
  return offsets;
}

function patch(file: string, offset: number, bytes: Buffer): void {
  const fd = openSync(file, 'r+');
  writeSync(fd, bytes, 0, bytes.length, offset);
  closeSync(fd);
}

/** Writes `records` one syncNow each into a fresh WAL and closes it. */
function writeWal(dir: string, records: WalRecord[], segmentBytes?: number): void {
  const { wal } = Wal.open(dir, { segmentBytes });
  for (const r of records) {
    wal.append([r]);
    wal.syncNow();
  }
  wal.close();
}

describe('wal', () => {
  test('round trip of every record kind; reopen continues the chain', async () => {
    const dir = freshDir();
    const big = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    const first: WalRecord[] = [
      entries(entry(1, 1, ''), entry(2, 1, big), entry(3, 1, 'conf', EntryType.ConfChange)),
      { kind: 'hardstate', hardState: { term: 1, vote: '', commit: 0 } },
      { kind: 'hardstate', hardState: { term: 2, vote: '18446744073709551615', commit: 3 } },
      entries(),
      { kind: 'snapshot', index: 2 ** 53 - 1, term: 2 ** 40 },
      entries(entry(2 ** 53 - 1, 2 ** 32 + 5, 'max')),
    ];
    const opened = Wal.open(dir);
    assert.deepEqual([opened.records, opened.tornTail, opened.wal.lastMark()], [[], false, 0]);
    const wal = opened.wal;
    assert.equal(wal.append(first.slice(0, 2)), 2);
    wal.syncNow();
    assert.equal(wal.append(first.slice(2)), first.length);
    await wal.sync();
    assert.equal(wal.pendingBytes(), 0);
    wal.close();
    assert.throws(() => wal.append(first), WalUnusableError);

    const again = Wal.open(dir);
    assert.deepEqual(again.records, first);
    assert.equal(again.tornTail, false);
    assert.equal(again.wal.lastMark(), first.length, 'marks continue across restarts');
    const more = entries(entry(4, 3, 'after reopen'));
    assert.equal(again.wal.append([more]), first.length + 1);
    await again.wal.sync();
    again.wal.close();
    assert.deepEqual(reopen(dir).records, [...first, more]);
  });

  test('records are validated before anything is queued', () => {
    const { wal } = Wal.open(freshDir());
    assert.throws(() => wal.append([entries(entry(1, 1)), entries(entry(1.5, 1))]), RangeError);
    assert.throws(() => wal.append([{ kind: 'hardstate', hardState: { term: -1, vote: '', commit: 0 } }]), RangeError);
    assert.equal(wal.lastMark(), 0);
    assert.equal(wal.pendingBytes(), 0);
    wal.close();
  });

  test('segments cut at segmentBytes, read back across segments, released', async () => {
    const dir = freshDir();
    const segmentBytes = 4096;
    const { wal } = Wal.open(dir, { segmentBytes });
    const all: WalRecord[] = [];
    for (let i = 0; i < 300; i += 3) {
      const batch = filler(i + 1, 3, 50 + (i % 200));
      all.push(...batch);
      wal.append(batch);
      if (i % 2 === 0) wal.syncNow();
      else await wal.sync();
    }
    // A record larger than a segment gets a segment of its own, sized to fit it.
    const huge = entries(entry(301, 2, Buffer.alloc(10_000, 9)));
    all.push(huge, ...filler(302, 5));
    wal.append(all.slice(300));
    await wal.sync();
    assert.ok(wal.stats().cuts >= 10);

    const files = segmentFiles(dir);
    assert.equal(files.length, wal.stats().cuts + 1);
    const parsed = files.map((f) => parseSegmentFileName(f));
    parsed.forEach((p, i) => assert.equal(p?.seq, i, 'sequence numbers run without gaps'));
    assert.equal(parsed[0]?.firstIndex, 0);
    for (const p of parsed.slice(1)) assert.ok((p?.firstIndex ?? 0) > 0, 'later segments are named by their first index');
    const hugeFile = files.find((f) => statSync(join(dir, f)).size > segmentBytes);
    assert.ok(hugeFile !== undefined && parseSegmentFileName(hugeFile)?.firstIndex === 301);

    wal.close();
    assert.deepEqual(reopen(dir, segmentBytes).records, all);

    // Release everything up to record 200: older segments go, the written one stays.
    const second = Wal.open(dir, { segmentBytes }).wal;
    await second.releaseBefore(200);
    const left = segmentFiles(dir);
    assert.ok(left.length < files.length && left.length >= 2);
    // Releasing past everything keeps the segment being written.
    second.append(filler(400, 1));
    second.syncNow();
    await second.releaseBefore(second.lastMark());
    assert.deepEqual(segmentFiles(dir), [files[files.length - 1]]);
    second.close();

    const only = Wal.open(dir, { segmentBytes });
    const kept = [...all, ...filler(400, 1)];
    assert.ok(only.records.length > 0 && only.records.length < kept.length);
    assert.deepEqual(only.records, kept.slice(kept.length - only.records.length));
    assert.equal(only.wal.lastMark(), kept.length, 'marks survive the release of older segments');
    only.wal.append(filler(401, 20));
    only.wal.syncNow();
    only.wal.close();
    const last = reopen(dir, segmentBytes);
    assert.equal(last.lastMark, kept.length + 20);
    assert.deepEqual(last.records.slice(-20), filler(401, 20));
  });

  test('records up to heldMark are checked but not returned; the log goes on as after a full read', () => {
    const dir = freshDir();
    const segmentBytes = 4096;
    const hs = (commit: number): WalRecord => ({ kind: 'hardstate', hardState: { term: 2, vote: '1', commit } });
    const all: WalRecord[] = [...filler(1, 60, 120), hs(60), { kind: 'snapshot', index: 70, term: 2 }, ...filler(71, 30, 120), hs(100)];
    writeWal(dir, all, segmentBytes);
    assert.ok(segmentFiles(dir).length >= 3);
    for (const held of [0, 1, 59, 61, all.length - 1, all.length, all.length + 10]) {
      const { wal, records } = Wal.open(dir, { segmentBytes, heldMark: held });
      assert.equal(wal.lastMark(), all.length);
      assert.deepEqual(records, all.slice(Math.min(held, all.length)), `heldMark ${held}`);
      wal.close();
    }
    // The last raft index (100) is known from records that were not decoded: the next segment is named after it.
    const { wal } = Wal.open(dir, { segmentBytes, heldMark: all.length });
    const before = segmentFiles(dir).length;
    for (let i = 0; segmentFiles(dir).length === before && i < 1000; i++) {
      wal.append([hs(100 + i)]);
      wal.syncNow();
    }
    const files = segmentFiles(dir);
    assert.equal(parseSegmentFileName(files[files.length - 1])?.firstIndex, 101);
    wal.close();
    // A damaged record is found even where it is not decoded.
    const first = join(dir, files[0]);
    patch(first, frameOffsets(first)[2] + 12, Buffer.from([0xff]));
    assert.throws(() => Wal.open(dir, { segmentBytes, heldMark: all.length }), WalCorruptError);
  });

  test('heldPosition: the segment of the held record is read from that record on, and the log ends as a full read ends it', () => {
    const dir = freshDir();
    const segmentBytes = 4096;
    const hs = (commit: number): WalRecord => ({ kind: 'hardstate', hardState: { term: 2, vote: '1', commit } });
    const all: WalRecord[] = [...filler(1, 40, 120), hs(40), ...filler(41, 25, 120), hs(65)];
    const positions = new Map<number, WalPosition>();
    {
      const { wal } = Wal.open(dir, { segmentBytes });
      for (const r of all) {
        const mark = wal.append([r]);
        wal.syncNow();
        const at = wal.positionOf(mark);
        assert.ok(at !== undefined && at.ordinal === mark);
        positions.set(mark, at);
      }
      wal.close();
    }
    assert.ok(segmentFiles(dir).length >= 3);
    const read = (options: { heldMark: number; heldPosition?: WalPosition }): unknown => {
      const { wal, records, tornTail } = Wal.open(dir, { segmentBytes, ...options });
      const out = { records, tornTail, lastMark: wal.lastMark(), last: wal.positionOf(wal.lastMark()) };
      wal.close();
      return out;
    };
    for (const held of [1, 20, 41, all.length - 1, all.length]) {
      assert.deepEqual(read({ heldMark: held, heldPosition: positions.get(held) }), read({ heldMark: held }), `heldMark ${held}`);
    }
    // A position saved with another mark is not used for this one.
    assert.deepEqual(read({ heldMark: 20, heldPosition: positions.get(21) }), read({ heldMark: 20 }));
    // After a resumed open the chain goes on: a full read sees every record.
    let held: WalPosition | undefined;
    {
      const { wal } = Wal.open(dir, { segmentBytes, heldMark: all.length, heldPosition: positions.get(all.length) });
      for (let i = 1; i <= 5; i++) wal.append([hs(65 + i)]);
      wal.syncNow();
      held = wal.positionOf(wal.lastMark());
      wal.close();
    }
    assert.equal(reopen(dir, segmentBytes).lastMark, all.length + 5);
    assert.ok(held !== undefined);
    // The records before the position are not read at all: damage one, and a full read refuses
    // the log (a later record chains on it) while a resumed one never looks at it.
    const last = lastSegment(dir);
    const offsets = frameOffsets(last);
    assert.ok(offsets.length >= 3 && offsets[offsets.length - 1] === held.offset, `frames ${offsets.join(' ')}, held at ${held.offset}`);
    patch(last, offsets[0] + 12, Buffer.from([0xff]));
    const heldMark = all.length + 5;
    assert.throws(() => Wal.open(dir, { segmentBytes, heldMark }), WalCorruptError);
    assert.equal((read({ heldMark, heldPosition: held }) as { lastMark: number }).lastMark, heldMark);
    // A position that does not verify there is ignored: the segment is read whole (and refused here).
    assert.throws(() => Wal.open(dir, { segmentBytes, heldMark, heldPosition: { ...held, prevCrc: held.prevCrc ^ 1 } }), WalCorruptError);
    assert.throws(() => Wal.open(dir, { segmentBytes, heldMark, heldPosition: { ...held, offset: held.offset - 8 } }), WalCorruptError);
    assert.throws(() => Wal.open(dir, { segmentBytes, heldMark, heldPosition: { ...held, offset: 1 << 30 } }), WalCorruptError);
  });

  test('release keeps every segment that holds a record after the mark', async () => {
    const dir = freshDir();
    const all = filler(1, 100, 120);
    writeWal(dir, all, 4096);
    const { wal } = Wal.open(dir, { segmentBytes: 4096 });
    await wal.releaseBefore(50);
    wal.close();
    const read = reopen(dir, 4096);
    assert.ok(read.records.length >= 50 && read.records.length < 100);
    assert.deepEqual(read.records, all.slice(100 - read.records.length));
  });

  describe('torn tail of the last segment', () => {
    const damages: Array<[string, (file: string, off: number) => void]> = [
      ['truncated mid-record', (file, off) => truncateSync(file, off + 20)],
      ['record bytes overwritten with garbage', (file, off) => patch(file, off + 8, Buffer.from('garbage!garbage!garbage!'))],
      ['crc zeroed', (file, off) => patch(file, off + 4, Buffer.alloc(4))],
      ['length runs past the file', (file, off) => patch(file, off, Buffer.from([0xff, 0xff, 0xff, 0x7f]))],
    ];
    for (const [name, damage] of damages) {
      test(name, () => {
        const dir = freshDir();
        const written = filler(1, 10, 300);
        writeWal(dir, written, 64 * 1024);
        const file = lastSegment(dir);
        const offsets = frameOffsets(file);
        damage(file, offsets[9]);

        const torn = Wal.open(dir, { segmentBytes: 64 * 1024 });
        assert.deepEqual(torn.records, written.slice(0, 9));
        assert.equal(torn.tornTail, true);
        assert.equal(torn.wal.lastMark(), 9);
        // A shorter record where the torn one was: none of the torn bytes may come back.
        const replacement = entries(entry(10, 2, 'short'));
        torn.wal.append([replacement]);
        torn.wal.syncNow();
        torn.wal.close();

        const read = reopen(dir, 64 * 1024);
        assert.deepEqual(read.records, [...written.slice(0, 9), replacement]);
        assert.equal(read.tornTail, false);
        const buf = readFileSync(file);
        const end = offsets[9] + frameBytes(buf.readUInt32LE(offsets[9]));
        assert.ok(buf.subarray(end).every((b) => b === 0), 'everything after the tail is zeros');
      });
    }
  });

  test('a crash at any point of the last segment recovers exactly the records written before it', () => {
    const dir = freshDir();
    const segmentBytes = 16 * 1024;
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const written = Array.from({ length: 120 }, (_, i) => filler(i + 1, 1, random(400))[0]);
    writeWal(dir, written, segmentBytes);
    const file = lastSegment(dir);
    const image = readFileSync(file);
    const offsets = frameOffsets(file);
    const ends = offsets.map((off) => off + 8 + image.readUInt32LE(off));
    const before = written.length - offsets.length;
    const lastEnd = offsets[offsets.length - 1] + frameBytes(image.readUInt32LE(offsets[offsets.length - 1]));
    const points = [...offsets, ...ends, ...Array.from({ length: 60 }, () => HEADER_FRAME_BYTES + random(lastEnd - HEADER_FRAME_BYTES))];
    for (const t of points) {
      for (const crash of ['truncate', 'zero the rest'] as const) {
        const damaged = Buffer.from(image);
        if (crash === 'truncate') {
          patch(file, 0, damaged.subarray(0, t));
          truncateSync(file, t);
        } else {
          damaged.fill(0, t);
          patch(file, 0, damaged);
        }
        // A record survives if the crash left all of its bytes as they were (zeroing bytes that
        // were zeros already, e.g. an empty entry's length, changes nothing).
        const intact = ends.filter((end) => end <= t || (crash === 'zero the rest' && image.subarray(t, end).every((b) => b === 0)));
        const kept = before + intact.length;
        const read = reopen(dir, segmentBytes);
        assert.deepEqual(read.records, written.slice(0, kept), `${crash} at ${t}`);
        patch(file, 0, image);
      }
    }
  });

  test('a torn write that lost a sector mid-batch is a torn tail, not corruption', () => {
    const dir = freshDir();
    const written = [...filler(1, 3, 100), ...filler(4, 1, 3000), ...filler(5, 3, 100)];
    writeWal(dir, written, 64 * 1024);
    const file = lastSegment(dir);
    const off = frameOffsets(file)[3];
    // The large record's second sector never reached the disk; the records after it did.
    const sector = (Math.floor(off / 512) + 2) * 512;
    patch(file, sector, Buffer.alloc(512));
    const torn = reopen(dir, 64 * 1024);
    assert.deepEqual(torn.records, written.slice(0, 3));
    assert.equal(torn.tornTail, true);
  });

  test('stale frames of an older segment past the tail are never returned', () => {
    const dir = freshDir();
    const segmentBytes = 4096;
    const written = filler(1, 60, 120);
    writeWal(dir, written, segmentBytes);
    const files = segmentFiles(dir);
    assert.ok(files.length >= 3);
    // A recycled region: the bytes of an older segment (valid frames of their own chain) lie
    // right after the last record, as they would in a reused file.
    const old = readFileSync(join(dir, files[0]));
    const file = lastSegment(dir);
    const offsets = frameOffsets(file);
    const tail = offsets[offsets.length - 1] + frameBytes(readFileSync(file).readUInt32LE(offsets[offsets.length - 1]));
    patch(file, tail, old.subarray(0, segmentBytes - tail));
    const first = reopen(dir, segmentBytes);
    assert.deepEqual(first.records, written);
    assert.equal(first.tornTail, true, 'the stray bytes were found and zeroed');
    const { wal } = Wal.open(dir, { segmentBytes });
    wal.append(filler(61, 3));
    wal.syncNow();
    wal.close();
    assert.deepEqual(reopen(dir, segmentBytes).records, [...written, ...filler(61, 3)]);
  });

  describe('corruption is reported, never skipped', () => {
    test('a bad record in a segment that is not the last', () => {
      const dir = freshDir();
      writeWal(dir, filler(1, 60, 120), 4096);
      const file = join(dir, segmentFiles(dir)[0]);
      const off = frameOffsets(file)[2];
      patch(file, off + 30, Buffer.from([readFileSync(file)[off + 30] ^ 0x01]));
      assert.throws(() => Wal.open(dir, { segmentBytes: 4096 }), (err: unknown) => err instanceof WalCorruptError && err.file === file && err.offset === off);
    });

    test('a bad record followed by valid records in the last segment', () => {
      const dir = freshDir();
      writeWal(dir, filler(1, 10, 300), 64 * 1024);
      const file = lastSegment(dir);
      const off = frameOffsets(file)[3];
      patch(file, off + 100, Buffer.from([readFileSync(file)[off + 100] ^ 0x80]));
      assert.throws(() => Wal.open(dir, { segmentBytes: 64 * 1024 }), (err: unknown) => err instanceof WalCorruptError && err.offset === off);
    });

    test('a damaged length followed by valid records in the last segment', () => {
      const dir = freshDir();
      writeWal(dir, filler(1, 10, 300), 64 * 1024);
      const file = lastSegment(dir);
      const off = frameOffsets(file)[3];
      patch(file, off, Buffer.from([0x10]));
      assert.throws(() => Wal.open(dir, { segmentBytes: 64 * 1024 }), WalCorruptError);
    });

    test('a missing segment in the sequence', () => {
      const dir = freshDir();
      writeWal(dir, filler(1, 60, 120), 4096);
      unlinkSync(join(dir, segmentFiles(dir)[1]));
      assert.throws(() => Wal.open(dir, { segmentBytes: 4096 }), /segment 1 is missing/);
    });
  });

  test('group commit: concurrent syncs share fdatasyncs; each resolves once its record is written', async () => {
    const dir = freshDir();
    const { wal } = Wal.open(dir, { segmentBytes: 256 * 1024 });
    const file = lastSegment(dir);
    const onDisk = (): number => {
      const { buf, dataEnd } = readSegmentFile(file);
      const name = parseSegmentFileName(segmentFiles(dir)[0]);
      assert.ok(name !== undefined);
      return scanSegment(buf, dataEnd, file, name, undefined, true).records.length;
    };
    const calls = 400;
    const appenders = 50;
    const written: WalRecord[] = [];
    const syncsBefore = wal.stats().syncs;
    let next = 1;
    await Promise.all(
      Array.from({ length: appenders }, async () => {
        while (next <= calls) {
          const record = filler(next++, 1, 300)[0];
          written.push(record);
          const mark = wal.append([record]);
          await wal.sync();
          assert.ok(onDisk() >= mark, `record ${mark} is in the file when its sync resolves`);
        }
      }),
    );
    const syncs = wal.stats().syncs - syncsBefore;
    assert.ok(syncs < calls / 2, `${syncs} fdatasyncs for ${calls} syncs`);
    assert.equal(wal.pendingBytes(), 0);
    assert.equal(wal.busy(), false);
    wal.close();
    assert.deepEqual(reopen(dir).records, written);
  });

  test('syncNow refuses to run beside an asynchronous write', async () => {
    const { wal } = Wal.open(freshDir());
    wal.append(filler(1, 1));
    const pending = wal.sync();
    assert.equal(wal.busy(), true);
    wal.append(filler(2, 1));
    assert.throws(() => wal.syncNow(), /asynchronous write is in flight/);
    await pending;
    wal.syncNow();
    wal.close();
  });

  test('an I/O error rejects the waiters and makes the WAL unusable', async () => {
    const dir = freshDir();
    const { wal } = Wal.open(dir, { segmentBytes: 4096 });
    rmSync(dir, { recursive: true, force: true });
    // The next cut needs a new segment file in the directory that is gone.
    wal.append(filler(1, 40, 200));
    await assert.rejects(wal.sync(), WalUnusableError);
    assert.throws(() => wal.append(filler(41, 1)), WalUnusableError);
    assert.throws(() => wal.syncNow(), WalUnusableError);
    await assert.rejects(wal.sync(), WalUnusableError);
    wal.close();
  });
});
