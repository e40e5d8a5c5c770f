// The HPACK Huffman code (RFC 7541 Appendix B). The code is canonical: sorted by (length,
// symbol), each code is the previous one plus one, shifted left by the growth in length. So the
// bit lengths below fully determine it, and the codes are derived rather than transcribed twice.

/** Code length in bits of each symbol 0..255, then EOS (256). From RFC 7541 Appendix B. */
const CODE_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 00-0f
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 10-1f
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, // 20-2f
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, // 30-3f
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, // 40-4f
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, // 50-5f
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, // 60-6f
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, // 70-7f
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 80-8f
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 90-9f
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // a0-af
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // b0-bf
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // c0-cf
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // d0-df
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // e0-ef
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // f0-ff
  30, // EOS
];

export const EOS = 256;

export interface HuffmanCode {
  /** The code's bits, right-aligned (at most 30, so a plain number holds it). */
  code: number;
  bits: number;
}

function canonicalCodes(lengths: readonly number[]): HuffmanCode[] {
  const symbols = lengths.map((_, s) => s).sort((a, b) => lengths[a] - lengths[b] || a - b);
  const codes: HuffmanCode[] = new Array<HuffmanCode>(lengths.length);
  let code = 0;
  let bits = lengths[symbols[0]];
  symbols.forEach((s, i) => {
    if (i > 0) code = (code + 1) * 2 ** (lengths[s] - bits);
    bits = lengths[s];
    codes[s] = { code, bits };
  });
  return codes;
}

/** HUFFMAN_CODES[symbol] for symbols 0..255 and EOS. */
export const HUFFMAN_CODES: readonly HuffmanCode[] = canonicalCodes(CODE_LENGTHS);
