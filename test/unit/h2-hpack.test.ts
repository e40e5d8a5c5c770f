// The HTTP/2 server's HPACK codec (src/h2/hpack.ts, src/h2/huffman.ts): RFC 7541 Appendix C's
// examples (decoded lists and dynamic tables), the Huffman code, encoder/decoder round trips,
// the decoding errors that must become COMPRESSION_ERROR, and header blocks captured from a real
// node:http2 client.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { HpackDecoder, HpackEncoder, HpackError, type HeaderField } from '../../src/h2/hpack';
import { EOS, HUFFMAN_BITS, HUFFMAN_CODES, huffmanDecode, huffmanEncode, huffmanEncodedLength } from '../../src/h2/huffman';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Deterministic PRNG (mulberry32), so a failing random case can be replayed. */
function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n);
  };
}

function randomBytes(rand: (n: number) => number, length: number, alphabet?: string): string {
  let s = '';
  for (let i = 0; i < length; i++) s += alphabet === undefined ? String.fromCharCode(rand(256)) : alphabet[rand(alphabet.length)];
  return s;
}

function huffman(s: string): Buffer {
  const out = Buffer.alloc(huffmanEncodedLength(s));
  assert.equal(huffmanEncode(s, out, 0), out.length);
  return out;
}

const decodeError = (d: HpackDecoder, block: string, pattern: RegExp, maxListBytes?: number): void => {
  assert.throws(() => d.decode(hex(block), maxListBytes), (e: unknown) => e instanceof HpackError && pattern.test(e.message));
};

describe('Huffman code (RFC 7541 Appendix B)', () => {
  test('spot codes from the RFC table, and a complete prefix code', () => {
    const code = (s: number): [number, number] => [HUFFMAN_CODES[s], HUFFMAN_BITS[s]];
    assert.deepEqual(code(0), [0x1ff8, 13]);
    assert.deepEqual(code(0x20), [0x14, 6]); // ' '
    assert.deepEqual(code(0x30), [0x0, 5]); // '0'
    assert.deepEqual(code(0x61), [0x3, 5]); // 'a'
    assert.deepEqual(code(0x7f), [0xffffffc, 28]);
    assert.deepEqual(code(0xff), [0x3ffffee, 26]);
    assert.deepEqual(code(EOS), [0x3fffffff, 30]);
    // Kraft sum exactly 1: every bit string is a prefix of some code.
    let kraft = 0;
    for (let s = 0; s <= EOS; s++) kraft += 2 ** (30 - HUFFMAN_BITS[s]);
    assert.equal(kraft, 2 ** 30);
  });

  test('encodes the RFC example strings', () => {
    assert.deepEqual(huffman('www.example.com'), hex('f1e3 c2e5 f23a 6ba0 ab90 f4ff'));
    assert.deepEqual(huffman('no-cache'), hex('a8eb 1064 9cbf'));
    assert.deepEqual(huffman('custom-key'), hex('25a8 49e9 5ba9 7d7f'));
    assert.deepEqual(huffman(''), Buffer.alloc(0));
    // Bytes and latin1 strings code alike.
    assert.equal(huffmanEncodedLength(Buffer.from('custom-value')), huffmanEncodedLength('custom-value'));
    const out = Buffer.alloc(9);
    assert.equal(huffmanEncode(Buffer.from('custom-value'), out, 0), 9);
    assert.deepEqual(out, hex('25a8 49e9 5b b8e8 b4bf'));
  });

  test('round trip of every byte value, alone and together', () => {
    let all = '';
    for (let b = 0; b < 256; b++) {
      const s = String.fromCharCode(b);
      all += s;
      const coded = huffman(s);
      assert.equal(coded.length, Math.ceil(HUFFMAN_BITS[b] / 8));
      assert.equal(huffmanDecode(coded, 0, coded.length), s);
    }
    const coded = huffman(all);
    assert.equal(huffmanDecode(coded, 0, coded.length), all);
    // Decoding a slice in a larger buffer reads only the slice.
    const framed = Buffer.concat([hex('ffff'), coded, hex('0000')]);
    assert.equal(huffmanDecode(framed, 2, 2 + coded.length), all);
  });

  test('round trip of random strings', () => {
    const rand = rng(1);
    for (let i = 0; i < 2000; i++) {
      const s = randomBytes(rand, rand(i < 1000 ? 40 : 600), i % 2 === 0 ? undefined : 'abcdefghijklmnopqrstuvwxyz0123456789-_./:');
      const coded = huffman(s);
      assert.equal(huffmanDecode(coded, 0, coded.length), s);
    }
  });

  test('rejects bad padding and EOS', () => {
    const bad = (h: string): void => assert.equal(huffmanDecode(hex(h), 0, hex(h).length), null);
    assert.equal(huffmanDecode(hex('1f'), 0, 1), 'a'); // 'a' then three 1s of padding
    bad('00'); // '0' then padding 000: not the EOS prefix
    bad('1e'); // 'a' then padding 110
    bad('1fff'); // 'a' then 11 bits of padding
    bad('ff'); // 8 bits of padding, no symbol
    bad('ffffffff'); // EOS (30 ones) inside the string
    bad('fffffffc'); // EOS then '0'-bits
    assert.equal(huffmanDecode(hex('fe'), 0, 1), null); // 7 ones then 0: an unfinished code, not padding
    assert.equal(huffmanDecode(hex(''), 0, 0), '');
  });
});

