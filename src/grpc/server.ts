// Our gRPC server: grpc-js's service model (addService with a ServiceDefinition and handlers of
// grpc-js's signatures) over our own HTTP/2 connections (h2/). A ceiling test put grpc-js plus
// node:http2 at ~60 µs of server CPU per small unary call and a bare HTTP/2 framing loop at ~8;
// this keeps the per-call work to parsing the frames, one call object and one socket write per
// tick. Its answers follow grpc-js's, which the service code and its tests were written against:
// response headers, trailers, trailers-only errors, deadlines, size limits (with grpc-go's text),
// and the answers to malformed calls.
import type * as grpc from '@grpc/grpc-js';
import type { Duplex } from 'node:stream';
import { gunzipSync, inflateSync } from 'node:zlib';
import type { Logger } from 'pino';
import { H2Connection } from '../h2/connection';
import type { H2Stream } from '../h2/stream';
import { Code, ServerCall, grpcTimeoutMs, trailersOnly } from './call';
import { MessageReader, MessageTooLarge, type RawMessage } from './message-reader';
import { CallMetadata } from './metadata';
import { withHeadroom } from '../pb/fast-codec';

type Kind = 'unary' | 'serverStream' | 'clientStream' | 'bidi';

interface Method {
  path: string;
  kind: Kind;
  deserialize: (bytes: Buffer) => unknown;
  /** Encodes a response after `headroom` free bytes (see ServerCall.write). */
  serialize: (message: unknown, headroom: number) => Buffer;
  handler: (call: ServerCall, callback: (err: unknown, value?: unknown) => void) => void;
}

export interface GrpcServerOptions {
  /** Largest request message accepted (grpc.max_receive_message_length). */
  maxReceiveBytes: number;
  maxConcurrentStreams: number;
  /** HTTP/2 receive window per stream and connection. */
  windowBytes?: number;
  maxHeaderListBytes?: number;
  /** A connection quiet this long is pinged, and closed if the ping goes unanswered for keepaliveTimeoutMs (0: never). */
  keepaliveIntervalMs?: number;
  keepaliveTimeoutMs?: number;
  /** See MAX_PENDING_BYTES_PER_CONNECTION (the default). */
  maxPendingBytesPerConnection?: number;
  log?: Logger;
}

/**
 * Bytes of incomplete request messages one connection may hold across its streams. Each stream
 * is bounded by the message size limit, but a client could open many streams and leave a large
 * message unfinished on each; past this the stream that would add more is ended instead.
 */
const MAX_PENDING_BYTES_PER_CONNECTION = 64 * 1024 * 1024;


export class GrpcServer {
  private readonly methods = new Map<string, Method>();
  private readonly connections = new Set<H2Connection>();
  /** Per connection (by socket): bytes of unfinished request messages its streams hold. */
  private readonly pendingBytes = new WeakMap<Duplex, { bytes: number }>();
  private closing = false;

  constructor(private readonly options: GrpcServerOptions) {}

  /** As grpc-js's Server.addService. */
  addService(service: grpc.ServiceDefinition, implementation: object): void {
    for (const [name, def] of Object.entries(service)) {
      const impl: unknown = Reflect.get(implementation, name) ?? Reflect.get(implementation, def.originalName ?? name);
      if (typeof impl !== 'function') continue;
      const kind: Kind = def.requestStream ? (def.responseStream ? 'bidi' : 'clientStream') : def.responseStream ? 'serverStream' : 'unary';
      this.methods.set(def.path, {
        path: def.path,
        kind,
        deserialize: def.requestDeserialize as (bytes: Buffer) => unknown,
        serialize: framedSerializer(def),
        handler: impl as Method['handler'],
      });
    }
  }

