// One gateway request and its reply, whatever carries them: HTTP/1.x here (node's http server,
// replies as Go's net/http writes them: go-reply.ts), HTTP/2 on a TLS client port in
// h2-exchange.ts. The gateway reads the body, answers whole (unary results, errors) or streams
// (NDJSON), and learns when the client goes, through this and nothing else of the transport.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { claimBody } from '../listener/http-connections';
import { writeReply, type Reply } from '../listener/go-reply';

export type Header = ReadonlyArray<readonly [string, string]>;

/** What a streamed reply (NdjsonResponse) writes to. */
export interface ReplyStream {
  /** Whether status and headers were given (by head(), or by a whole reply). */
  readonly headersSent: boolean;
  /** Whether nothing more can be written (the client went, or the reply was dropped). */
  readonly destroyed: boolean;
  /**
   * Status and the handler's headers (Go's w.Header()), completed as Go's server completes
   * them; every write after it goes out at once, as grpc-gateway flushes after each message.
   */
  head(status: number, header: Header): void;
  /** False when the transport's buffer is full: wait for onDrain. */
  write(chunk: string, cb?: () => void): boolean;
  end(chunk?: string): void;
}

export interface GatewayExchange extends ReplyStream {
  readonly method: string;
  /** The request body. */
  readonly body: Readable;
  /** Whether the reply was ended (written whole); false after the client went first. */
  readonly ended: boolean;
  /** A request header by lower-case name (the first value of a repeated one). */
  header(name: string): string | undefined;
  /** The gateway reads the body itself (HTTP/1: the connection layer need not drop it). */
  claimBody(): void;
  /** Answers `Expect: 100-continue`. */
  sendContinue(): void;
  /** A whole reply; `closeAfter`: close an HTTP/1 connection after it (HTTP/2 has no such thing). */
  reply(r: Reply, closeAfter: boolean): void;
  /** Drops the exchange at once: HTTP/1's connection, HTTP/2's stream. */
  destroy(): void;
  onDrain(fn: () => void): void;
  /** The exchange is over: the reply ended, or the client went (`ended` still false then). */
  onClose(fn: () => void): void;
}

/** An HTTP/1.x reply as a stream: headers set the way Go's HTTP/1 server writes them. */
export class Http1ReplyStream implements ReplyStream {
  constructor(protected readonly res: ServerResponse) {}

  get headersSent(): boolean {
    return this.res.headersSent;
  }

  get destroyed(): boolean {
    return this.res.destroyed;
  }

  head(status: number, header: Header): void {
    this.res.sendDate = false;
    for (const [k, v] of [...header].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) this.res.setHeader(k, v);
    this.res.setHeader('Date', new Date().toUTCString());
    // No keep-alive headers of node's own (Go writes none); node still chunks the body.
    this.res.removeHeader('Connection');
    this.res.writeHead(status);
    // Each message goes out at once, as grpc-gateway flushes after each.
    this.res.socket?.setNoDelay(true);
  }

  write(chunk: string, cb?: () => void): boolean {
    return this.res.write(chunk, cb === undefined ? undefined : () => cb());
  }

  end(chunk?: string): void {
    if (chunk === undefined) this.res.end();
    else this.res.end(chunk);
  }
}

export class Http1Exchange extends Http1ReplyStream implements GatewayExchange {
  constructor(
    private readonly req: IncomingMessage,
    res: ServerResponse,
  ) {
    super(res);
  }

  get method(): string {
    return this.req.method ?? 'GET';
  }

  get body(): Readable {
    return this.req;
  }

  get ended(): boolean {
    return this.res.writableEnded;
  }

  header(name: string): string | undefined {
    const v = this.req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  }

  claimBody(): void {
    claimBody(this.req);
  }

  sendContinue(): void {
    this.res.writeContinue();
  }

  reply(r: Reply, closeAfter: boolean): void {
    writeReply(this.req, this.res, r, closeAfter);
  }

  destroy(): void {
    this.res.destroy();
  }

  onDrain(fn: () => void): void {
    this.res.on('drain', fn);
  }

  onClose(fn: () => void): void {
    this.res.on('close', fn);
  }
}
