// etcd's grpcHandlerFunc (server/embed/serve.go) for the TLS client port: an HTTP/2 request goes
// to gRPC when its Content-Type contains "application/grpc", to the HTTP mux otherwise (a curl
// or a Go HTTP client negotiates HTTP/2 over TLS and asks for /health). Read from a connection's
// first header block, where the HPACK dynamic table is still empty.
import { representations } from './hpack/representations';
import { stringValue } from './hpack/string-literal';

/** Static table index of content-type (RFC 7541 Appendix A); its entry has an empty value. */
const STATIC_CONTENT_TYPE = 31;
const STATIC_TABLE_SIZE = 61;
const CONTENT_TYPE = Buffer.from('content-type');
const GRPC = Buffer.from('application/grpc');

/**
 * Whether a header block asks for gRPC. A block that refers to the dynamic table (it cannot be
 * read without one) counts as gRPC, what every client that does so is. Throws HpackError on a
 * malformed block.
 */
export function requestsGrpc(block: Uint8Array): boolean {
  let contentType: Buffer | undefined;
  for (const rep of representations(block)) {
    if (rep.kind === 'indexed') {
      if (rep.index > STATIC_TABLE_SIZE) return true;
      if (rep.index === STATIC_CONTENT_TYPE) contentType = Buffer.alloc(0);
    } else if (rep.kind === 'literal') {
      if (rep.nameIndex > STATIC_TABLE_SIZE) return true;
      const named = rep.nameIndex === STATIC_CONTENT_TYPE || (rep.name !== undefined && stringValue(block, rep.name).equals(CONTENT_TYPE));
      // Go's Header.Get: the first value.
      if (named && contentType === undefined) contentType = stringValue(block, rep.value);
    }
  }
  return contentType !== undefined && contentType.includes(GRPC);
}
