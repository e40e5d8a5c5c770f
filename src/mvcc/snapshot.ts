// The MVCC state as one byte stream, for a member that fell too far behind to catch up from the
// Raft log: every table row plus the two revision numbers. Written from one LMDB read snapshot,
// read back inside one write transaction.
//   record: kind u8 | fields...   (u48 = 6-byte big-endian; bytes = u32 length + bytes)
//   1 history: main u48, sub u48, value bytes
//   2 index:   storage key bytes, main u48, sub u48, tombstone u8
//   3 current: storage key bytes, value bytes
export const enum RecordKind {
  History = 1,
  Index = 2,
  Current = 3,
}

export class SnapshotWriter {
  private chunks: Buffer[] = [];

  history(main: number, sub: number, value: Buffer): void {
    const h = Buffer.allocUnsafe(1 + 6 + 6 + 4);
    h[0] = RecordKind.History;
    h.writeUIntBE(main, 1, 6);
    h.writeUIntBE(sub, 7, 6);
    h.writeUInt32BE(value.length, 13);
    this.chunks.push(h, Buffer.from(value));
  }

  index(key: Buffer, main: number, sub: number, tombstone: number): void {
    const h = Buffer.allocUnsafe(1 + 4);
    h[0] = RecordKind.Index;
    h.writeUInt32BE(key.length, 1);
    const t = Buffer.allocUnsafe(13);
    t.writeUIntBE(main, 0, 6);
    t.writeUIntBE(sub, 6, 6);
    t[12] = tombstone;
    this.chunks.push(h, Buffer.from(key), t);
  }

  current(key: Buffer, value: Buffer): void {
    const h = Buffer.allocUnsafe(1 + 4);
    h[0] = RecordKind.Current;
    h.writeUInt32BE(key.length, 1);
    const l = Buffer.allocUnsafe(4);
    l.writeUInt32BE(value.length, 0);
    this.chunks.push(h, Buffer.from(key), l, Buffer.from(value));
  }

  finish(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export type SnapshotRecord =
  | { kind: RecordKind.History; main: number; sub: number; value: Buffer }
  | { kind: RecordKind.Index; key: Buffer; main: number; sub: number; tombstone: number }
  | { kind: RecordKind.Current; key: Buffer; value: Buffer };

export function* readSnapshot(data: Buffer): Generator<SnapshotRecord> {
  let p = 0;
  const bytes = (): Buffer => {
    const n = data.readUInt32BE(p);
    const b = data.subarray(p + 4, p + 4 + n);
    p += 4 + n;
    return b;
  };
  while (p < data.length) {
    const kind = data[p++];
    if (kind === RecordKind.History) {
      const main = data.readUIntBE(p, 6);
      const sub = data.readUIntBE(p + 6, 6);
      p += 12;
      yield { kind, main, sub, value: bytes() };
    } else if (kind === RecordKind.Index) {
      const key = bytes();
      const main = data.readUIntBE(p, 6);
      const sub = data.readUIntBE(p + 6, 6);
      const tombstone = data[p + 12];
      p += 13;
      yield { kind, key, main, sub, tombstone };
    } else if (kind === RecordKind.Current) {
      const key = bytes();
      yield { kind, key, value: bytes() };
    } else {
      throw new Error(`mvcc snapshot: unknown record kind ${kind} at ${p - 1}`);
    }
  }
}
