// HTTP/1.x connections handed on by the sniffing step. Node's http server parses them; it never
// listens itself, each connection arrives by emit('connection'). Around node's parser sits what
// etcd's stack does before a handler runs, so that what reaches the router is what would reach
// etcd's, and the refusals look the same:
//  - cmux (etcd's port multiplexer) hands a connection to HTTP/1 only when its first line is an
//    HTTP/1.x request line that fits its 4096-byte buffer; anything else it closes unanswered
//    (cmux-match.ts);
//  - Go's server refuses a bad request line, a bad target, a missing or doubled Host, headers past
//    its limit, with its own raw replies (go-reply.ts);
//  - Go reads at most 256 KiB of a body no handler read, then closes instead, and does not answer
//    "Expect: 100-continue" for a handler that reads nothing. A handler that reads its body (the
//    gateway) says so with claimBody() before it returns, and bounds what it reads itself.
// Bounds (every buffer has one): request line + headers (node's parser), the body discarded per
// request, the time to send a request's headers and the whole request, idle keep-alive time.
// Go's server as etcd configures it has no timeouts; ours close slow or idle connections.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { matchHttp1 } from './cmux-match';
import { writeReply } from './go-reply';
import { parseRequestTarget, type RequestTarget } from './go-url';

export interface HttpLimits {
  /** Request line and headers; Go allows 1 MiB, a bound per connection this large is not kept. */
  maxHeaderBytes: number;
  /** Go's maxPostHandlerReadBytes: what is read of an unread body before the connection goes. */
  maxUnreadBodyBytes: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  maxHeaderBytes: 64 * 1024,
  maxUnreadBodyBytes: 256 * 1024,
  headersTimeoutMs: 60_000,
  requestTimeoutMs: 300_000,
  // Longer than the idle timeout of Go's and node's client pools (90 s, 4 s), so that a pooled
  // connection is dropped by its client first, as with etcd, which never drops it.
  keepAliveTimeoutMs: 120_000,
};

export type ServeHttpRequest = (req: IncomingMessage, res: ServerResponse, target: RequestTarget, closeAfter: boolean) => void;

type ClientError = Error & { code?: string };

/** Requests whose body a handler reads (and bounds) itself. */
const claimed = new WeakSet<IncomingMessage>();

/** Called by a handler, synchronously, when it will read the request's body. */
export function claimBody(req: IncomingMessage): void {
  claimed.add(req);
}

export class HttpConnections {
  private readonly server: Server;

  constructor(
    private readonly serveRequest: ServeHttpRequest,
    private readonly log: Logger,
    private readonly limits: HttpLimits = DEFAULT_HTTP_LIMITS,
  ) {
    // Host is checked below, to refuse its absence with Go's text rather than node's.
    this.server = createServer({
      maxHeaderSize: limits.maxHeaderBytes,
      requireHostHeader: false,
      insecureHTTPParser: false,
      // How often node looks for requests past headersTimeout / requestTimeout (default 30 s).
      connectionsCheckingInterval: Math.min(30_000, Math.ceil(limits.headersTimeoutMs / 4)),
    });
    this.server.headersTimeout = limits.headersTimeoutMs;
    this.server.requestTimeout = limits.requestTimeoutMs;
    this.server.keepAliveTimeout = limits.keepAliveTimeoutMs;
    this.server.on('request', (req, res) => this.request(req, res, false));
    // Listening to these stops node answering "100 Continue" / 417 in its own way.
    this.server.on('checkContinue', (req, res) => this.request(req, res, true));
    this.server.on('checkExpectation', (req, res) => writeReply(req, res, { status: 417, header: [['Connection', 'close']], body: '' }, true));
    this.server.on('clientError', (err: ClientError, socket: Duplex) => this.clientError(err, socket));
    // Node starts the timers behind headersTimeout and requestTimeout when a server listens.
    // This one never listens (connections come from the sniffing step), so start them here.
    this.server.emit('listening');
  }

  /** Serves a connection whose first bytes (put back into it) are not HTTP/2. */
  serve(connection: Duplex): void {
    matchHttp1(connection, this.limits.headersTimeoutMs, () => {
      this.server.emit('connection', connection);
      // Node's parser now reads the socket's handle itself; the bytes put back flow in first
      // once the connection resumes.
      connection.resume();
    });
  }

  /**
   * Serves a TLS connection that did not negotiate HTTP/2. etcd serves its TLS port with Go's
   * HTTP server directly (cmux only matched "any" before the handshake): no request-line test.
   */
  serveTls(connection: Duplex): void {
    this.server.emit('connection', connection);
  }

  /** Stops node's timers; the connections belong to the listener, which destroys them. */
  close(): void {
    this.server.close();
  }

  private request(req: IncomingMessage, res: ServerResponse, expectContinue: boolean): void {
    res.on('error', (err) => this.log.debug({ err }, 'http reply failed'));
    const socket = req.socket;
    // cmux matched the first request line only; Go's server refuses any later one not HTTP/1.
    if (req.httpVersionMajor !== 1) return refuse(res, 505, 'HTTP Version Not Supported');
    let hosts = 0;
    for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i].toLowerCase() === 'host') hosts++;
    // Go's text for two Host headers is the plain one (not a badRequestError of its server).
    if (hosts > 1) return refuse(res, 400, 'Bad Request');
    if (req.httpVersionMinor >= 1 && hosts === 0) return refuse(res, 400, 'Bad Request: missing required Host header');
    const target = parseRequestTarget(req.url ?? '');
    if (target === undefined) return refuse(res, 400, 'Bad Request');

    const declared = req.headers['content-length'];
    const length = declared === undefined ? undefined : Number(declared);
    // Go closes after the reply when the client waits for a 100 Continue nobody sent, or
    // offers more body than it would read; below that it reads and discards the body.
    let closeAfter = expectContinue && length !== 0;
    const tooLong = length !== undefined && length > this.limits.maxUnreadBodyBytes;
    if (tooLong) closeAfter = true;
    this.serveRequest(req, res, target, closeAfter);
    if (tooLong || claimed.has(req)) return;
    let seen = 0;
    req.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > this.limits.maxUnreadBodyBytes) socket.destroy();
    });
  }

  private clientError(err: ClientError, socket: Duplex): void {
    // A timeout or a reset: nothing to answer (Go has no timeouts to answer for).
    if (err.code === 'ECONNRESET' || err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || !socket.writable) {
      socket.destroy();
      return;
    }
    this.log.debug({ err }, 'bad http request');
    const text = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${text}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n${text}`);
  }
}

/**
 * Go's server refusing a request before any handler runs: "HTTP/1.1 <status> <reason>", two
 * headers, "<status> <reason>", then close. Written through the response, so that it queues
 * behind the replies to earlier requests of the connection.
 */
function refuse(res: ServerResponse, status: number, reason: string): void {
  res.sendDate = false;
  res.statusMessage = reason;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Connection', 'close');
  // Neither a length nor chunks: Go writes the text and closes.
  res.removeHeader('Content-Length');
  res.removeHeader('Transfer-Encoding');
  res.writeHead(status);
  res.end(`${status} ${reason}`);
}
