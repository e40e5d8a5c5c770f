// HPACK encoding for tests: Huffman coding and field representations, to build the header
// blocks a client might send (the server side only ever decodes).
import { HUFFMAN_CODES } from '../../src/listener/hpack/huffman-code';
import { encodeInteger } from '../../src/listener/hpack/integer';
import type { Indexing } from '../../src/listener/hpack/representations';

export function huffmanEncode(octets: Uint8Array): Buffer {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const o of octets) {
    const { code, bits: n } = HUFFMAN_CODES[o];
    for (let i = n - 1; i >= 0; i--) {
      acc = (acc << 1) | (Math.floor(code / 2 ** i) & 1);
      if (++bits === 8) {
        out.push(acc);
        acc = 0;
        bits = 0;
      }
    }
  }
  // Pad with the most significant bits of EOS, all ones.
  if (bits > 0) out.push((acc << (8 - bits)) | ((1 << (8 - bits)) - 1));
  return Buffer.from(out);
}

export function stringLiteral(value: string | Uint8Array, huffman: boolean): Buffer {
  const octets = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  const data = huffman ? huffmanEncode(octets) : Buffer.from(octets);
  return Buffer.concat([encodeInteger(data.length, 7, huffman ? 0x80 : 0), data]);
}

export function indexed(index: number): Buffer {
  return encodeInteger(index, 7, 0x80);
}

const PREFIX: Record<Indexing, { bits: number; flags: number }> = {
  incremental: { bits: 6, flags: 0x40 },
  without: { bits: 4, flags: 0x00 },
  never: { bits: 4, flags: 0x10 },
};

/** A literal field; `name` is a table index or a literal name. */
export function literal(indexing: Indexing, name: number | string, value: string | Uint8Array, huffman = false): Buffer {
  const { bits, flags } = PREFIX[indexing];
  const head = typeof name === 'number' ? encodeInteger(name, bits, flags) : Buffer.concat([Buffer.from([flags]), stringLiteral(name, huffman)]);
  return Buffer.concat([head, stringLiteral(value, huffman)]);
}
