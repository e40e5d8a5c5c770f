// A gateway request over HTTP/2 (a TLS client port where the client negotiated h2: curl, Go's
// HTTP client), replied as Go's HTTP/2 server replies for etcd's gateway: the handler's headers
// sorted and lower-cased, without connection headers (grpc-gateway's "Transfer-Encoding: chunked"
// is one), Date last. A streamed reply's headers go out with its first message, as Go's go out at
// the first flush; a stream that ends before any message (an error chunk) is then written whole,
// with its Content-Length, as Go's server does for a handler that returned.
import * as http2 from 'node:http2';
import type { Readable } from 'node:stream';
import type { Reply } from '../listener/go-reply';
import { http2Head, writeHttp2Reply } from '../listener/http2-requests';
import type { GatewayExchange, Header } from './exchange';

/** Go's HTTP/2 handler buffer (handlerChunkWriteSize): a whole reply up to it gets a Content-Length. */
const GO_H2_BUFFER_BYTES = 4096;

export class Http2Exchange implements GatewayExchange {
  private pending: { status: number; header: Header } | undefined;
  /** Whether we ended the reply: node also ends a stream the client reset (writableEnded then lies). */
  private replied = false;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    private readonly headers: http2.IncomingHttpHeaders,
  ) {}

  get method(): string {
    return String(this.headers[':method'] ?? 'GET');
  }

  get body(): Readable {
    return this.stream;
  }

  get headersSent(): boolean {
    return this.pending !== undefined || this.stream.headersSent;
  }

  get destroyed(): boolean {
    return this.stream.destroyed;
  }

  get ended(): boolean {
    return this.replied;
  }

  header(name: string): string | undefined {
    const v = this.headers[name];
    return Array.isArray(v) ? v[0] : v;
  }

  claimBody(): void {
    // Nothing to tell: on HTTP/2 an unread body costs only its stream (flow control bounds it).
  }

  sendContinue(): void {
    if (!this.stream.headersSent && !this.stream.destroyed) this.stream.additionalHeaders({ ':status': 100 });
  }

  reply(r: Reply): void {
    if (this.stream.destroyed || this.stream.headersSent) return;
    this.replied = true;
    writeHttp2Reply(this.stream, this.method, r, GO_H2_BUFFER_BYTES);
    // A body still arriving is read and dropped: left unread, flow control would stall the
    // client's upload and the stream would never close.
    this.stream.resume();
  }

  head(status: number, header: Header): void {
    if (this.headersSent) return;
    this.pending = { status, header };
  }

  write(chunk: string, cb?: () => void): boolean {
    this.flushHead();
    return this.stream.write(chunk, cb === undefined ? undefined : () => cb());
  }

  end(chunk?: string): void {
    if (this.stream.destroyed || this.stream.writableEnded) return;
    this.replied = true;
    const p = this.pending;
    if (p !== undefined && !this.stream.headersSent) {
      this.pending = undefined;
      this.stream.resume();
      writeHttp2Reply(this.stream, this.method, { status: p.status, header: p.header, body: chunk ?? '' }, GO_H2_BUFFER_BYTES);
      return;
    }
    if (chunk === undefined) this.stream.end();
    else this.stream.end(chunk);
  }

  destroy(): void {
    if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  onDrain(fn: () => void): void {
    this.stream.on('drain', fn);
  }

  onClose(fn: () => void): void {
    this.stream.on('close', fn);
  }

  private flushHead(): void {
    const p = this.pending;
    if (p === undefined || this.stream.headersSent || this.stream.destroyed) return;
    this.pending = undefined;
    const out = http2Head(p.status, p.header);
    out.date = new Date().toUTCString();
    this.stream.respond(out);
  }
}
