// The HPACK pieces (src/listener/hpack): integers, Huffman coding, string literals and the
// representation walker, checked against RFC 7541's own examples (Appendix C).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HpackError, huffmanDecode } from '../../src/listener/hpack/huffman';
import { decodeInteger, encodeInteger } from '../../src/listener/hpack/integer';
import { readStringLiteral, stringValue, encodeRawStringLiteral } from '../../src/listener/hpack/string-literal';
import { representations, type Representation } from '../../src/listener/hpack/representations';
import { huffmanEncode } from '../helpers/hpack-encode';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** A representation with its literals decoded, for comparing against the RFC's listings. */
function describeRep(block: Buffer, r: Representation): unknown {
  if (r.kind !== 'literal') return r.kind === 'indexed' ? ['indexed', r.index] : ['size-update', r.size];
  const name = r.name === undefined ? r.nameIndex : stringValue(block, r.name).toString('latin1');
  return [r.indexing, name, stringValue(block, r.value).toString('latin1')];
}

const walk = (block: Buffer): unknown[] => [...representations(block)].map((r) => describeRep(block, r));

describe('HPACK integers (RFC 7541 C.1)', () => {
  test('C.1.1: 10 with a 5-bit prefix', () => {
    assert.deepEqual(encodeInteger(10, 5), hex('0a'));
    assert.deepEqual(decodeInteger(hex('0a'), 0, 5), { value: 10, next: 1 });
  });

  test('C.1.2: 1337 with a 5-bit prefix', () => {
    assert.deepEqual(encodeInteger(1337, 5), hex('1f 9a 0a'));
    assert.deepEqual(decodeInteger(hex('1f 9a 0a'), 0, 5), { value: 1337, next: 3 });
  });

  test('C.1.3: 42 at an octet boundary', () => {
    assert.deepEqual(encodeInteger(42, 8), hex('2a'));
    assert.deepEqual(decodeInteger(hex('2a'), 0, 8), { value: 42, next: 1 });
  });

  test('flag bits above the prefix are ignored when decoding and kept when encoding', () => {
    assert.deepEqual(encodeInteger(1, 6, 0x40), hex('41'));
    assert.deepEqual(decodeInteger(hex('41'), 0, 6), { value: 1, next: 1 });
    assert.deepEqual(encodeInteger(63, 6, 0x40), hex('7f 00'));
    assert.deepEqual(decodeInteger(hex('7f 00'), 0, 6), { value: 63, next: 2 });
  });

  test('round trip across prefixes and magnitudes', () => {
    for (const bits of [4, 5, 6, 7, 8]) {
      for (const v of [0, 1, (1 << bits) - 2, (1 << bits) - 1, 1 << bits, 127, 128, 16383, 16384, 2 ** 21, 2 ** 32 - 1]) {
        const enc = Buffer.concat([hex('ff'), encodeInteger(v, bits), hex('ee')]);
        assert.deepEqual(decodeInteger(enc, 1, bits), { value: v, next: enc.length - 1 }, `${v} in ${bits} bits`);
      }
    }
  });

  test('truncated and oversized integers are errors', () => {
    assert.throws(() => decodeInteger(hex('1f'), 0, 5), HpackError);
    assert.throws(() => decodeInteger(hex('1f 9a'), 0, 5), HpackError);
    assert.throws(() => decodeInteger(hex(''), 0, 5), HpackError);
    assert.throws(() => decodeInteger(hex('1f ff ff ff ff ff 01'), 0, 5), HpackError);
  });
});

// The code table itself is tested with the HTTP/2 server's HPACK (h2-hpack.test.ts), whose
// decoder this one wraps.
describe('HPACK Huffman decoding for the listener (RFC 7541 Appendix B)', () => {
  test('decodes the RFC examples (C.4, C.6)', () => {
    const cases: [string, string][] = [
      ['f1e3 c2e5 f23a 6ba0 ab90 f4ff', 'www.example.com'],
      ['a8eb 1064 9cbf', 'no-cache'],
      ['25a8 49e9 5ba9 7d7f', 'custom-key'],
      ['25a8 49e9 5bb8 e8b4 bf', 'custom-value'],
      ['6402', '302'],
      ['aec3 771a 4b', 'private'],
      ['d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3', 'https://www.example.com'],
      ['640e ff', '307'],
      ['9bd9 ab', 'gzip'],
      ['94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
    ];
    for (const [enc, want] of cases) {
      assert.equal(huffmanDecode(hex(enc)).toString('latin1'), want);
      assert.deepEqual(huffmanEncode(Buffer.from(want, 'latin1')), hex(enc), `encoding ${want}`);
    }
  });

  test('every octet value round-trips', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    assert.deepEqual(huffmanDecode(huffmanEncode(all)), all);
    let seed = 7;
    for (let n = 0; n < 200; n++) {
      const s = Buffer.alloc(n % 40, 0).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
      assert.deepEqual(huffmanDecode(huffmanEncode(s)), s);
    }
    assert.deepEqual(huffmanDecode(Buffer.alloc(0)), Buffer.alloc(0));
  });

  test('bad padding and EOS are errors', () => {
    // '0' is 00000; three padding bits of ones complete the octet.
    assert.deepEqual(huffmanDecode(hex('07')), Buffer.from('0'));
    // padding not all ones
    assert.throws(() => huffmanDecode(hex('06')), HpackError);
    // a whole octet of ones after a complete symbol is padding longer than 7 bits
    assert.throws(() => huffmanDecode(hex('07 ff')), HpackError);
    // EOS itself (30 ones) inside the string
    assert.throws(() => huffmanDecode(hex('ff ff ff ff')), HpackError);
  });
});

