// Walks the field representations of an HPACK header block (RFC 7541 section 6) without
// decoding it: where each one starts and ends, its kind, its name reference and value literal.
// No dynamic table is kept; callers that only look at static-table names and literal names do
// not need one.
import { HpackError } from './huffman';
import { decodeInteger } from './integer';
import { readStringLiteral, type StringLiteral } from './string-literal';

export type Indexing = 'incremental' | 'without' | 'never';

export type Representation =
  | { kind: 'indexed'; start: number; end: number; index: number }
  | {
      kind: 'literal';
      indexing: Indexing;
      start: number;
      end: number;
      /** Index of the name in the static or dynamic table; 0 when the name is a literal. */
      nameIndex: number;
      name: StringLiteral | undefined;
      value: StringLiteral;
    }
  | { kind: 'size-update'; start: number; end: number; size: number };

export function* representations(block: Uint8Array): Generator<Representation> {
  let offset = 0;
  while (offset < block.length) {
    const start = offset;
    const first = block[offset];
    if (first & 0x80) {
      const { value: index, next } = decodeInteger(block, offset, 7);
      if (index === 0) throw new HpackError('indexed field with index 0');
      offset = next;
      yield { kind: 'indexed', start, end: offset, index };
    } else if ((first & 0xe0) === 0x20) {
      const { value: size, next } = decodeInteger(block, offset, 5);
      offset = next;
      yield { kind: 'size-update', start, end: offset, size };
    } else {
      // 01xxxxxx incremental indexing (6-bit index), 0001xxxx never indexed, 0000xxxx without.
      const indexing: Indexing = first & 0x40 ? 'incremental' : first & 0x10 ? 'never' : 'without';
      const { value: nameIndex, next } = decodeInteger(block, offset, indexing === 'incremental' ? 6 : 4);
      offset = next;
      let name: StringLiteral | undefined;
      if (nameIndex === 0) {
        name = readStringLiteral(block, offset);
        offset = name.end;
      }
      const value = readStringLiteral(block, offset);
      offset = value.end;
      yield { kind: 'literal', indexing, start, end: offset, nameIndex, name, value };
    }
  }
}
