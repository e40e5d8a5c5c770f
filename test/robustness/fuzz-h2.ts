// The fuzzer's transport side: gRPC calls over node:http2 with full control of headers and DATA
// bytes (so frames can be wrong), raw HTTP/2 frames over TCP (so the protocol itself can be
// wrong), and the tally of what was sent and what came back. Given the run's TLS material (a
// --tls run), both speak TLS (ALPN h2, the client certificate presented) under the same bytes.
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { TlsPems } from './access';

export const STATUS_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];

export const H2_ERRORS = [
  'NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED', 'FRAME_SIZE_ERROR',
  'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM', 'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED',
];
const h2Error = (code: number): string => H2_ERRORS[code] ?? `0x${code.toString(16)}`;

/** What was sent and what came back, overall and per input class (with a few action ids each). */
export class Tally {
  frames = 0;
  streams = 0;
  actions = 0;
  /** Mutated writes that could have succeeded and were made to fail (see makeSafe). */
  rebroken = 0;
  /** Inputs not sent because no cheap fix made them certainly harmless. */
  skippedUnsafe = 0;
  readonly errors: Record<string, number> = {};
  readonly ms: Record<string, number> = {};
  readonly slow: { action: number; kind: string; ms: number }[] = [];
  readonly byClass: Record<string, Record<string, number>> = {};
  /** "class outcome" → the first action ids that produced it and the first detail seen. */
  readonly samples: Record<string, { actions: number[]; detail?: string }> = {};

  /** "outcome: detail" → count (the server's grpc-message), for the distinct answers seen. */
  readonly details: Record<string, number> = {};
  /** "outcome: detail" → the first "class#action" that got it. */
  readonly detailSamples: Record<string, string[]> = {};

  add(cls: string, outcome: string, action: number, detail?: string): void {
    this.errors[outcome] = (this.errors[outcome] ?? 0) + 1;
    if (detail !== undefined && detail !== '') {
      // Numbers vary per request (sizes, IDs): fold them so the distinct answers stay few.
      const k = `${outcome}: ${detail.slice(0, 120).replace(/\d+/g, 'N')}`;
      if (k in this.details || Object.keys(this.details).length < 300) {
        this.details[k] = (this.details[k] ?? 0) + 1;
        const at = (this.detailSamples[k] ??= []);
        if (at.length < 3) at.push(`${cls}#${action}`);
      }
    }
    const c = (this.byClass[cls] ??= {});
    c[outcome] = (c[outcome] ?? 0) + 1;
    const s = (this.samples[`${cls} ${outcome}`] ??= { actions: [] });
    if (s.actions.length < 3) s.actions.push(action);
    if (s.detail === undefined && detail !== undefined && detail !== '') s.detail = detail.slice(0, 200);
  }
}

export interface SessionHandle {
  session: ClientHttp2Session;
  /** True once the session errored, got GOAWAY or closed: do not reuse it. */
  dead: boolean;
  /** The action using the session now: its session-level errors are counted for it. */
  cls: string;
  action: number;
}

/** A client session (over TLS when given `pems`); its errors are counted (per class) instead of thrown. */
export function openSession(endpoint: string, tally: Tally, cls: string, action: number, pems?: TlsPems): SessionHandle {
  const session = connect(`${pems === undefined ? 'http' : 'https'}://${endpoint}`, {
    // Storms open up to 500 streams on one session: do not let the client cap them at 100
    // before the server's SETTINGS arrive, nor refuse them for its own memory accounting.
    peerMaxConcurrentStreams: 1000,
    maxSessionMemory: 256,
    ...(pems === undefined ? {} : { ca: pems.ca, cert: pems.cert, key: pems.key }),
  });
  const h: SessionHandle = { session, dead: false, cls, action };
  session.on('error', (e: NodeJS.ErrnoException) => {
    h.dead = true;
    tally.add(h.cls, `conn:${e.code ?? e.message}`, h.action, e.message);
  });
  session.on('goaway', (code: number) => {
    h.dead = true;
    // NO_ERROR is the server's graceful close; anything else is a protocol complaint.
    if (code !== 0) tally.add(h.cls, `goaway:${h2Error(code)}`, h.action);
  });
  session.on('close', () => (h.dead = true));
  return h;
}

export function grpcHeaders(path: string, extra: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
  return {
    [constants.HTTP2_HEADER_METHOD]: 'POST',
    [constants.HTTP2_HEADER_PATH]: path,
    'content-type': 'application/grpc',
    te: 'trailers',
    ...extra,
  };
}

