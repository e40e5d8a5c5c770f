// HPACK Huffman decoding for the listener's header-block reader: the HTTP/2 server's table-driven
// decoder (h2/huffman.ts) as this reader's API, octets out and HpackError on a decoding error.
import { huffmanDecode as decodeToString } from '../../h2/huffman';

export class HpackError extends Error {}

/**
 * Decodes a Huffman-coded string. Throws HpackError on what RFC 7541 calls a decoding error:
 * EOS inside the string, or padding longer than 7 bits or not made of the EOS prefix (all ones).
 */
export function huffmanDecode(data: Uint8Array): Buffer {
  const s = decodeToString(data, 0, data.length);
  if (s === null) throw new HpackError('invalid Huffman coding (EOS inside, or bad padding)');
  return Buffer.from(s, 'latin1');
}
