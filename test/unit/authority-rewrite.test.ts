// The :authority rewrite: which values Node refuses, the header-block rewrite (representation and
// decoded length kept), and the frame-level AuthorityRewriter over a client's byte stream.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { authorityAcceptable, refusedAuthority, rewriteAuthority, sanitizeAuthority } from '../../src/listener/authority';
import { AuthorityRewriter, MAX_HEADER_BLOCK_BYTES } from '../../src/listener/authority-rewriter';
import { HpackError } from '../../src/listener/hpack/huffman';
import { representations } from '../../src/listener/hpack/representations';
import { stringValue } from '../../src/listener/hpack/string-literal';
import { CLIENT_PREFACE, Flag, FrameType, frameHeader, readFrameHeader } from '../../src/listener/http2-frames';
import { indexed, literal, stringLiteral } from '../helpers/hpack-encode';

const BAD = 'http://127.0.0.1:2379';
const FIXED = 'http:__127.0.0.1:2379';

/** A request header block as grpc-go sends it. */
function grpcGoBlock(authority: string): Buffer {
  return Buffer.concat([
    indexed(3), // :method POST
    indexed(6), // :scheme http
    literal('incremental', 5, '/etcdserverpb.Maintenance/Status', true),
    literal('incremental', 1, authority, true),
    literal('incremental', 31, 'application/grpc', true),
    literal('incremental', 'te', 'trailers', true),
  ]);
}

function fields(block: Buffer): [string | number, string][] {
  const out: [string | number, string][] = [];
  for (const r of representations(block)) {
    if (r.kind === 'indexed') out.push([r.index, '']);
    else if (r.kind === 'literal') out.push([r.name ? stringValue(block, r.name).toString('latin1') : r.nameIndex, stringValue(block, r.value).toString('latin1')]);
  }
  return out;
}

function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([frameHeader({ length: payload.length, type, flags, streamId }), payload]);
}

const SETTINGS_ACK = frame(FrameType.SETTINGS, Flag.ACK, 0);

/** Splits a byte stream into frames (after the preface, if it starts with one). */
function frames(bytes: Buffer): { type: number; flags: number; streamId: number; payload: Buffer }[] {
  let at = bytes.subarray(0, CLIENT_PREFACE.length).equals(CLIENT_PREFACE) ? CLIENT_PREFACE.length : 0;
  const out = [];
  while (at < bytes.length) {
    const h = readFrameHeader(bytes, at);
    out.push({ type: h.type, flags: h.flags, streamId: h.streamId, payload: bytes.subarray(at + 9, at + 9 + h.length) });
    at += 9 + h.length;
  }
  return out;
}

function run(input: Buffer, chunkSizes: (i: number) => number): { out: Buffer; r: AuthorityRewriter } {
  const r = new AuthorityRewriter();
  const out: Buffer[] = [];
  let i = 0;
  for (let at = 0; at < input.length; i++) {
    const n = Math.max(1, chunkSizes(i));
    out.push(...r.push(input.subarray(at, at + n)));
    at += n;
  }
  return { out: Buffer.concat(out), r };
}

describe('authority characters', () => {
  test("nghttp2's set", () => {
    for (const ok of ['127.0.0.1:2379', '[::1]:2379', 'etcd-0.etcd.svc', 'user@host:1', '%41', '', "a!$&'()*+,;=~_"]) assert.ok(authorityAcceptable(Buffer.from(ok)), ok);
    for (const bad of [BAD, 'a b', 'a/b', 'a?b', 'a#b', 'a"b', 'a<b', 'a\\b', 'a^b', 'a{b', 'a|b', 'a\x00b', 'a\x7fb']) assert.ok(!authorityAcceptable(Buffer.from(bad, 'latin1')), bad);
    assert.ok(!authorityAcceptable(Buffer.from([0x61, 0xc3, 0xa9])));
  });

  test('sanitizing keeps the length and every allowed octet', () => {
    assert.equal(sanitizeAuthority(Buffer.from(BAD)).toString(), FIXED);
    const octets = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const s = sanitizeAuthority(octets);
    assert.equal(s.length, 256);
    assert.ok(authorityAcceptable(s));
    for (let i = 0; i < 256; i++) assert.equal(s[i], authorityAcceptable(Buffer.from([i])) ? i : 0x5f);
  });
});

