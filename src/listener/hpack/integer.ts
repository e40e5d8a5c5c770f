// HPACK integers (RFC 7541 section 5.1): an N-bit prefix in the first byte, then 7 bits per byte.
import { HpackError } from './huffman';

/** Larger values are refused: no length or index in a header block this server accepts comes near. */
const MAX_INTEGER = 2 ** 32 - 1;

export interface Decoded {
  value: number;
  /** Offset just past the integer. */
  next: number;
}

/** Decodes the integer whose prefix is the low `prefixBits` bits of buf[offset]. */
export function decodeInteger(buf: Uint8Array, offset: number, prefixBits: number): Decoded {
  if (offset >= buf.length) throw new HpackError('header block ends inside an integer');
  const max = (1 << prefixBits) - 1;
  let value = buf[offset] & max;
  let i = offset + 1;
  if (value < max) return { value, next: i };
  let scale = 1;
  for (;;) {
    if (i >= buf.length) throw new HpackError('header block ends inside an integer');
    const b = buf[i++];
    value += (b & 0x7f) * scale;
    if (value > MAX_INTEGER) throw new HpackError('HPACK integer too large');
    if ((b & 0x80) === 0) return { value, next: i };
    scale *= 128;
  }
}

/** Encodes an integer; `flags` are the bits of the first byte above the prefix. */
export function encodeInteger(value: number, prefixBits: number, flags = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([flags | value]);
  const bytes = [flags | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}