export interface StreamSpec {
  headers: OutgoingHttpHeaders;
  /** DATA written in order (each its own write: separate DATA frames as far as node goes). */
  writes: Buffer[];
  /** Half-close after the writes. */
  end: boolean;
  /** How long to wait for the server's status before cancelling (RST_STREAM CANCEL). */
  waitMs: number;
  /** A bidi stream: no status before waitMs is normal, not a timeout. */
  bidi?: boolean;
  /** After the writes: reset the stream, or destroy the whole session (TCP close). */
  abort?: 'rst' | 'destroy';
  /** Called as soon as the stream exists (storms keep them to cancel in bulk). */
  onOpen?: (s: ClientHttp2Stream) => void;
  /** Called on each response DATA chunk. */
  onData?: () => void;
  /** True once the fuzzer dropped the stream's session itself: no status then is no failure. */
  droppedByUs?: () => boolean;
}

export interface StreamResult {
  outcome: string;
  detail?: string;
  responses: number;
}

/** One HTTP/2 stream: send, then classify what the server answered. Never rejects. */
export function runStream(h: SessionHandle, spec: StreamSpec, tally: Tally): Promise<StreamResult> {
  return new Promise((resolve) => {
    let req: ClientHttp2Stream;
    try {
      req = h.session.request(spec.headers, { endStream: false });
    } catch (e) {
      h.dead = true;
      resolve({ outcome: `client:${(e as NodeJS.ErrnoException).code ?? 'request-failed'}`, detail: String(e), responses: 0 });
      return;
    }
    tally.streams++;
    spec.onOpen?.(req);
    let grpcStatus: number | undefined;
    let grpcMessage: string | undefined;
    let httpStatus: number | undefined;
    let responses = 0;
    let timedOut = false;
    let aborted = false;
    let errCode: string | undefined;
    let done = false;
    const readStatus = (hs: Record<string, unknown>): void => {
      if (hs['grpc-status'] !== undefined) grpcStatus = Number(hs['grpc-status']);
      if (hs['grpc-message'] !== undefined) grpcMessage = decodeURIComponent(String(hs['grpc-message']));
    };
    req.on('response', (hs) => {
      httpStatus = Number(hs[':status']);
      readStatus(hs);
    });
    req.on('trailers', (hs) => readStatus(hs));
    req.on('data', () => {
      responses++;
      spec.onData?.();
    });
    req.on('error', (e: NodeJS.ErrnoException) => (errCode = e.code ?? e.message));
    const classify = (): StreamResult => {
      let outcome: string;
      if (grpcStatus !== undefined) outcome = STATUS_NAMES[grpcStatus] ?? `grpc-status:${grpcStatus}`;
      else if (aborted || spec.droppedByUs?.() === true) outcome = 'aborted';
      else if (httpStatus !== undefined && httpStatus !== 200) outcome = `http:${httpStatus}`;
      else if (timedOut) outcome = spec.bidi ? (responses > 0 ? 'stream-open' : 'stream-silent') : 'timeout';
      else if (req.rstCode !== undefined && req.rstCode !== 0) outcome = `rst:${h2Error(req.rstCode)}`;
      else if (errCode !== undefined) outcome = `stream:${errCode}`;
      else outcome = 'no-status';
      return { outcome, detail: grpcMessage ?? errCode, responses };
    };
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(classify());
    };
    req.on('close', finish);
    // Many small writes each wait for flow control: one listener per write, briefly.
    req.setMaxListeners(0);
    const closed = new Promise<void>((r) => req.once('close', () => r()));
    const timer = setTimeout(() => {
      timedOut = true;
      if (!req.closed) req.close(constants.NGHTTP2_CANCEL);
      // 'close' follows the reset; finish anyway in case the session is gone.
      setTimeout(finish, 200).unref();
    }, spec.waitMs);
    void (async () => {
      for (const w of spec.writes) {
        if (req.closed || req.destroyed) return;
        tally.frames++;
        if (!req.write(w)) {
          // Wait for flow control (or for the server to refuse the stream).
          let t: NodeJS.Timeout | undefined;
          await Promise.race([new Promise<void>((r) => req.once('drain', () => r())), closed, new Promise<void>((r) => (t = setTimeout(r, 2000)))]);
          clearTimeout(t);
        }
      }
      if (req.closed || req.destroyed) return;
      if (spec.abort === 'rst') {
        aborted = true;
        req.close(constants.NGHTTP2_CANCEL);
      } else if (spec.abort === 'destroy') {
        aborted = true;
        // Give the bytes a moment to leave, then drop the TCP connection under the stream.
        setTimeout(() => h.session.destroy(), 5).unref();
        h.dead = true;
      } else if (spec.end) req.end();
    })();
  });
}