describe('header block rewrite', () => {
  test('a block with an acceptable :authority is left alone', () => {
    assert.equal(rewriteAuthority(Buffer.from('828684418cf1e3c2e5f23a6ba0ab90f4ff', 'hex')), undefined); // RFC 7541 C.4.1
    assert.equal(rewriteAuthority(grpcGoBlock('127.0.0.1:2379')), undefined);
    assert.equal(refusedAuthority(grpcGoBlock('127.0.0.1:2379')), undefined);
  });

  test("grpc-go's block: only the :authority literal changes, to a raw literal of the same length", () => {
    const block = grpcGoBlock(BAD);
    assert.equal(refusedAuthority(block)?.toString(), BAD);
    const out = rewriteAuthority(block);
    assert.ok(out);
    const want = Buffer.concat([indexed(3), indexed(6), literal('incremental', 5, '/etcdserverpb.Maintenance/Status', true), literal('incremental', 1, FIXED, false), literal('incremental', 31, 'application/grpc', true), literal('incremental', 'te', 'trailers', true)]);
    assert.deepEqual(out, want);
    assert.deepEqual(fields(out), [[3, ''], [6, ''], [5, '/etcdserverpb.Maintenance/Status'], [1, FIXED], [31, 'application/grpc'], ['te', 'trailers']]);
  });

  test('each representation kind and name form keeps its prefix', () => {
    for (const indexing of ['incremental', 'without', 'never'] as const) {
      for (const huffman of [false, true]) {
        for (const name of [1, ':authority'] as const) {
          const field = literal(indexing, name, BAD, huffman);
          // The representation's bytes up to the value: type, name index or literal name.
          const head = field.subarray(0, field.length - stringLiteral(BAD, huffman).length);
          const out = rewriteAuthority(Buffer.concat([indexed(2), field, indexed(4)]));
          assert.deepEqual(out, Buffer.concat([indexed(2), head, stringLiteral(FIXED, false), indexed(4)]), `${indexing} ${String(name)} huffman=${huffman}`);
        }
      }
    }
  });

  test('every refused :authority of a block is rewritten; others and indexed fields are not', () => {
    const block = Buffer.concat([indexed(1), literal('incremental', 4, '/a/b'), literal('without', 1, 'x/y', true), literal('never', ':authority', 'p q'), literal('without', ':authorities', 'a/b')]);
    const out = rewriteAuthority(block);
    assert.ok(out);
    assert.deepEqual(fields(out), [[1, ''], [4, '/a/b'], [1, 'x_y'], [':authority', 'p_q'], [':authorities', 'a/b']]);
  });

  test('a malformed block is an error', () => {
    assert.throws(() => rewriteAuthority(literal('incremental', 1, BAD).subarray(0, 5)), HpackError);
    assert.throws(() => rewriteAuthority(Buffer.from([0x41, 0x81, 0x00])), HpackError); // EOS padding of 8 zero bits
  });
});

