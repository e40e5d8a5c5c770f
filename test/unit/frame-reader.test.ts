// The peer streams' frame splitter: frames cut at every byte boundary come out whole and in
// order, an oversized length is refused, a snapshot's bytes after its header frame are left
// unread, and a multi-megabyte frame in 16 KiB chunks is copied once, not once per chunk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameReader, FrameTooLargeError } from '../../src/peer/frame-reader';

const frame = (body: Buffer): Buffer => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
};

test('frames split at every boundary come out whole and in order', () => {
  const bodies = [Buffer.from('a'), Buffer.alloc(0), Buffer.from('hello world'), Buffer.alloc(300, 7)];
  const wire = Buffer.concat(bodies.map(frame));
  for (let cut = 1; cut <= 9; cut++) {
    const r = new FrameReader(1000);
    const out: Buffer[] = [];
    for (let i = 0; i < wire.length; i += cut) out.push(...r.push(wire.subarray(i, i + cut)));
    assert.deepEqual(out.map((b) => b.toString('hex')), bodies.map((b) => b.toString('hex')), `chunks of ${cut}`);
    assert.equal(r.pendingBytes, 0);
  }
});

test('a length past the limit is refused', () => {
  const r = new FrameReader(10);
  assert.throws(() => r.push(frame(Buffer.alloc(11))), FrameTooLargeError);
});

test('pushOne leaves what follows the first frame unread', () => {
  const r = new FrameReader(100);
  const header = Buffer.from('header');
  const data = Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]); // not a frame: would be refused
  const wire = Buffer.concat([frame(header), data]);
  assert.equal(r.pushOne(wire.subarray(0, 5)), undefined);
  assert.deepEqual(r.pushOne(wire.subarray(5)), header);
  assert.deepEqual(r.rest(), data);
});

test('a 64 MiB frame in 16 KiB chunks is joined once', () => {
  const size = 64 * 1024 * 1024;
  const r = new FrameReader(size);
  const wire = frame(Buffer.alloc(size, 3));
  // Count the bytes copied by joins: joining per chunk would copy ~128 TiB here.
  const concat = Buffer.concat;
  let copied = 0;
  Buffer.concat = ((list: readonly Uint8Array[], total?: number) => {
    copied += list.reduce((n, b) => n + b.length, 0);
    return concat(list, total);
  }) as typeof Buffer.concat;
  let out: Buffer[] = [];
  try {
    for (let i = 0; i < wire.length; i += 16384) out = out.concat(r.push(wire.subarray(i, i + 16384)));
  } finally {
    Buffer.concat = concat;
  }
  assert.equal(out.length, 1);
  assert.equal(out[0].length, size);
  assert.ok(copied <= wire.length, `copied ${copied} bytes`);
});
