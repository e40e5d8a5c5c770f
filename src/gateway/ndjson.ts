// The two framings of a gateway stream. In: the request body as a sequence of JSON values (Go's
// json.Decoder reads them back to back, whitespace or newlines between), split here without
// parsing, each bounded in size. Out: one `{"result":…}` object per message and a newline, or a
// last `{"error":{…}}` object (grpc-gateway v1.16's ForwardResponseStream and its StreamError).
import { STATUS_CODES, ServerResponse } from 'node:http';
import { goJsonString } from '../listener/go-reply';
import { Http1ReplyStream, type Header, type ReplyStream } from './exchange';
import { httpStatusFromCode } from './routes';

/** Splits a stream of text into top-level JSON objects/arrays. */
export class JsonValueSplitter {
  private buf = '';
  private start = -1;
  private depth = 0;
  private inString = false;
  private escaped = false;

  constructor(private readonly maxValueChars: number) {}

  /**
   * The values completed by `chunk`, and the error met after them, if any: a value that does not
   * start as an object or list (SyntaxError with the text from there), or grows past the bound.
   */
  push(chunk: string): { values: string[]; error?: Error } {
    const out: string[] = [];
    const from = this.buf.length;
    this.buf += chunk;
    for (let i = from; i < this.buf.length; i++) {
      const c = this.buf[i];
      if (this.start < 0) {
        if (c === ' ' || c === '\n' || c === '\r' || c === '\t') continue;
        if (c !== '{' && c !== '[') return { values: out, error: new SyntaxError(this.buf.slice(i)) };
        this.start = i;
        this.depth = 0;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === '"') this.inString = false;
        continue;
      }
      if (c === '"') this.inString = true;
      else if (c === '{' || c === '[') this.depth++;
      else if (c === '}' || c === ']') {
        this.depth--;
        if (this.depth === 0) {
          out.push(this.buf.slice(this.start, i + 1));
          this.start = -1;
        }
      }
    }
    if (this.start < 0) this.buf = '';
    else {
      this.buf = this.buf.slice(this.start);
      this.start = 0;
      if (this.buf.length > this.maxValueChars) return { values: out, error: new RangeError(`stream message larger than ${this.maxValueChars} characters`) };
    }
    return { values: out };
  }

  /** Text of a value begun but not finished (the body ended inside it). */
  rest(): string {
    return this.buf.trim();
  }
}

/** The headers of a gateway reply (after the CORS ones), as grpc-gateway sets them. */
export const JSON_HEADERS: Header = [['Content-Type', 'application/json']];
export const SERVER_METADATA_HEADERS: Header = [['Grpc-Metadata-Content-Type', 'application/grpc']];

/** Writes a stream's reply: headers on the first message (so an early error sets the status). */
export class NdjsonResponse {
  private readonly out: ReplyStream;
  private started = false;
  ended = false;

  /** `res`: the transport's reply (an HTTP/1 ServerResponse is written as Go's HTTP/1 server would). */
  constructor(
    res: ServerResponse | ReplyStream,
    private readonly baseHeader: Header,
  ) {
    this.out = res instanceof ServerResponse ? new Http1ReplyStream(res) : res;
  }

  /** Writes one message's JSON; false when the transport's buffer is full (wait for 'drain'). */
  result(json: string, cb?: () => void): boolean {
    if (this.ended || this.out.destroyed) {
      cb?.();
      return true;
    }
    this.start(200, true);
    return this.out.write(`{"result":${json}}\n`, cb);
  }

  /** Ends the stream with grpc-gateway's error chunk. */
  error(code: number, message: string): void {
    if (this.ended) return;
    const httpCode = httpStatusFromCode(code);
    this.start(httpCode, false);
    this.ended = true;
    const status = STATUS_CODES[httpCode] ?? '';
    this.out.end(`{"error":{"grpc_code":${code},"http_code":${httpCode},"message":${goJsonString(message)},"http_status":${goJsonString(status)}}}`);
  }

  end(): void {
    if (this.ended) return;
    this.start(200, true);
    this.ended = true;
    this.out.end();
  }

  private start(status: number, withMetadata: boolean): void {
    if (this.started || this.out.headersSent) return;
    this.started = true;
    this.out.head(status, [...this.baseHeader, ...JSON_HEADERS, ...(withMetadata ? SERVER_METADATA_HEADERS : [])]);
  }
}
