// One gRPC call on our HTTP/2 server, shaped as grpc-js's server call objects so that the service
// code (api/) serves it unchanged: `request`, `metadata`, `cancelled`, write() with its callback
// and return value, end(), the 'data', 'end', 'cancelled', 'close', 'error' and 'drain' events,
// and emit('error', status) to end the call with that status (grpc-js's Duplex does the same).
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import type { HeaderField } from '../h2/hpack';
import type { H2Stream } from '../h2/stream';
import { FRAME_HEADER_BYTES } from '../h2/frames';
import { MESSAGE_PREFIX_BYTES } from './message-reader';
import type { CallMetadata } from './metadata';

export interface GrpcStatus {
  code: number;
  details: string;
  metadata?: { toHttp2Headers?(): Record<string, unknown> } | null;
}

export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
} as const;

/** Free bytes a serializer leaves before a message: the DATA frame header, then gRPC's prefix. */
export const HEADROOM_BYTES = FRAME_HEADER_BYTES + MESSAGE_PREFIX_BYTES;

/** grpc-js's headers of a response with messages (no compression is offered back). */
const RESPONSE_HEADERS: readonly HeaderField[] = [
  [':status', '200'],
  ['content-type', 'application/grpc+proto'],
  ['grpc-accept-encoding', 'identity,deflate,gzip'],
  ['grpc-encoding', 'identity'],
];
/** grpc-js's headers of a trailers-only response (one that ends before any message). */
const TRAILERS_ONLY_HEADERS: readonly HeaderField[] = [
  [':status', '200'],
  ['content-type', 'application/grpc+proto'],
];

/** grpc-js's deadline syntax and units (server-interceptors.ts). */
const DEADLINE = /^(\d{1,8})\s*([HMSmun])$/;
const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** A grpc-timeout header's value in milliseconds, or undefined when grpc-js could not read it. */
export function grpcTimeoutMs(value: string): number | undefined {
  const m = DEADLINE.exec(value);
  return m === null ? undefined : (Number(m[1]) * UNIT_MS[m[2]]) | 0;
}

/** Ends a stream that has sent nothing yet with a status alone, as grpc-js does. */
export function trailersOnly(stream: H2Stream, status: GrpcStatus): void {
  stream.respond([...TRAILERS_ONLY_HEADERS, ...statusTrailers(status)], true);
}

function statusTrailers(status: GrpcStatus): HeaderField[] {
  const trailers: HeaderField[] = status.code === Code.OK && status.details === 'OK' ? [...OK_TRAILERS] : [['grpc-status', String(status.code)], ['grpc-message', encodeURI(status.details)]];
  addMetadata(trailers, status.metadata);
  return trailers;
}
const OK_TRAILERS: readonly HeaderField[] = [
  ['grpc-status', '0'],
  ['grpc-message', 'OK'],
];

export class ServerCall extends EventEmitter {
  request: unknown = undefined;
  cancelled = false;
  /** The call is over: its status was sent, or it was cancelled. */
  destroyed = false;
  private responded = false;
  private ended = false;
  private pendingStatus: GrpcStatus | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  /** Write callbacks waiting for the stream's queued data to leave. */
  private writeCallbacks: (() => void)[] = [];
  private drainWanted = false;

  constructor(
    readonly stream: H2Stream,
    readonly metadata: CallMetadata,
    /** Encodes a message after `headroom` free bytes. */
    private readonly serialize: (message: unknown, headroom: number) => Buffer,
    private readonly socket: Duplex,
    deadlineMs: number | undefined,
  ) {
    super();
    // As grpc-js's server streams: an 'error' event ends the call with that status.
    this.on('error', (err: unknown) => {
      this.pendingStatus = toStatus(err);
      this.end();
    });
    if (deadlineMs !== undefined) {
      this.deadlineTimer = setTimeout(() => {
        // As grpc-js: the handler hears 'cancelled' and the client gets DEADLINE_EXCEEDED.
        this.deadlineTimer = undefined;
        if (this.destroyed) return;
        this.cancelled = true;
        this.emit('cancelled', 'deadline');
        this.sendStatus({ code: Code.DEADLINE_EXCEEDED, details: 'Deadline exceeded' });
      }, deadlineMs);
    }
  }

  /** As grpc-js: the TLS client's certificate when the call came over TLS. */
  getAuthContext(): { transportSecurityType?: string; sslPeerCertificate?: ReturnType<TLSSocket['getPeerCertificate']> } {
    if (!(this.socket instanceof TLSSocket)) return {};
    const cert = this.socket.getPeerCertificate();
    return { transportSecurityType: 'ssl', sslPeerCertificate: cert.raw === undefined ? undefined : cert };
  }

  /** Sends one message; false when the caller should wait for 'drain'. */
  write(message: unknown, callback?: () => void): boolean {
    if (this.ended || this.destroyed) return false;
    // The message is encoded after room for its DATA frame header and gRPC prefix: one buffer
    // from encoder to socket, where a watch fan-out copied each message twice more per watcher.
    let frame: Buffer;
    try {
      frame = this.serialize(message, HEADROOM_BYTES);
    } catch {
      this.sendStatus({ code: Code.INTERNAL, details: 'Error serializing response' });
      return false;
    }
    return this.writeEncoded(frame, callback);
  }

