// The MVCC state as a byte stream, for a member that fell too far behind to catch up from the
// Raft log: every table row. Produced in chunks from one LMDB read snapshot (so a large state never
// sits in memory whole) and read back record by record from a file inside one write transaction.
//   record: kind u8 | fields...   (u48 = 6-byte big-endian; bytes = u32 length + bytes)
//   1 history: main u48, sub u48, value bytes
//   2 index:   storage key bytes, main u48, sub u48, tombstone u8
//   3 current: storage key bytes, value bytes
//   0 end:     record count u64 (the last 9 bytes: a stream cut short has no end record)
import { readSync } from 'node:fs';

export const enum RecordKind {
  End = 0,
  History = 1,
  Index = 2,
  Current = 3,
}

/** Collects records; take() hands out what has been collected so far as one chunk. */
export class SnapshotWriter {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private count = 0;

  /** Bytes collected since the last take(). */
  get size(): number {
    return this.bytes;
  }

  history(main: number, sub: number, value: Buffer): void {
    const h = Buffer.allocUnsafe(1 + 6 + 6 + 4);
    h[0] = RecordKind.History;
    h.writeUIntBE(main, 1, 6);
    h.writeUIntBE(sub, 7, 6);
    h.writeUInt32BE(value.length, 13);
    this.push(h, value);
  }

  index(key: Buffer, main: number, sub: number, tombstone: number): void {
    const h = Buffer.allocUnsafe(1 + 4);
    h[0] = RecordKind.Index;
    h.writeUInt32BE(key.length, 1);
    const t = Buffer.allocUnsafe(13);
    t.writeUIntBE(main, 0, 6);
    t.writeUIntBE(sub, 6, 6);
    t[12] = tombstone;
    this.push(h, key, t);
  }

  current(key: Buffer, value: Buffer): void {
    const h = Buffer.allocUnsafe(1 + 4);
    h[0] = RecordKind.Current;
    h.writeUInt32BE(key.length, 1);
    const l = Buffer.allocUnsafe(4);
    l.writeUInt32BE(value.length, 0);
    this.push(h, key, l, value);
  }

  /** The end record; nothing may follow it. */
  end(): void {
    const e = Buffer.allocUnsafe(END_RECORD_BYTES);
    e[0] = RecordKind.End;
    e.writeBigUInt64BE(BigInt(this.count), 1);
    this.chunks.push(e);
    this.bytes += e.length;
  }

  take(): Buffer {
    const out = Buffer.concat(this.chunks, this.bytes);
    this.chunks = [];
    this.bytes = 0;
    return out;
  }

  private push(...parts: Buffer[]): void {
    this.count++;
    // Copies: LMDB's buffers are only valid until the iterator moves on.
    for (const p of parts) {
      this.chunks.push(Buffer.from(p));
      this.bytes += p.length;
    }
  }
}

const END_RECORD_BYTES = 9;

/** Whether a snapshot file of size bytes ends with an end record (cheap check before installing). */
export function hasEndRecord(fd: number, size: number): boolean {
  if (size < END_RECORD_BYTES) return false;
  const tail = Buffer.alloc(END_RECORD_BYTES);
  readSync(fd, tail, 0, END_RECORD_BYTES, size - END_RECORD_BYTES);
  return tail[0] === RecordKind.End;
}

export type SnapshotRecord =
  | { kind: RecordKind.History; main: number; sub: number; value: Buffer }
  | { kind: RecordKind.Index; key: Buffer; main: number; sub: number; tombstone: number }
  | { kind: RecordKind.Current; key: Buffer; value: Buffer };

/** Sequential reads of exactly n bytes from an open file, buffered. */
export class FileBytes {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private eof = false;

  constructor(
    private readonly fd: number,
    private filePos: number,
    private readonly chunkBytes = 1024 * 1024,
  ) {}

  /** The next n bytes; throws when the file ends first (a truncated snapshot). */
  take(n: number): Buffer {
    if (this.buf.length - this.pos < n) this.fill(n);
    if (this.buf.length - this.pos < n) throw new Error('snapshot: truncated');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  atEnd(): boolean {
    if (this.pos < this.buf.length) return false;
    this.fill(1);
    return this.pos >= this.buf.length;
  }

  private fill(n: number): void {
    const rest = this.buf.subarray(this.pos);
    const next = Buffer.allocUnsafe(Math.max(n, this.chunkBytes) + rest.length);
    rest.copy(next, 0);
    let have = rest.length;
    while (have < n && !this.eof) {
      const got = readSync(this.fd, next, have, next.length - have, this.filePos);
      if (got === 0) this.eof = true;
      this.filePos += got;
      have += got;
    }
    this.buf = next.subarray(0, have);
    this.pos = 0;
  }
}

/** The records up to the end record; throws on a stream cut short or with a wrong count. */
export function* readSnapshot(src: FileBytes): Generator<SnapshotRecord> {
  const bytes = (): Buffer => src.take(src.take(4).readUInt32BE(0));
  let count = 0;
  for (;;) {
    const kind = src.take(1)[0];
    if (kind === RecordKind.End) {
      if (Number(src.take(8).readBigUInt64BE(0)) !== count || !src.atEnd()) throw new Error('mvcc snapshot: damaged (record count or trailing bytes)');
      return;
    }
    count++;
    if (kind === RecordKind.History) {
      const h = src.take(12);
      yield { kind, main: h.readUIntBE(0, 6), sub: h.readUIntBE(6, 6), value: bytes() };
    } else if (kind === RecordKind.Index) {
      const key = bytes();
      const t = src.take(13);
      yield { kind, key, main: t.readUIntBE(0, 6), sub: t.readUIntBE(6, 6), tombstone: t[12] };
    } else if (kind === RecordKind.Current) {
      const key = bytes();
      yield { kind, key, value: bytes() };
    } else {
      throw new Error(`mvcc snapshot: unknown record kind ${kind}`);
    }
  }
}
