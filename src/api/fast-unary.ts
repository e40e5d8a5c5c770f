// The hottest unary calls (KV Range, Put, DeleteRange, Txn) served straight from node's HTTP/2
// streams, ahead of grpc-js's server on the same sessions. A ceiling test (a canned Range reply)
// put 40% of a unary call's server CPU in grpc-js's per-call machinery (intercepting call,
// metadata objects, response queue); this path does what those calls need and no more, through
// the same request pipeline and handlers, with grpc-js's wire behaviour: its response headers,
// trailers ("grpc-status", encodeURI'd "grpc-message"), trailers-only errors, deadline, size
// limit (with grpc-go's text, as useGrpcGoErrorText gives grpc-js) and malformed-call answers.
// What it cannot tell from the headers alone as ordinary (another content type or message
// encoding, an unreadable grpc-timeout) is left to grpc-js, as is every other method.
import type * as http2 from 'node:http2';
import { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { CallInfo, RequestPipeline } from '../etcdserver/pipeline';
import { grpcTimeoutMs } from '../grpc/call';
import { serviceDefinition } from '../pb/load';
import { toStatus } from './errors';
import type { Unary } from './handler';
import { kvHandlers } from './kv';
import type { MemberApi } from './member-api';

const FAST_METHODS = ['Range', 'Put', 'DeleteRange', 'Txn'] as const;
/** grpc-js's response headers for every call (no compression is offered back). */
const RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc+proto', 'grpc-accept-encoding': 'identity,deflate,gzip', 'grpc-encoding': 'identity' };
const OK_TRAILERS = { 'grpc-status': '0', 'grpc-message': 'OK' };
const FRAME_HEADER_BYTES = 5;

interface FastMethod {
  path: string;
  name: string;
  handler: Unary<unknown, unknown>;
  decode: (bytes: Buffer) => unknown;
  encode: (message: unknown) => Buffer;
}

interface Status {
  code: number;
  details: string;
}

export class FastUnary {
  private readonly methods = new Map<string, FastMethod>();

  constructor(
    member: MemberApi,
    private readonly pipeline: RequestPipeline,
    private readonly maxReceiveBytes: number,
    private readonly log: Logger,
  ) {
    const definition = serviceDefinition('etcdserverpb.KV');
    const handlers = kvHandlers(member) as unknown as Record<string, Unary<unknown, unknown>>;
    for (const name of FAST_METHODS) {
      const m = definition[name];
      this.methods.set(m.path, { path: m.path, name, handler: handlers[name], decode: m.requestDeserialize, encode: m.responseSerialize as (message: unknown) => Buffer });
    }
  }

  /** Takes the stream when it is one of ours (true); false: grpc-js serves it. */
  handle(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): boolean {
    const method = this.methods.get(String(headers[':path']));
    if (method === undefined) return false;
    const contentType = headers['content-type'];
    if (contentType !== 'application/grpc' && !(typeof contentType === 'string' && contentType.startsWith('application/grpc+'))) return false;
    const encoding = headers['grpc-encoding'];
    if (encoding !== undefined && encoding !== 'identity') return false;
    const timeout = headers['grpc-timeout'];
    let timeoutMs: number | undefined;
    if (timeout !== undefined) {
      timeoutMs = grpcTimeoutMs(String(timeout));
      if (timeoutMs === undefined) return false;
    }
    this.serve(stream, headers, method, timeoutMs);
    return true;
  }

  private serve(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, method: FastMethod, timeoutMs: number | undefined): void {
    // An error event always comes with a close; nothing to answer on a broken stream.
    stream.on('error', () => undefined);
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (): boolean => {
      if (done) return false;
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      return !stream.destroyed && !stream.closed;
    };
    const fail = (status: Status): void => {
      if (!finish() || stream.headersSent) return;
      // Trailers-only, as grpc-js answers a call that fails before its first message.
      stream.respond({ ...RESPONSE_HEADERS, 'grpc-status': String(status.code), 'grpc-message': encodeURI(status.details) }, { endStream: true });
    };
    const reply = (message: unknown): void => {
      let body: Buffer;
      try {
        body = method.encode(message);
      } catch (err) {
        return fail(toStatus(err, this.log));
      }
      if (!finish()) return;
      const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
      frame[0] = 0;
      frame.writeUInt32BE(body.length, 1);
      body.copy(frame, FRAME_HEADER_BYTES);
      stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers(OK_TRAILERS));
      stream.end(frame);
    };
    stream.once('close', () => finish());
    if (timeoutMs !== undefined) timer = setTimeout(() => fail({ code: 4, details: 'Deadline exceeded' }), timeoutMs);

    // One length-prefixed message, then the client's half close. Bounded: a declared length past
    // the limit is refused before its bytes are read.
    const chunks: Buffer[] = [];
    let received = 0;
    let declared = -1;
    stream.on('data', (chunk: Buffer) => {
      if (done) return;
      chunks.push(chunk);
      received += chunk.length;
      if (declared < 0 && received >= FRAME_HEADER_BYTES) {
        const head = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
        declared = head.readUInt32BE(1);
        if (declared > this.maxReceiveBytes) fail({ code: 8, details: `grpc: received message larger than max (${declared} vs. ${this.maxReceiveBytes})` });
      }
      if (declared >= 0 && received > FRAME_HEADER_BYTES + declared) fail({ code: 12, details: `Received a second request message for server streaming method ${method.path}` });
    });
    stream.once('end', () => {
      if (done) return;
      if (declared < 0 || received < FRAME_HEADER_BYTES + declared) return fail({ code: 12, details: `Received no request message for server streaming method ${method.path}` });
      const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, received);
      let request: unknown;
      try {
        // A copy of exactly the message: the decoded request keeps its wire bytes (pb/load.ts)
        // until it is proposed, maybe turns later, and node may slice stream chunks from one
        // shared read buffer.
        request = method.decode(Buffer.from(all.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + declared)));
      } catch {
        return fail({ code: 13, details: 'Error deserializing request' });
      }
      this.pipeline.unary(callInfo(method.name, stream, headers), request, method.handler).then(reply, (err: unknown) => fail(toStatus(err, this.log)));
    });
  }
}

/** What the pipeline knows of the call: its metadata (HTTP/2 headers) and the TLS client's CN, as grpc-server.ts reads them from grpc-js. */
function callInfo(method: string, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): CallInfo {
  return {
    service: 'KV',
    method,
    meta: (key) => {
      const v = headers[key];
      return Array.isArray(v) ? v[0] : v;
    },
    commonName: () => {
      const socket = stream.session?.socket;
      if (!(socket instanceof TLSSocket)) return undefined;
      const cert = socket.getPeerCertificate();
      const cn: unknown = cert.raw === undefined ? undefined : cert.subject?.CN;
      return typeof cn === 'string' && cn !== '' ? cn : undefined;
    },
  };
}