describe('HPACK string literals', () => {
  test('raw and Huffman-coded', () => {
    const raw = hex('0f 7777772e6578616d706c652e636f6d');
    const s = readStringLiteral(raw, 0);
    assert.deepEqual(s, { huffman: false, start: 0, dataStart: 1, end: 16 });
    assert.equal(stringValue(raw, s).toString(), 'www.example.com');
    const coded = hex('8c f1e3c2e5f23a6ba0ab90f4ff');
    const h = readStringLiteral(coded, 0);
    assert.deepEqual(h, { huffman: true, start: 0, dataStart: 1, end: 13 });
    assert.equal(stringValue(coded, h).toString(), 'www.example.com');
    assert.deepEqual(encodeRawStringLiteral(Buffer.from('www.example.com')), raw);
  });

  test('a literal running past the block is an error', () => {
    assert.throws(() => readStringLiteral(hex('05 6162'), 0), HpackError);
    assert.throws(() => readStringLiteral(hex(''), 0), HpackError);
  });

  test('a long literal has a multi-byte length', () => {
    const value = Buffer.alloc(300, 0x61);
    const enc = encodeRawStringLiteral(value);
    assert.deepEqual(enc.subarray(0, 3), hex('7f ad 01'));
    assert.deepEqual(stringValue(enc, readStringLiteral(enc, 0)), value);
  });
});

describe('HPACK representations (RFC 7541 C.3, C.4)', () => {
  test('C.3: requests without Huffman coding', () => {
    assert.deepEqual(walk(hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d')), [
      ['indexed', 2], ['indexed', 6], ['indexed', 4], ['incremental', 1, 'www.example.com'],
    ]);
    assert.deepEqual(walk(hex('8286 84be 5808 6e6f 2d63 6163 6865')), [
      ['indexed', 2], ['indexed', 6], ['indexed', 4], ['indexed', 62], ['incremental', 24, 'no-cache'],
    ]);
    assert.deepEqual(walk(hex('8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65')), [
      ['indexed', 2], ['indexed', 7], ['indexed', 5], ['indexed', 63], ['incremental', 'custom-key', 'custom-value'],
    ]);
  });

  test('C.4: requests with Huffman coding', () => {
    assert.deepEqual(walk(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff')), [
      ['indexed', 2], ['indexed', 6], ['indexed', 4], ['incremental', 1, 'www.example.com'],
    ]);
    assert.deepEqual(walk(hex('8286 84be 5886 a8eb 1064 9cbf')), [
      ['indexed', 2], ['indexed', 6], ['indexed', 4], ['indexed', 62], ['incremental', 24, 'no-cache'],
    ]);
    assert.deepEqual(walk(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf')), [
      ['indexed', 2], ['indexed', 7], ['indexed', 5], ['indexed', 63], ['incremental', 'custom-key', 'custom-value'],
    ]);
  });

  test('C.2.2, C.2.3: without indexing and never indexed; a table size update', () => {
    assert.deepEqual(walk(hex('040c 2f73 616d 706c 652f 7061 7468')), [['without', 4, '/sample/path']]);
    assert.deepEqual(walk(hex('1008 7061 7373 776f 7264 0673 6563 7265 74')), [['never', 'password', 'secret']]);
    assert.deepEqual(walk(hex('3fe1 1f 82')), [['size-update', 4096], ['indexed', 2]]);
  });

  test('spans cover the block exactly', () => {
    const block = hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf');
    let at = 0;
    for (const r of representations(block)) {
      assert.equal(r.start, at);
      at = r.end;
    }
    assert.equal(at, block.length);
  });

  test('malformed blocks are errors', () => {
    assert.throws(() => [...representations(hex('80'))], HpackError); // index 0
    assert.throws(() => [...representations(hex('41 8c f1e3'))], HpackError); // value cut short
    assert.throws(() => [...representations(hex('40 0a 6375'))], HpackError); // name cut short
  });
});