// ----------------------------------------------------------------------------- raw HTTP/2 frames

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export function h2Frame(type: number, flags: number, streamId: number, payload: Buffer, declaredLength = payload.length): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(declaredLength & 0xffffff, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId >>> 0, 5);
  return Buffer.concat([h, payload]);
}

/** An HPACK integer with an n-bit prefix (RFC 7541 5.1). */
export function hpackInt(value: number, prefixBits: number, firstByteFlags = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByteFlags | value]);
  const out = [firstByteFlags | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** A literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2). */
export function hpackLiteral(name: string, value: string | Buffer): Buffer {
  const n = Buffer.from(name);
  const v = Buffer.isBuffer(value) ? value : Buffer.from(value);
  return Buffer.concat([Buffer.from([0x00]), hpackInt(n.length, 7), n, hpackInt(v.length, 7), v]);
}

export function grpcHeaderBlock(path: string, authority: string, scheme: 'http' | 'https' = 'http'): Buffer {
  return Buffer.concat([
    hpackLiteral(':method', 'POST'),
    hpackLiteral(':scheme', scheme),
    hpackLiteral(':path', path),
    hpackLiteral(':authority', authority),
    hpackLiteral('content-type', 'application/grpc'),
    hpackLiteral('te', 'trailers'),
  ]);
}

/**
 * Writes raw bytes on a fresh TCP connection (a TLS one, ALPN h2, when given `pems`) and reads
 * for waitMs: what the server said (HTTP/1 status, GOAWAY / RST_STREAM codes, grpc answer) or
 * that it just closed.
 */
export function rawExchange(endpoint: string, chunks: Buffer[], waitMs: number, tally: Tally, pems?: TlsPems): Promise<string> {
  const idx = endpoint.lastIndexOf(':');
  const host = endpoint.slice(0, idx).replace(/^\[|\]$/g, '');
  const port = Number(endpoint.slice(idx + 1));
  return new Promise((resolve) => {
    const sock = pems === undefined ? net.connect({ host, port }) : tls.connect({ host, port, ca: pems.ca, cert: pems.cert, key: pems.key, ALPNProtocols: ['h2'] });
    const got: Buffer[] = [];
    let closed = false;
    let err: string | undefined;
    sock.on('data', (d: Buffer) => got.push(d));
    sock.on('error', (e: NodeJS.ErrnoException) => (err = e.code ?? e.message));
    sock.on('close', () => {
      closed = true;
      finish();
    });
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(classifyRaw(Buffer.concat(got), closed, err));
    };
    const timer = setTimeout(finish, waitMs);
    sock.on(pems === undefined ? 'connect' : 'secureConnect', () => {
      for (const c of chunks) {
        if (sock.destroyed) break;
        tally.frames++;
        sock.write(c);
      }
    });
  });
}

function classifyRaw(resp: Buffer, closed: boolean, err: string | undefined): string {
  if (resp.length === 0) return err !== undefined ? `raw:conn:${err}` : closed ? 'raw:closed' : 'raw:silent';
  if (resp.subarray(0, 5).toString() === 'HTTP/') return `raw:http1:${resp.subarray(9, 12).toString()}`;
  // Server frames: the most telling one wins (GOAWAY > RST_STREAM > a gRPC status in HEADERS).
  let pos = 0;
  let goaway: string | undefined;
  let rst: string | undefined;
  let headers = false;
  while (pos + 9 <= resp.length) {
    const len = resp.readUIntBE(pos, 3);
    const type = resp[pos + 3];
    const payload = resp.subarray(pos + 9, pos + 9 + len);
    if (type === FRAME.GOAWAY && payload.length >= 8) goaway ??= h2Error(payload.readUInt32BE(4));
    if (type === FRAME.RST_STREAM && payload.length >= 4) rst ??= h2Error(payload.readUInt32BE(0));
    if (type === FRAME.HEADERS) headers = true;
    pos += 9 + len;
  }
  if (goaway !== undefined) return `raw:goaway:${goaway}`;
  if (rst !== undefined) return `raw:rst:${rst}`;
  if (headers) return 'raw:answered';
  return closed ? 'raw:closed' : 'raw:open';
}
