// HPACK encoding for tests: Huffman coding and field representations, to build the header
// blocks a client might send (the server side only ever decodes).
import { huffmanEncode as encodeInto, huffmanEncodedLength } from '../../src/h2/huffman';
import { encodeInteger } from '../../src/listener/hpack/integer';
import type { Indexing } from '../../src/listener/hpack/representations';

export function huffmanEncode(octets: Uint8Array): Buffer {
  const out = Buffer.alloc(huffmanEncodedLength(octets));
  encodeInto(octets, out, 0);
  return out;
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