  /** Serves one client connection (already past any TLS handshake and protocol sniffing). */
  serve(socket: Duplex, head?: Buffer): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const connection: H2Connection = new H2Connection(
      socket,
      {
        maxConcurrentStreams: this.options.maxConcurrentStreams,
        windowBytes: this.options.windowBytes ?? 4 * 1024 * 1024,
        maxHeaderListBytes: this.options.maxHeaderListBytes ?? 64 * 1024,
        keepaliveIntervalMs: this.options.keepaliveIntervalMs ?? 0,
        keepaliveTimeoutMs: this.options.keepaliveTimeoutMs ?? 20_000,
        onStream: (stream) => this.onStream(stream, socket),
        onClose: (err) => {
          this.connections.delete(connection);
          if (err !== undefined) this.options.log?.debug({ err }, 'gRPC connection ended with an error');
        },
      },
      head,
    );
    this.connections.add(connection);
  }

  /** Graceful: GOAWAY to every connection; each closes once its calls end. */
  close(): void {
    this.closing = true;
    for (const c of this.connections) c.close();
  }

  destroy(): void {
    this.closing = true;
    for (const c of [...this.connections]) c.destroy();
    this.connections.clear();
  }

  private onStream(stream: H2Stream, socket: Duplex): void {
    const path = stream.header(':path') ?? '';
    const contentType = stream.header('content-type');
    if (contentType === undefined || !contentType.startsWith('application/grpc')) {
      // grpc-js answers a non-gRPC request with HTTP 415 and no gRPC status.
      stream.respond([[':status', '415']], true);
      return;
    }
    const method = this.methods.get(path);
    if (method === undefined) return trailersOnly(stream, { code: Code.UNIMPLEMENTED, details: `The server does not implement the method ${path}` });
    const encoding = stream.header('grpc-encoding');
    if (encoding !== undefined && encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'deflate') {
      return trailersOnly(stream, { code: Code.UNIMPLEMENTED, details: `Received message compressed with unsupported encoding "${encoding}"` });
    }
    let deadlineMs: number | undefined;
    const timeout = stream.header('grpc-timeout');
    if (timeout !== undefined) {
      deadlineMs = grpcTimeoutMs(timeout);
      if (deadlineMs === undefined) return trailersOnly(stream, { code: 11, details: `Invalid grpc-timeout value "${timeout}"` });
    }
    const call = new ServerCall(stream, new CallMetadata(stream.headers), method.serialize, socket, deadlineMs);
    const reader = new MessageReader(this.options.maxReceiveBytes);
    let pending = this.pendingBytes.get(socket);
    if (pending === undefined) this.pendingBytes.set(socket, (pending = { bytes: 0 }));
    const held = pending;
    let heldHere = 0;
    const release = (): void => {
      held.bytes -= heldHere;
      heldHere = 0;
    };
    call.once('close', release);
    const decode = (raw: RawMessage): unknown => {
      let bytes = raw.bytes;
      if (raw.compressed) {
        if (encoding === 'gzip') bytes = gunzipSync(bytes, { maxOutputLength: this.options.maxReceiveBytes });
        else if (encoding === 'deflate') bytes = inflateSync(bytes, { maxOutputLength: this.options.maxReceiveBytes });
        else throw new Error('compressed message without an encoding');
      }
      return method.deserialize(bytes);
    };
    const streaming = method.kind === 'bidi' || method.kind === 'clientStream';
    let received: RawMessage | undefined;
    let count = 0;
    stream.handler = {
      onReset: () => call.cancel(),
      onData: (data, end) => {
        if (call.destroyed) return;
        let messages: RawMessage[];
        try {
          messages = reader.push(data);
          held.bytes += reader.pendingBytes - heldHere;
          heldHere = reader.pendingBytes;
          if (held.bytes > (this.options.maxPendingBytesPerConnection ?? MAX_PENDING_BYTES_PER_CONNECTION)) {
            call.sendStatus({ code: Code.RESOURCE_EXHAUSTED, details: 'grpc: too many bytes of unfinished requests on this connection' });
            return;
          }
        } catch (err) {
          if (err instanceof MessageTooLarge) {
            call.sendStatus({ code: Code.RESOURCE_EXHAUSTED, details: `grpc: received message larger than max (${err.declared} vs. ${this.options.maxReceiveBytes})` });
            return;
          }
          throw err;
        }
        if (streaming) {
          for (const raw of messages) {
            let message: unknown;
            try {
              message = decode(raw);
            } catch {
              call.sendStatus({ code: Code.INTERNAL, details: 'Error deserializing request' });
              return;
            }
            call.emit('data', message);
            if (call.destroyed) return;
          }
          if (end) call.emit('end');
          return;
        }
        for (const raw of messages) {
          count++;
          received ??= raw;
        }
        if (count > 1) {
          call.sendStatus({ code: Code.UNIMPLEMENTED, details: `Received a second request message for server streaming method ${path}` });
          return;
        }
        if (!end) return;
        if (received === undefined || reader.pendingBytes > 0) {
          call.sendStatus({ code: Code.UNIMPLEMENTED, details: `Received no request message for server streaming method ${path}` });
          return;
        }
        try {
          call.request = decode(received);
        } catch {
          call.sendStatus({ code: Code.INTERNAL, details: 'Error deserializing request' });
          return;
        }
        this.invoke(method, call);
      },
    };
    if (streaming) this.invoke(method, call);
  }

  private invoke(method: Method, call: ServerCall): void {
    try {
      method.handler(call, (err, value) => call.answer(err, value));
    } catch (err) {
      this.options.log?.warn({ err, method: method.path }, 'gRPC handler threw');
      call.sendStatus({ code: Code.UNKNOWN, details: err instanceof Error ? err.message : 'Unknown Error' });
    }
  }
}

/** The definition's serializer with headroom (pb/load.ts adds one), or its plain one and a copy. */
function framedSerializer(def: grpc.MethodDefinition<unknown, unknown>): Method['serialize'] {
  const framed: unknown = Reflect.get(def, 'responseSerializeFramed');
  if (typeof framed === 'function') return framed as Method['serialize'];
  return (message, headroom) => withHeadroom(def.responseSerialize(message), headroom);
}
