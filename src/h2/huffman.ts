// The HPACK Huffman code (RFC 7541 section 5.2 and Appendix B): a static prefix code over the 256
// octets plus EOS (symbol 256). The code is canonical (ordered by length, then symbol, each code
// is the previous one plus one, shifted left when the length grows), so the table below only
// needs the code lengths: the codes themselves are derived at load. Strings here are 'latin1'
// JS strings, one char per octet, which is how the HPACK codec carries header names and values.

/** Bit length of the code for each octet 0x00..0xff, then EOS. Transcribed from RFC 7541 Appendix B. */
const LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0x00
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 0x10
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, // 0x20  ' ' .. '/'
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, // 0x30  '0' .. '?'
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, // 0x40  '@' .. 'O'
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, // 0x50  'P' .. '_'
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, // 0x60  '`' .. 'o'
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, // 0x70  'p' .. DEL
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 0x80
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 0x90
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 0xa0
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 0xb0
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 0xc0
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 0xd0
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 0xe0
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 0xf0
  30, // EOS
];

export const EOS = 256;

/** HUFFMAN_BITS[s] is the code length of symbol s; HUFFMAN_CODES[s] its code, right-aligned. Read-only. */
export const HUFFMAN_BITS: Uint8Array = Uint8Array.from(LENGTHS);
export const HUFFMAN_CODES: Uint32Array = canonicalCodes(HUFFMAN_BITS);

function canonicalCodes(bits: Uint8Array): Uint32Array {
  const order = Array.from(bits.keys()).sort((a, b) => bits[a] - bits[b] || a - b);
  const codes = new Uint32Array(bits.length);
  let code = 0;
  for (let i = 1; i < order.length; i++) {
    // Longest code is 30 bits, so the shift stays inside an unsigned 32-bit value.
    code = ((code + 1) << (bits[order[i]] - bits[order[i - 1]])) >>> 0;
    codes[order[i]] = code;
  }
  return codes;
}

// ---- encoding ----

/** Octets the Huffman coding of `s` takes (latin1 string or raw bytes), padding included. */
export function huffmanEncodedLength(s: string | Uint8Array): number {
  let bits = 0;
  if (typeof s === 'string') {
    for (let i = 0; i < s.length; i++) bits += HUFFMAN_BITS[s.charCodeAt(i) & 0xff];
  } else {
    for (let i = 0; i < s.length; i++) bits += HUFFMAN_BITS[s[i]];
  }
  return (bits + 7) >>> 3;
}

/** Writes the Huffman coding of `s` at out[offset..]; returns the offset after it. The caller sizes `out`. */
export function huffmanEncode(s: string | Uint8Array, out: Uint8Array, offset: number): number {
  const str = typeof s === 'string';
  let o = offset;
  // `acc` holds the `pending` (< 8) bits not yet written. Codes of up to 24 bits go in whole
  // (8 + 24 bits fit an int32); longer ones in two steps so no shift ever overflows.
  let acc = 0;
  let pending = 0;
  for (let i = 0; i < s.length; i++) {
    const sym = str ? (s as string).charCodeAt(i) & 0xff : (s as Uint8Array)[i];
    const code = HUFFMAN_CODES[sym];
    const len = HUFFMAN_BITS[sym];
    if (len > 24) {
      acc = (acc << (len - 8)) | (code >>> 8);
      pending += len - 8;
      while (pending >= 8) {
        pending -= 8;
        out[o++] = acc >>> pending;
      }
      acc = (acc << 8) | (code & 0xff);
      pending += 8;
    } else {
      acc = (acc << len) | code;
      pending += len;
    }
    while (pending >= 8) {
      pending -= 8;
      out[o++] = acc >>> pending;
    }
    acc &= (1 << pending) - 1;
  }
  // Pad with the most significant bits of EOS, which are all ones.
  if (pending > 0) out[o++] = (acc << (8 - pending)) | (0xff >>> pending);
  return o;
}

// ---- decoding ----
//
// A 4-bit-at-a-time state machine. The states are the 256 inner nodes of the code tree (0 is the
// root). STEP[state * 16 + nibble] describes feeding 4 bits from that node: the node reached, the
// octet completed on the way if any (at most one, since every code is at least 5 bits), whether
// EOS was completed (an error), and whether the node reached is a legal place for the string to
// end: the root, or a node reached from the root by at most 7 one-bits (RFC 7541 5.2 padding).

const NEXT_MASK = 0xff; // bits 0-7: next state
const SYM_SHIFT = 8; // bits 8-15: emitted octet
const EMITS = 1 << 16;
const FAILS = 1 << 17;
const ACCEPTS = 1 << 18;

const STEP: Uint32Array = buildStepTable();

function buildStepTable(): Uint32Array {
  // Tree: node n's children are child[2n] (bit 0) and child[2n + 1] (bit 1); a value >= 256 is a
  // leaf for symbol value - 256, otherwise another inner node.
  const child = new Int32Array(2 * 256).fill(-1);
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    let node = 0;
    for (let b = HUFFMAN_BITS[sym] - 1; b >= 0; b--) {
      const slot = 2 * node + ((HUFFMAN_CODES[sym] >>> b) & 1);
      if (b === 0) child[slot] = 256 + sym;
      else node = child[slot] >= 0 ? child[slot] : (child[slot] = nodes++);
    }
  }
  // Nodes on the all-ones path within 7 bits of the root are where padding may stop.
  const paddingEnd = new Uint8Array(256);
  paddingEnd[0] = 1;
  for (let node = 0, depth = 1; depth <= 7; depth++) {
    node = child[2 * node + 1];
    paddingEnd[node] = 1;
  }
  const table = new Uint32Array(256 * 16);
  for (let state = 0; state < 256; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let entry = 0;
      for (let b = 3; b >= 0; b--) {
        const next = child[2 * node + ((nibble >>> b) & 1)];
        if (next < 256) {
          node = next;
        } else if (next === 256 + EOS) {
          entry |= FAILS;
          node = 0;
        } else {
          entry |= EMITS | ((next - 256) << SYM_SHIFT);
          node = 0;
        }
      }
      table[state * 16 + nibble] = entry | node | (paddingEnd[node] === 1 ? ACCEPTS : 0);
    }
  }
  return table;
}

// Decoded octets are gathered here, then turned into one string: no allocation per octet.
let scratch = Buffer.allocUnsafe(256);

/**
 * Decodes the Huffman-coded octets src[start..end) into a latin1 string, or returns null when the
 * coding is invalid (EOS inside it, or padding that is longer than 7 bits or not all ones).
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number): string | null {
  // The shortest code is 5 bits, so n octets decode to at most 8n/5 symbols.
  const most = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < most) scratch = Buffer.allocUnsafe(Math.max(most, scratch.length * 2));
  const out = scratch;
  let n = 0;
  let state = 0;
  let entry = ACCEPTS;
  for (let i = start; i < end; i++) {
    const byte = src[i];
    entry = STEP[(state << 4) | (byte >>> 4)];
    if ((entry & (EMITS | FAILS)) !== 0) {
      if ((entry & FAILS) !== 0) return null;
      out[n++] = (entry >>> SYM_SHIFT) & 0xff;
    }
    state = entry & NEXT_MASK;
    entry = STEP[(state << 4) | (byte & 0xf)];
    if ((entry & (EMITS | FAILS)) !== 0) {
      if ((entry & FAILS) !== 0) return null;
      out[n++] = (entry >>> SYM_SHIFT) & 0xff;
    }
    state = entry & NEXT_MASK;
  }
  if ((entry & ACCEPTS) === 0) return null;
  return out.toString('latin1', 0, n);
}