  /**
   * Sends one message encoded by the caller after HEADROOM_BYTES of room (see write()); false
   * when the caller should wait for 'drain'. The watch fan-out builds its replies this way.
   */
  writeEncoded(frame: Buffer, callback?: () => void): boolean {
    if (this.ended || this.destroyed) return false;
    frame[FRAME_HEADER_BYTES] = 0; // not compressed
    frame.writeUInt32BE(frame.length - HEADROOM_BYTES, FRAME_HEADER_BYTES + 1);
    this.respondHeaders();
    return this.afterQueued(this.stream.writeFramed(frame), callback);
  }

  /**
   * As writeEncoded, for a message in pieces: `head` (HEADROOM_BYTES of room, then the message's
   * first bytes) and `parts` (partBytes in all), which may be shared with other calls. The watch
   * fan-out sends each event's bytes this way, uncopied until the connection's output buffer.
   */
  writeEncodedParts(head: Buffer, parts: readonly Buffer[], partBytes: number, callback?: () => void): boolean {
    if (this.ended || this.destroyed) return false;
    head[FRAME_HEADER_BYTES] = 0; // not compressed
    head.writeUInt32BE(head.length - HEADROOM_BYTES + partBytes, FRAME_HEADER_BYTES + 1);
    this.respondHeaders();
    return this.afterQueued(this.stream.writeFramedParts(head, parts, partBytes), callback);
  }

  /** After a message was queued: its callback, and waiting for drain when the stream has no room. */
  private afterQueued(room: boolean, callback: (() => void) | undefined): boolean {
    if (callback !== undefined) {
      // Called once the message has left the stream's queue (grpc-js: once written out).
      if (this.stream.queuedBytes === 0) process.nextTick(callback);
      else {
        this.writeCallbacks.push(callback);
        this.waitDrain();
      }
    }
    if (!room) this.waitDrain();
    return room;
  }

  /** Ends the call: the status set by an 'error' event, else OK. */
  end(): void {
    this.sendStatus(this.pendingStatus ?? { code: Code.OK, details: 'OK' });
  }

  /** The unary answer (grpc-js's callback). */
  answer(err: unknown, value?: unknown): void {
    if (err !== null && err !== undefined) {
      this.sendStatus(toStatus(err));
      return;
    }
    this.write(value);
    this.sendStatus({ code: Code.OK, details: 'OK' });
  }

  sendStatus(status: GrpcStatus): void {
    if (this.ended || this.destroyed) return;
    this.ended = true;
    this.clearDeadline();
    if (!this.responded) {
      this.responded = true;
      trailersOnly(this.stream, status);
    } else {
      this.stream.end(statusTrailers(status));
    }
    this.finish();
  }

  /** The client reset the stream, the connection went, or the deadline passed. */
  cancel(): void {
    if (this.destroyed) return;
    this.cancelled = true;
    this.ended = true;
    this.clearDeadline();
    if (!this.stream.closed) this.stream.reset();
    this.emit('cancelled', 'cancelled');
    this.finish();
  }

  private finish(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    const callbacks = this.writeCallbacks;
    this.writeCallbacks = [];
    for (const cb of callbacks) cb();
    process.nextTick(() => this.emit('close'));
  }

  private respondHeaders(): void {
    if (this.responded) return;
    this.responded = true;
    this.stream.respond(RESPONSE_HEADERS);
  }

  private waitDrain(): void {
    if (this.drainWanted) return;
    this.drainWanted = true;
    this.stream.onDrain(() => {
      this.drainWanted = false;
      const callbacks = this.writeCallbacks;
      this.writeCallbacks = [];
      for (const cb of callbacks) cb();
      this.emit('drain');
    });
  }

  private clearDeadline(): void {
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
  }
}

/** grpc-js's serverErrorToStatus: a status-shaped error as it is, anything else UNKNOWN. */
export function toStatus(err: unknown): GrpcStatus {
  if (typeof err === 'object' && err !== null) {
    const code: unknown = Reflect.get(err, 'code');
    const details: unknown = Reflect.get(err, 'details');
    const metadata: unknown = Reflect.get(err, 'metadata');
    if (typeof code === 'number' && Number.isInteger(code) && code >= 0 && code <= 16) {
      const text = typeof details === 'string' ? details : err instanceof Error ? err.message : 'Unknown Error';
      return { code, details: text, metadata: typeof metadata === 'object' ? (metadata as GrpcStatus['metadata']) : undefined };
    }
    if (err instanceof Error) return { code: Code.UNKNOWN, details: err.message };
  }
  return { code: Code.UNKNOWN, details: 'Unknown Error' };
}

/** A status's trailing metadata (grpc-js Metadata or none) as header fields. */
function addMetadata(out: HeaderField[], metadata: GrpcStatus['metadata']): void {
  const headers = metadata?.toHttp2Headers?.();
  if (headers === undefined) return;
  for (const [name, value] of Object.entries(headers)) {
    if (Array.isArray(value)) for (const v of value) out.push([name, String(v)]);
    else if (value !== undefined) out.push([name, String(value)]);
  }
}