describe('AuthorityRewriter', () => {
  const clientSettings = frame(FrameType.SETTINGS, 0, 0, Buffer.from('000200000000000400400000', 'hex'));
  const windowUpdate = frame(0x8, 0, 0, Buffer.from('00ff0000', 'hex'));
  const first = grpcGoBlock(BAD);
  const priority = Buffer.from('8000000310', 'hex'); // exclusive, depends on 3, weight 17
  // HEADERS with padding and priority, the block split across a CONTINUATION.
  const headers1 = frame(FrameType.HEADERS, Flag.PADDED | Flag.PRIORITY, 1, Buffer.concat([Buffer.from([3]), priority, first.subarray(0, 20), Buffer.alloc(3)]));
  const continuation1 = frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, first.subarray(20));
  const data1 = frame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.from('0000000000', 'hex'));
  // The second request refers to the dynamic table (62 = the newest entry, te: trailers).
  const second = Buffer.concat([indexed(3), indexed(6), indexed(65), indexed(64), indexed(63), indexed(62)]);
  const headers3 = frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 3, second);
  const input = Buffer.concat([CLIENT_PREFACE, clientSettings, windowUpdate, headers1, continuation1, data1, SETTINGS_ACK, headers3, SETTINGS_ACK]);
  const ackAt = CLIENT_PREFACE.length + clientSettings.length + windowUpdate.length + headers1.length + continuation1.length + data1.length;

  const rewrittenHeaders1 = frame(FrameType.HEADERS, Flag.PRIORITY | Flag.END_HEADERS, 1, Buffer.concat([priority, rewriteAuthority(first) as Buffer]));
  const want = Buffer.concat([CLIENT_PREFACE, clientSettings, windowUpdate, rewrittenHeaders1, data1, headers3, SETTINGS_ACK]);

  test('rewrites the first block, drops the first SETTINGS ACK only, and passes the rest byte for byte', () => {
    const { out, r } = run(input, () => input.length);
    assert.deepEqual(out, want);
    assert.equal(r.ackDroppedAt, ackAt);
    assert.equal(r.headerBlocks, 2);
    assert.equal(r.rewrites, 1);
  });

  test('the output does not depend on how the input is chunked', () => {
    assert.deepEqual(run(input, () => 1).out, want);
    let seed = 1;
    for (let round = 0; round < 50; round++) {
      const { out, r } = run(input, () => ((seed = (seed * 48271) % 2147483647) % 23) + 1);
      assert.deepEqual(out, want, `round ${round}`);
      assert.equal(r.ackDroppedAt, ackAt);
    }
  });

  test('DATA is forwarded as it arrives, not held', () => {
    const r = new AuthorityRewriter();
    const payload = Buffer.alloc(10000, 7);
    const data = frame(FrameType.DATA, 0, 1, payload);
    const half = Buffer.concat([CLIENT_PREFACE, data.subarray(0, 5009)]);
    assert.deepEqual(Buffer.concat(r.push(half)), half);
    assert.deepEqual(Buffer.concat(r.push(data.subarray(5009))), data.subarray(5009));
  });

  test('a block larger than the bound passes unexamined', () => {
    const big = Buffer.concat([literal('incremental', 1, BAD), literal('without', 'x-big', Buffer.alloc(MAX_HEADER_BLOCK_BYTES, 0x61))]);
    const stream = Buffer.concat([CLIENT_PREFACE, frame(FrameType.HEADERS, Flag.END_HEADERS, 1, big)]);
    const { out, r } = run(stream, () => 4096);
    assert.deepEqual(out, stream);
    assert.equal(r.rewrites, 0);
  });

  test('a frame inside a block other than its CONTINUATION flushes the block as it came', () => {
    const h = frame(FrameType.HEADERS, 0, 1, first.subarray(0, 30));
    const ping = frame(0x6, 0, 0, Buffer.alloc(8));
    const stream = Buffer.concat([CLIENT_PREFACE, h, ping, frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, first.subarray(30))]);
    assert.deepEqual(run(stream, () => 7).out, stream);
  });

  test('padding longer than the frame and undecodable blocks pass as they came', () => {
    const padded = frame(FrameType.HEADERS, Flag.PADDED | Flag.END_HEADERS, 1, Buffer.from([200, 0x82]));
    const broken = frame(FrameType.HEADERS, Flag.END_HEADERS, 3, Buffer.from([0x41, 0x85, 0x61]));
    const stream = Buffer.concat([CLIENT_PREFACE, padded, broken]);
    assert.deepEqual(run(stream, () => 3).out, stream);
  });

  test('a rewritten block larger than a frame is split into HEADERS and CONTINUATION', () => {
    const block = Buffer.concat([literal('incremental', 1, BAD, true), literal('without', 'x-big', Buffer.alloc(20000, 0x62))]);
    const stream = Buffer.concat([
      CLIENT_PREFACE,
      frame(FrameType.HEADERS, Flag.END_STREAM, 1, block.subarray(0, 16000)),
      frame(FrameType.CONTINUATION, 0, 1, block.subarray(16000, 17000)),
      frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block.subarray(17000)),
    ]);
    const got = frames(run(stream, () => 5000).out);
    assert.deepEqual(got.map((f) => [f.type, f.flags, f.streamId, f.payload.length <= 16384]), [
      [FrameType.HEADERS, Flag.END_STREAM, 1, true],
      [FrameType.CONTINUATION, Flag.END_HEADERS, 1, true],
    ]);
    const rebuilt = Buffer.concat(got.map((f) => f.payload));
    assert.deepEqual(rebuilt, rewriteAuthority(block));
    assert.deepEqual(fields(rebuilt)[0], [1, FIXED]);
  });
});