describe('RFC 7541 Appendix C examples (decoder)', () => {
  const table = (d: HpackDecoder): HeaderField[] => d.tableEntries();

  test('C.2.1 literal with indexing', () => {
    const d = new HpackDecoder();
    assert.deepEqual(d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')), [['custom-key', 'custom-header']]);
    assert.deepEqual(table(d), [['custom-key', 'custom-header']]);
    assert.equal(d.tableSize, 55);
  });

  test('C.2.2 literal without indexing', () => {
    const d = new HpackDecoder();
    assert.deepEqual(d.decode(hex('040c 2f73 616d 706c 652f 7061 7468')), [[':path', '/sample/path']]);
    assert.equal(d.tableSize, 0);
  });

  test('C.2.3 literal never indexed', () => {
    const d = new HpackDecoder();
    assert.deepEqual(d.decode(hex('1008 7061 7373 776f 7264 0673 6563 7265 74')), [['password', 'secret']]);
    assert.equal(d.tableSize, 0);
  });

  test('C.2.4 indexed field', () => {
    const d = new HpackDecoder();
    assert.deepEqual(d.decode(hex('82')), [[':method', 'GET']]);
    assert.equal(d.tableSize, 0);
  });

  const requests: HeaderField[][] = [
    [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']],
    [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']],
    [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']],
  ];
  const requestTables: [HeaderField[], number][] = [
    [[[':authority', 'www.example.com']], 57],
    [[['cache-control', 'no-cache'], [':authority', 'www.example.com']], 110],
    [[['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']], 164],
  ];

  const requestBlocks = (name: string, blocks: string[]): void => {
    test(name, () => {
      const d = new HpackDecoder();
      blocks.forEach((b, i) => {
        assert.deepEqual(d.decode(hex(b)), requests[i], `request ${i + 1}`);
        assert.deepEqual(table(d), requestTables[i][0]);
        assert.equal(d.tableSize, requestTables[i][1]);
      });
    });
  };
  requestBlocks('C.3 requests without Huffman', [
    '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    '8286 84be 5808 6e6f 2d63 6163 6865',
    '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
  ]);
  const C4 = ['8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', '8286 84be 5886 a8eb 1064 9cbf', '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'];
  requestBlocks('C.4 requests with Huffman', C4);

  const date1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
  const date2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
  const cookie = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
  const location = 'https://www.example.com';
  const responses: HeaderField[][] = [
    [[':status', '302'], ['cache-control', 'private'], ['date', date1], ['location', location]],
    [[':status', '307'], ['cache-control', 'private'], ['date', date1], ['location', location]],
    [[':status', '200'], ['cache-control', 'private'], ['date', date2], ['location', location], ['content-encoding', 'gzip'], ['set-cookie', cookie]],
  ];
  const responseTables: [HeaderField[], number][] = [
    [[['location', location], ['date', date1], ['cache-control', 'private'], [':status', '302']], 222],
    [[[':status', '307'], ['location', location], ['date', date1], ['cache-control', 'private']], 222],
    [[['set-cookie', cookie], ['content-encoding', 'gzip'], ['date', date2]], 215],
  ];

  const responseBlocks = (name: string, blocks: string[]): void => {
    test(name, () => {
      const d = new HpackDecoder(256);
      blocks.forEach((b, i) => {
        assert.deepEqual(d.decode(hex(b)), responses[i], `response ${i + 1}`);
        assert.deepEqual(table(d), responseTables[i][0]);
        assert.equal(d.tableSize, responseTables[i][1]);
      });
    });
  };
  responseBlocks('C.5 responses without Huffman, 256-octet table with eviction', [
    `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
     2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`,
    '4803 3330 37c1 c0bf',
    `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
     54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
     5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31`,
  ]);
  responseBlocks('C.6 responses with Huffman, 256-octet table with eviction', [
    `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
     2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
    '4883 640e ffc1 c0bf',
    `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
     77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
     9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
  ]);

  test('C.1 integers, through representations that carry them', () => {
    // C.1.2: 1337 with a 5-bit prefix is 1f 9a 0a; as a size update (5-bit prefix) it sets the table size.
    const d = new HpackDecoder(2000);
    assert.deepEqual(d.decode(hex('3f9a0a')), []);
    decodeError(new HpackDecoder(1336), '3f9a0a', /update to 1337 above 1336/);
    // A value that exactly fills the prefix needs a zero continuation octet: index 127 = ff 00.
    const big = new HpackDecoder();
    for (let i = 0; i < 66; i++) big.decode(Buffer.concat([hex('40'), Buffer.from([`k${i}`.length]), Buffer.from(`k${i}`), hex('00')]));
    assert.equal(big.tableEntries().length, 66);
    assert.deepEqual(big.decode(hex('ff00')), [['k0', '']]); // 127 = 61 + 66: the oldest entry
  });

  test('an entry larger than the table empties it and is not added', () => {
    const d = new HpackDecoder(100);
    d.decode(Buffer.concat([hex('40 09'), Buffer.from('aaaaaaaaa'), hex('09'), Buffer.from('bbbbbbbbb')]));
    assert.equal(d.tableSize, 50);
    const long = 'x'.repeat(40);
    assert.deepEqual(d.decode(Buffer.concat([hex('40 28'), Buffer.from(long), hex('28'), Buffer.from(long)])), [[long, long]]);
    assert.equal(d.tableSize, 0);
    assert.deepEqual(d.tableEntries(), []);
  });

  test('a large table grows past its initial ring and keeps indexes right', () => {
    const d = new HpackDecoder(65536);
    for (let i = 0; i < 500; i++) d.decode(Buffer.concat([hex('40 04'), Buffer.from(`n${String(i).padStart(3, '0')}`), hex('01'), Buffer.from('v')]));
    assert.equal(d.tableSize, 500 * 37);
    assert.deepEqual(d.decode(hex('be')), [['n499', 'v']]);
    // 61 + 500 = 561: 7-bit prefix 127, then 434 = 0xb2 0x03.
    assert.deepEqual(d.decode(hex('ff b203')), [['n000', 'v']]);
    decodeError(d, 'ff b303', /past the table/);
  });

  test('decoded fields are frozen (they are shared with the tables)', () => {
    const d = new HpackDecoder();
    const [f] = d.decode(hex('82'));
    assert.throws(() => {
      f[1] = 'POST';
    }, TypeError);
    assert.deepEqual(d.decode(hex('82')), [[':method', 'GET']]);
  });
});

describe('decoding errors', () => {
  test('truncated integers, strings and blocks', () => {
    decodeError(new HpackDecoder(), 'ff', /truncated/); // indexed, continuation octet missing
    decodeError(new HpackDecoder(), '0f', /truncated/); // name index continuation missing
    decodeError(new HpackDecoder(), 'ff 80', /truncated/); // continuation bit set on the last octet
    decodeError(new HpackDecoder(), '40', /truncated/); // new name, length missing
    decodeError(new HpackDecoder(), '00 05 6162', /truncated/); // name shorter than its length
    decodeError(new HpackDecoder(), '00 01 61', /truncated/); // value missing
    decodeError(new HpackDecoder(), '04 8c f1e3', /truncated/); // Huffman value cut short
  });

  test('integer overflow', () => {
    decodeError(new HpackDecoder(), 'ff ffffffff0f', /too large/); // 2^32 + 126
    decodeError(new HpackDecoder(), 'ff 8080808080 00', /too long/); // six continuation octets
    decodeError(new HpackDecoder(), '3f ffffffff0f', /too large/);
    // The largest accepted value, 2^31 - 1, parses (and is then an index past the table).
    decodeError(new HpackDecoder(), 'ff 80ffffff07', /past the table/);
  });

  test('index 0 and indexes past the table', () => {
    decodeError(new HpackDecoder(), '80', /index 0/);
    decodeError(new HpackDecoder(), 'be', /past the table/);
    decodeError(new HpackDecoder(), '7f 00 00', /past the table/); // literal, indexed name 63
    const d = new HpackDecoder();
    d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'));
    assert.deepEqual(d.decode(hex('be')), [['custom-key', 'custom-header']]);
    decodeError(d, 'bf', /past the table/);
  });

  test('bad Huffman strings', () => {
    decodeError(new HpackDecoder(), '00 81 00 00', /Huffman/); // '0' then zero padding
    decodeError(new HpackDecoder(), '00 82 1fff 00', /Huffman/); // padding longer than 7 bits
    decodeError(new HpackDecoder(), '04 84 ffffffff', /Huffman/); // EOS in the value
  });

  test('dynamic table size updates', () => {
    decodeError(new HpackDecoder(), '3f e21f', /above 4096/); // 4097
    decodeError(new HpackDecoder(256), '3f e201', /above 256/); // 257
    decodeError(new HpackDecoder(), '82 20', /after a header field/);
    decodeError(new HpackDecoder(), '20 82 3fe11f', /after a header field/);
    // Several at the start are fine, and each one evicts as needed.
    const d = new HpackDecoder();
    d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'));
    assert.deepEqual(d.decode(hex('3fe11f 3f18 82')), [[':method', 'GET']]); // 4096, then 55
    assert.equal(d.tableSize, 55);
    assert.deepEqual(d.decode(hex('20 3fe11f')), []); // 0 empties it, 4096 again
    assert.equal(d.tableSize, 0);
    decodeError(d, 'be', /past the table/);
  });

  test('garbage and corrupted blocks fail only with HpackError', () => {
    const rand = rng(9);
    const valid = hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf 4882 6402 5885 aec3 771a');
    let failures = 0;
    for (let i = 0; i < 20000; i++) {
      const block = i % 2 === 0 ? Buffer.from(randomBytes(rand, rand(40)), 'latin1') : Buffer.from(valid);
      if (i % 2 === 1) for (let k = 1 + rand(3); k > 0; k--) block[rand(block.length)] = rand(256);
      try {
        new HpackDecoder(rand(2) === 0 ? 4096 : 0).decode(block, 2000);
      } catch (e) {
        assert.ok(e instanceof HpackError, String(e));
        failures++;
      }
    }
    assert.ok(failures > 5000, `${failures}`);
  });

  test('header list size limit', () => {
    const block = '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d';
    // :method GET 42, :scheme http 43, :path / 38, :authority www.example.com 57.
    assert.equal(new HpackDecoder().decode(hex(block), 180).length, 4);
    decodeError(new HpackDecoder(), block, /larger than 179/, 179);
    decodeError(new HpackDecoder(), '82', /larger than 41/, 41);
  });
});

describe('encoder', () => {
  test('reproduces RFC 7541 C.4 (Huffman, incremental indexing) exactly', () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    const lists: HeaderField[][] = [
      [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']],
      [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']],
      [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']],
    ];
    const blocks = ['8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', '8286 84be 5886 a8eb 1064 9cbf', '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'];
    lists.forEach((list, i) => {
      const block = e.encode(list);
      assert.deepEqual(block, hex(blocks[i]));
      assert.deepEqual(d.decode(block), list);
      assert.equal(e.tableSize, [57, 110, 164][i]);
    });
  });

  test('static matches, Huffman only when shorter, unindexed and never-indexed fields', () => {
    const e = new HpackEncoder();
    assert.deepEqual(e.encode([[':status', '200'], [':method', 'POST'], [':authority', '']]), hex('88 83 81'));
    // Octets with long codes stay raw: 0x00 0x00 Huffman-coded would take 4 octets.
    assert.deepEqual(e.encode([['x', '\x00\x00']]), hex('40 01 78 02 0000'));
    assert.deepEqual(e.encode([['authorization', 'Basic a']]), Buffer.concat([hex('1f08'), Buffer.from([0x80 | huffman('Basic a').length]), huffman('Basic a')]));
    assert.deepEqual(e.encode([['content-length', '123']]), Buffer.concat([hex('0f0d 82'), huffman('123')])); // not worth a table entry
    assert.deepEqual(e.tableEntries(), [['x', '\x00\x00']]);
    // A value over half the table is not indexed.
    const big = 'v'.repeat(3000);
    const block = e.encode([['big', big]]);
    assert.equal(block[0], 0x00);
    assert.equal(e.tableEntries().length, 1);
  });

  test('recurring gRPC response fields shrink to one octet each', () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    const headers: HeaderField[] = [[':status', '200'], ['content-type', 'application/grpc']];
    const trailers: HeaderField[] = [['grpc-status', '0'], ['grpc-message', '']];
    const blocks = [e.encode(headers), e.encode(trailers), e.encode(headers), e.encode(trailers)];
    assert.deepEqual(blocks.map((b) => d.decode(b)), [headers, trailers, headers, trailers]);
    assert.ok(blocks[0].length + blocks[1].length > 20);
    // The table now holds grpc-message '' (62), grpc-status: 0 (63) and content-type (64).
    assert.deepEqual(blocks[2], hex('88 c0'));
    assert.deepEqual(blocks[3], hex('bf be'));
  });

  test('deterministic: the same sequence of lists gives the same bytes', () => {
    const run = (): Buffer[] => {
      const e = new HpackEncoder();
      const rand = rng(7);
      const out: Buffer[] = [];
      for (let i = 0; i < 200; i++) {
        out.push(e.encode([[`n${rand(20)}`, randomBytes(rand, rand(30))], ['content-type', 'application/grpc']]));
        if (i === 100) e.setMaxTableSize(1024);
      }
      return out;
    };
    assert.deepEqual(run(), run());
  });

  test('table size updates follow the peer setting', () => {
    const e = new HpackEncoder();
    e.setMaxTableSize(4096); // unchanged: nothing to signal
    assert.deepEqual(e.encode([[':method', 'GET']]), hex('82'));
    e.setMaxTableSize(2048);
    assert.deepEqual(e.encode([[':method', 'GET']]), hex('3fe10f 82')); // 2048 = 31 + 2017
    assert.deepEqual(e.encode([[':method', 'GET']]), hex('82')); // only once
    e.setMaxTableSize(100);
    e.setMaxTableSize(3000);
    assert.deepEqual(e.encode([]), hex('3f45 3f9917')); // lowest (100) first, then the final 3000
    e.setMaxTableSize(65536);
    assert.deepEqual(e.encode([]), hex('3fe11f')); // raised past our limit: we use 4096
    e.setMaxTableSize(0);
    assert.deepEqual(e.encode([['custom', 'x']]), Buffer.concat([hex('20 00'), Buffer.from([0x80 | huffman('custom').length]), huffman('custom'), hex('01 78')]));
    assert.equal(e.tableSize, 0);
  });

  test('a lowered table evicts what the peer evicts', () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    const list: HeaderField[] = [['a', '1'], ['b', '2'], ['c', '3']];
    d.decode(e.encode(list));
    e.setMaxTableSize(70); // room for two 34-octet entries
    const block = e.encode(list);
    assert.deepEqual(d.decode(block), list);
    assert.deepEqual(e.tableEntries(), d.tableEntries());
    assert.equal(d.tableSize, 68);
  });

  test('random header lists round-trip, and both tables stay identical', () => {
    const rand = rng(42);
    const names = [':path', ':status', 'content-type', 'user-agent', 'grpc-timeout', 'authorization', 'te', 'x-a', 'x-b', 'x-long-custom-name', 'token', 'cookie'];
    for (let conn = 0; conn < 20; conn++) {
      const e = new HpackEncoder();
      const d = new HpackDecoder();
      for (let block = 0; block < 100; block++) {
        if (rand(10) === 0) e.setMaxTableSize([0, 64, 256, 1000, 4096, 8192][rand(6)]);
        const list: HeaderField[] = [];
        for (let i = rand(12); i > 0; i--) {
          const name = rand(4) === 0 ? randomBytes(rand, 1 + rand(20), 'abcdefghijklmnopqrstuvwxyz-') : names[rand(names.length)];
          const size = rand(20) === 0 ? rand(5000) : rand(40);
          const value = rand(3) === 0 ? randomBytes(rand, size) : randomBytes(rand, size, '0123456789abcdef/.');
          list.push([name, value]);
          if (rand(3) === 0) list.push([name, value]); // repeats hit the dynamic table
        }
        assert.deepEqual(d.decode(e.encode(list)), list);
        assert.deepEqual(e.tableEntries(), d.tableEntries());
        assert.equal(e.tableSize, d.tableSize);
      }
    }
  });
});

describe('header blocks from a real node:http2 client', () => {
  interface Capture {
    blocks: Buffer[];
    pending: Buffer[] | undefined; // fragments of a block whose END_HEADERS has not come yet
  }

  /** Splits HTTP/2 frames after the preface, gathering HEADERS + CONTINUATION fragments into blocks. */
  function parseFrames(data: Buffer, capture: Capture, onSettings: () => void): number {
    let pos = 0;
    while (data.length - pos >= 9) {
      const length = data.readUIntBE(pos, 3);
      if (data.length - pos < 9 + length) break;
      const type = data[pos + 3];
      const flags = data[pos + 4];
      let payload = data.subarray(pos + 9, pos + 9 + length);
      pos += 9 + length;
      if (type === 4 && (flags & 0x1) === 0) onSettings();
      if (type !== 1 && type !== 9) continue;
      if (type === 1) {
        let start = 0;
        let end = payload.length;
        if (flags & 0x8) {
          end -= payload[0];
          start = 1;
        }
        if (flags & 0x20) start += 5;
        payload = payload.subarray(start, end);
        capture.pending = [];
      }
      capture.pending?.push(payload);
      if (flags & 0x4) {
        capture.blocks.push(Buffer.concat(capture.pending ?? []));
        capture.pending = undefined;
      }
    }
    return pos;
  }

  test('decodes three requests captured from the wire', { timeout: 20_000 }, async () => {
    const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
    const capture: Capture = { blocks: [], pending: undefined };
    const sockets = new Set<net.Socket>();
    let gotThree: () => void = () => undefined;
    const three = new Promise<void>((resolve) => (gotThree = resolve));
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      let buffered = Buffer.alloc(0);
      let prefaceSeen = false;
      socket.write(hex('000000 04 00 00000000')); // our (empty) SETTINGS
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        if (!prefaceSeen) {
          if (buffered.length < PREFACE.length) return;
          assert.equal(buffered.subarray(0, PREFACE.length).toString('latin1'), PREFACE);
          buffered = buffered.subarray(PREFACE.length);
          prefaceSeen = true;
        }
        const used = parseFrames(buffered, capture, () => socket.write(hex('000000 04 01 00000000')));
        buffered = buffered.subarray(used);
        if (capture.blocks.length >= 3) gotThree();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const client = http2.connect(`http://127.0.0.1:${port}`);
    client.on('error', () => undefined);
    try {
      const headers = {
        ':method': 'POST',
        ':path': '/etcdserverpb.KV/Range',
        'content-type': 'application/grpc',
        te: 'trailers',
        'user-agent': 'x',
        custom: 'v'.repeat(50),
      };
      const other = { ...headers, ':path': '/etcdserverpb.KV/Put', custom: 'w'.repeat(7), extra: 'é' };
      for (const h of [headers, headers, other]) client.request(h, { endStream: false }).on('error', () => undefined);
      await three;

      const d = new HpackDecoder();
      const lists = capture.blocks.map((b) => d.decode(b));
      const expect = (h: Record<string, string>): HeaderField[] =>
        Object.entries({ ':scheme': 'http', ':authority': `127.0.0.1:${port}`, ...h }).sort(([a], [b]) => (a < b ? -1 : 1));
      const sorted = (l: HeaderField[]): HeaderField[] => [...l].sort(([a], [b]) => (a < b ? -1 : 1));
      // Node sends the header value 'é' as its latin1 octet, which decodes back to the same string.
      assert.deepEqual(sorted(lists[0]), expect(headers));
      assert.deepEqual(sorted(lists[1]), expect(headers));
      assert.deepEqual(sorted(lists[2]), expect(other));
      // The repeat leans on the dynamic table the first block filled.
      assert.ok(capture.blocks[1].length < capture.blocks[0].length / 4, `${capture.blocks[1].length} vs ${capture.blocks[0].length}`);
      assert.ok(d.tableSize > 0);
    } finally {
      client.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
