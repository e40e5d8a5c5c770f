// HPACK string literals (RFC 7541 section 5.2): H bit, 7-bit-prefix length, then the octets.
import { HpackError, huffmanDecode } from './huffman';
import { decodeInteger, encodeInteger } from './integer';

export interface StringLiteral {
  huffman: boolean;
  /** Offset of the literal's first byte (the one with the H bit). */
  start: number;
  /** The encoded octets are buf[dataStart, end). */
  dataStart: number;
  end: number;
}

export function readStringLiteral(buf: Uint8Array, offset: number): StringLiteral {
  if (offset >= buf.length) throw new HpackError('header block ends before a string literal');
  const huffman = (buf[offset] & 0x80) !== 0;
  const { value: length, next } = decodeInteger(buf, offset, 7);
  const end = next + length;
  if (end > buf.length) throw new HpackError('string literal runs past the header block');
  return { huffman, start: offset, dataStart: next, end };
}

/** The literal's octets, Huffman-decoded if coded. */
export function stringValue(buf: Uint8Array, s: StringLiteral): Buffer {
  const data = buf.subarray(s.dataStart, s.end);
  return s.huffman ? huffmanDecode(data) : Buffer.from(data);
}

/** A literal without Huffman coding. */
export function encodeRawStringLiteral(octets: Uint8Array): Buffer {
  return Buffer.concat([encodeInteger(octets.length, 7, 0), octets]);
}
