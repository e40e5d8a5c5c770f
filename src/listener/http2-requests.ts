// HTTP/2 requests that are not gRPC, on a TLS client port. etcd serves its TLS port with Go's
// HTTP server, which speaks HTTP/2 to any client that negotiates it (curl, Go's HTTP client, a
// Kubernetes probe) and routes each request by Content-Type: gRPC to grpc-go, the rest to the
// same mux as HTTP/1.x. Connections whose first request is not gRPC (grpc-match.ts) are served
// here by node's HTTP/2 server, through the member's HttpRouter, with the reply as Go's HTTP/2
// server writes it: the handler's headers, a sniffed Content-Type, Content-Length and Date; no
// connection-specific headers, which HTTP/2 forbids. The gateway's subtree (/v3/...) gets the
// stream itself, to read the body and stream its reply (gateway/h2-exchange.ts).
import * as http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { sniffContentType, type Reply } from './go-reply';
import { parseRequestTarget } from './go-url';
import type { HttpRouter } from './http-router';

/** Headers Go's HTTP/2 server drops from a handler's reply. */
const CONNECTION_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

export class Http2Requests {
  private readonly server: http2.Http2Server;

  constructor(
    private readonly router: HttpRouter,
    private readonly log: Logger,
  ) {
    this.server = http2.createServer({ maxSessionMemory: 16 });
    this.server.on('stream', (stream, headers) => this.stream(stream, headers));
    this.server.on('sessionError', (err) => log.debug({ err }, 'http2 session failed'));
  }

  /** Serves a connection (its HTTP/2 preface already sniffed and put back). */
  serve(connection: Duplex): void {
    this.server.emit('connection', connection);
  }

  close(): void {
    this.server.close();
  }

  private stream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', (err) => this.log.debug({ err }, 'http2 reply failed'));
    const method = String(headers[':method'] ?? 'GET');
    const target = parseRequestTarget(String(headers[':path'] ?? ''));
    // A subtree handler (the gateway) reads the body and replies itself.
    if (target !== undefined && this.router.serveHttp2(stream, headers, method, target)) return;
    // No other handler reads a body: what the client sends is read and dropped (flow control bounds it).
    stream.resume();
    if (target === undefined) {
      writeHttp2Reply(stream, method, { status: 400, header: [], body: '' });
      return;
    }
    let reply: Reply | Promise<Reply>;
    try {
      reply = this.router.answer(method, target, false);
    } catch (err) {
      return this.router.failed(err, () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
    }
    if (!(reply instanceof Promise)) return writeHttp2Reply(stream, method, reply);
    reply.then(
      (r) => writeHttp2Reply(stream, method, r),
      (err: unknown) => this.router.failed(err, () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR)),
    );
  }
}

/** ":status" and the handler's headers as Go's HTTP/2 server encodes them: sorted, lower-case, no connection headers. */
export function http2Head(status: number, header: ReadonlyArray<readonly [string, string]>): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = { ':status': status };
  for (const [k, v] of [...header].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const name = k.toLowerCase();
    if (CONNECTION_HEADERS.has(name)) continue;
    const prev = out[name];
    out[name] = prev === undefined ? v : [...(Array.isArray(prev) ? prev : [String(prev)]), v];
  }
  return out;
}

/**
 * Writes a whole reply as Go's HTTP/2 server does: a sniffed Content-Type, then Content-Length
 * when the body fit the handler's buffer (`bufferBytes`: Go's is 4 KiB, past it the length is
 * not known up front; the router's own replies are small and keep it always), then Date.
 */
export function writeHttp2Reply(stream: http2.ServerHttp2Stream, method: string, reply: Reply, bufferBytes = Infinity): void {
  if (stream.destroyed || stream.headersSent) return;
  const out = http2Head(reply.status, reply.header);
  const bodyAllowed = reply.status >= 200 && reply.status !== 204 && reply.status !== 304;
  const bytes = Buffer.byteLength(reply.body);
  if (out['content-type'] === undefined && bodyAllowed && bytes > 0) out['content-type'] = sniffContentType(reply.body);
  if (out['content-length'] === undefined && bodyAllowed && bytes <= bufferBytes) out['content-length'] = String(bytes);
  if (out.date === undefined) out.date = new Date().toUTCString();
  stream.respond(out);
  stream.end(bodyAllowed && method !== 'HEAD' ? reply.body : undefined);
}
