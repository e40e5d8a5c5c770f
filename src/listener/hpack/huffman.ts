// HPACK Huffman decoding (RFC 7541 section 5.2), bit by bit over a binary trie. It only ever
// decodes short header values (an :authority), so simplicity wins over a table-driven decoder.
import { EOS, HUFFMAN_CODES } from './huffman-code';

export class HpackError extends Error {}

// Node i's children are at TRIE[2i] (bit 0) and TRIE[2i+1] (bit 1): a positive value is another
// node, -1 - symbol a leaf, 0 no child (root is node 0, which no edge points back to).
const TRIE: Int32Array = buildTrie();

function buildTrie(): Int32Array {
  // A complete prefix code over 257 leaves has 256 inner nodes.
  const trie = new Int32Array(2 * 256);
  let nodes = 1;
  HUFFMAN_CODES.forEach(({ code, bits }, symbol) => {
    let node = 0;
    for (let i = bits - 1; i >= 0; i--) {
      const slot = 2 * node + (Math.floor(code / 2 ** i) & 1);
      if (i === 0) {
        trie[slot] = -1 - symbol;
      } else {
        if (trie[slot] === 0) trie[slot] = nodes++;
        node = trie[slot];
      }
    }
  });
  return trie;
}

/**
 * Decodes a Huffman-coded string. Throws HpackError on what RFC 7541 calls a decoding error:
 * EOS inside the string, or padding longer than 7 bits or not made of the EOS prefix (all ones).
 */
export function huffmanDecode(data: Uint8Array): Buffer {
  // Every symbol takes at least 5 bits.
  const out = Buffer.allocUnsafe(Math.ceil((data.length * 8) / 5));
  let n = 0;
  let node = 0;
  // Bits read since the last symbol ended, and whether all of them were ones.
  let pending = 0;
  let allOnes = true;
  for (const byte of data) {
    for (let i = 7; i >= 0; i--) {
      const bit = (byte >> i) & 1;
      const next = TRIE[2 * node + bit];
      pending++;
      allOnes &&= bit === 1;
      if (next < 0) {
        const symbol = -1 - next;
        if (symbol === EOS) throw new HpackError('Huffman-coded string contains EOS');
        out[n++] = symbol;
        node = 0;
        pending = 0;
        allOnes = true;
      } else {
        node = next;
      }
    }
  }
  if (pending > 7 || !allOnes) throw new HpackError('invalid Huffman padding');
  return out.subarray(0, n);
}
