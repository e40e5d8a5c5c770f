// The :authority values Node's HTTP/2 stack accepts, and the header-block rewrite that makes an
// unacceptable one acceptable. grpc-go sends the dial target's authority verbatim, so a client
// that dials passthrough:///http://host:port (etcdctl's per-endpoint commands do) sends
// ":authority: http://host:port"; nghttp2 resets such a stream, Go's server serves it.
import { representations, type Representation } from './hpack/representations';
import { encodeRawStringLiteral, stringValue } from './hpack/string-literal';

// nghttp2_check_authority's characters: RFC 3986 unreserved, sub-delims, ':', '@', '[', ']', '%'.
const ALLOWED = new Uint8Array(256);
for (const c of "!$%&'()*+,-.0123456789:;=@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]_abcdefghijklmnopqrstuvwxyz~") ALLOWED[c.charCodeAt(0)] = 1;

/** Static table index of the :authority name (RFC 7541 Appendix A). */
const STATIC_AUTHORITY = 1;
const AUTHORITY = Buffer.from(':authority');

type Literal = Extract<Representation, { kind: 'literal' }>;

export function authorityAcceptable(value: Uint8Array): boolean {
  return value.every((b) => ALLOWED[b] === 1);
}

/** Same length, every refused octet replaced by '_'. */
export function sanitizeAuthority(value: Uint8Array): Buffer {
  return Buffer.from(value.map((b) => (ALLOWED[b] === 1 ? b : 0x5f)));
}

/** Each literal :authority of a block (static name index 1 or a literal name), decoded. */
function* authorityLiterals(block: Uint8Array): Generator<{ rep: Literal; value: Buffer }> {
  for (const rep of representations(block)) {
    if (rep.kind !== 'literal') continue;
    if (rep.nameIndex === STATIC_AUTHORITY || (rep.name !== undefined && stringValue(block, rep.name).equals(AUTHORITY))) {
      yield { rep, value: stringValue(block, rep.value) };
    }
  }
}

/** The first :authority of a block that Node would refuse, or undefined. Throws HpackError on a malformed block. */
export function refusedAuthority(block: Uint8Array): Buffer | undefined {
  for (const { value } of authorityLiterals(block)) if (!authorityAcceptable(value)) return value;
  return undefined;
}

/**
 * Returns the header block with every literal :authority that Node would refuse replaced by its
 * sanitized value, or undefined when nothing needs replacing. The replacement keeps the
 * representation (indexing kind and name reference bytes) and the decoded length, so the
 * dynamic-table entry it may add has the same size on both ends and the client's later indexed
 * references to it stay in step. The new value is a raw literal: the length that matters to
 * HPACK is the decoded one. Names referenced through the dynamic table are not followed.
 * Throws HpackError on a malformed block.
 */
export function rewriteAuthority(block: Uint8Array): Buffer | undefined {
  const parts: Uint8Array[] = [];
  let copied = 0;
  for (const { rep, value } of authorityLiterals(block)) {
    if (authorityAcceptable(value)) continue;
    parts.push(block.subarray(copied, rep.value.start), encodeRawStringLiteral(sanitizeAuthority(value)));
    copied = rep.end;
  }
  if (parts.length === 0) return undefined;
  parts.push(block.subarray(copied));
  return Buffer.concat(parts);
}
