// etcd's HTTP/JSON gateway (grpc-gateway v1 as etcd 3.5 registers it under "/v3/"): each
// route's JSON request becomes the protobuf a gRPC client would have sent, goes through the
// request pipeline to the very handler gRPC uses, and its protobuf reply is written as JSON
// (json-codec.ts). Streams (watch, lease keep-alive, snapshot) run the gRPC stream servers of
// api/ over an HTTP body in and a chunked reply out (ndjson.ts), with the reply's socket as
// their backpressure. Bounds: a unary body is buffered up to a bound tied to --max-request-bytes;
// a stream message likewise; what a stream queues is bounded by api/'s stream servers.
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type * as grpc from '@grpc/grpc-js';
import type * as protobuf from 'protobufjs';
import type { Logger } from 'pino';
import { authHandlers } from '../api/auth';
import { clusterHandlers } from '../api/cluster';
import { toStatus } from '../api/errors';
import type { Unary } from '../api/handler';
import { kvHandlers } from '../api/kv';
import { leaseHandlers, serveKeepAlive, type KeepAliveCall } from '../api/lease';
import { maintenanceHandlers, serveSnapshot, type SnapshotCall } from '../api/maintenance';
import type { MemberApi } from '../api/member-api';
import type { StreamControl } from '../api/stream';
import { serveWatch, type WatchCall } from '../api/watch';
import { Code, EtcdError } from '../errors';
import type { CallInfo, RequestPipeline, StreamTicket } from '../etcdserver/pipeline';
import { claimBody } from '../listener/http-connections';
import { httpError, writeReply, type Reply } from '../listener/go-reply';
import { protoMethod, serviceDefinition } from '../pb/load';
import { encodeJsonRequest, goSyntaxError, parseJsonBody, wireToJson } from './json-codec';
import { JSON_HEADERS, JsonValueSplitter, NdjsonResponse, SERVER_METADATA_HEADERS } from './ndjson';
import { GATEWAY_ROUTES, httpStatusFromCode, type GatewayRoute } from './routes';

type Header = ReadonlyArray<readonly [string, string]>;

/** The prefixes served: "/v3/", and "/v3beta/" which etcd's accessController rewrites to it. */
export const GATEWAY_PREFIXES = ['/v3/', '/v3beta/'];

/** grpc-gateway's isPermanentHTTPHeader: forwarded as "grpcgateway-<name>" metadata. */
const PERMANENT_HEADERS = new Set(
  'accept accept-charset accept-language accept-ranges authorization cache-control content-type cookie date expect from host if-match if-modified-since if-none-match if-schedule-tag-match if-unmodified-since max-forwards origin pragma referer user-agent via warning'.split(' '),
);

interface MethodCodec {
  route: GatewayRoute;
  requestType: protobuf.Type;
  responseType: protobuf.Type;
  definition: grpc.MethodDefinition<unknown, unknown>;
}

export class Gateway {
  private readonly unaries = new Map<string, Unary<unknown, unknown>>();
  private readonly codecs = new Map<string, MethodCodec>();
  /** What a unary body, or one stream message, may be before it is refused unread. */
  private readonly maxBodyBytes: number;

  constructor(
    private readonly member: MemberApi,
    private readonly pipeline: RequestPipeline,
    private readonly log: Logger,
  ) {
    // JSON's base64 takes 4/3 of the bytes, plus field names: room for a request at the limit.
    this.maxBodyBytes = Math.ceil(member.maxRequestBytes * 1.5) + 1024 * 1024;
    const tables: Record<string, object> = {
      KV: kvHandlers(member),
      Lease: leaseHandlers(member),
      Cluster: clusterHandlers(member),
      Maintenance: maintenanceHandlers(member),
      Auth: authHandlers(member),
    };
    for (const route of GATEWAY_ROUTES.values()) {
      const key = `${route.service}/${route.method}`;
      if (route.kind === 'unary') {
        const h = (tables[route.service] as Record<string, Unary<unknown, unknown> | undefined>)[route.method];
        if (h === undefined) throw new Error(`gateway: no handler for ${key}`);
        this.unaries.set(key, h);
      }
      if (this.codecs.has(key)) continue;
      const service = `etcdserverpb.${route.service}`;
      const definition = serviceDefinition(service)[route.method];
      const { requestType, responseType } = protoMethod(service, route.method);
      this.codecs.set(key, { route, requestType, responseType, definition });
    }
  }

  /** Whether the router should hand `path` (clean, escaped) to serve(). */
  claims(path: string): boolean {
    return GATEWAY_PREFIXES.some((p) => path.startsWith(p));
  }

  /** Serves a request under a gateway prefix; `cors`: the access controller's headers. */
  serve(req: IncomingMessage, res: ServerResponse, path: string, cors: Header, closeAfter: boolean): void {
    const prefix = GATEWAY_PREFIXES.find((p) => path.startsWith(p)) ?? '/v3/';
    const route = GATEWAY_ROUTES.get(path.slice(prefix.length));
    // closeAfter is for a body nobody reads; once the gateway reads it (claimBody) it no longer holds.
    let close = closeAfter;
    const reply = (r: Reply): void => writeReply(req, res, { ...r, header: [...cors, ...r.header] }, close);
    // grpc-gateway's own refusals: http.Error texts, no Allow header.
    if (route === undefined) return reply(httpError('Not Found', 404));
    if (req.method !== 'POST') return reply(httpError('Method Not Allowed', 405));
    const codec = this.codecs.get(`${route.service}/${route.method}`);
    if (codec === undefined) return reply(httpError('Not Found', 404));
    claimBody(req);
    close = false;
    if ((req.headers.expect ?? '').toLowerCase() === '100-continue') res.writeContinue();
    const info = callInfo(req, codec.route);
    if (route.kind === 'bidi') return this.serveBidi(req, res, codec, info, cors);
    readBody(req, this.maxBodyBytes).then(
      async (body) => {
        if (body === undefined) return reply(errorReply(this.tooLarge(Number(req.headers['content-length'] ?? this.maxBodyBytes + 1))));
        const decoded = this.decode(codec, parseJsonBody(body.toString('utf8')));
        if (route.kind === 'server-stream') {
          this.openStream(req, res, codec, info, new NdjsonResponse(res, cors), (err) => reply(errorReply(err, this.log)));
          return;
        }
        const handler = this.unaries.get(`${route.service}/${route.method}`);
        if (handler === undefined) throw new EtcdError(Code.UNIMPLEMENTED, 'unknown method');
        const resp = await this.pipeline.unary(info, decoded, handler);
        const json = wireToJson(codec.responseType, codec.definition.responseSerialize(resp));
        reply({ status: 200, header: [...JSON_HEADERS, ...SERVER_METADATA_HEADERS], body: json });
      },
    ).catch((err: unknown) => reply(errorReply(err, this.log)));
  }

  private decode(codec: MethodCodec, json: unknown): unknown {
    const wire = encodeJsonRequest(codec.requestType, json);
    this.pipeline.checkRequestBytes(wire.length);
    return codec.definition.requestDeserialize(wire);
  }

  private tooLarge(bytes: number): EtcdError {
    return new EtcdError(Code.RESOURCE_EXHAUSTED, `grpc: received message larger than max (${bytes} vs. ${this.member.maxRequestBytes})`);
  }

  /** Watch and LeaseKeepAlive: messages in as the body arrives, results out as they come. */
  private serveBidi(req: IncomingMessage, res: ServerResponse, codec: MethodCodec, info: CallInfo, cors: Header): void {
    const out = new NdjsonResponse(res, cors);
    const splitter = new JsonValueSplitter(this.maxBodyBytes);
    let call: GatewayCall | undefined;
    let first = true;
    let halfClosed = false;
    const halfClose = (): void => {
      if (halfClosed) return;
      halfClosed = true;
      req.removeAllListeners('data');
      // etcd's watch server keeps a stream open after the client's half-close (its recvLoop
      // returns nil on EOF without ending Watch); LeaseKeepAlive returns, ending the stream.
      if (codec.route.method !== 'Watch') call?.emit('end');
    };
    const failFirst = (err: unknown): void => {
      halfClosed = true;
      req.removeAllListeners('data');
      req.resume();
      const r = errorReply(err, this.log);
      writeReply(req, res, { ...r, header: [...cors, ...r.header] }, true);
    };
    const message = (text: string): boolean => {
      let decoded: unknown;
      try {
        decoded = this.decode(codec, parseJsonBody(text));
      } catch (err) {
        // The first message's error is the call's, with the decoder's error unwrapped (gRPC code
        // Unknown, as grpc-gateway returns it); a later one only half-closes.
        if (first) failFirst(err instanceof EtcdError && err.code === Code.INVALID_ARGUMENT ? new EtcdError(Code.UNKNOWN, err.message) : err);
        else halfClose();
        return false;
      }
      if (first) {
        first = false;
        call = this.openStream(req, res, codec, info, out, failFirst);
        if (call === undefined) return false;
      }
      call?.emit('data', decoded);
      return true;
    };
    // Decoded as a stream: a character split across chunks stays whole.
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      const { values, error } = splitter.push(chunk);
      for (const v of values) if (!message(v)) return;
      if (error === undefined) return;
      if (!first) return halfClose();
      failFirst(error instanceof RangeError ? this.tooLarge(this.maxBodyBytes) : new EtcdError(Code.UNKNOWN, goSyntaxError(error.message)));
    });
    req.on('end', () => {
      if (halfClosed) return;
      const rest = splitter.rest();
      if (first) {
        // An empty body is one empty request (grpc-gateway ignores the first io.EOF).
        if (rest === '') message('{}');
        else return failFirst(new EtcdError(Code.UNKNOWN, 'unexpected EOF'));
      }
      halfClose();
    });
  }

  /**
   * Admits and starts a stream; a refusal is answered as a unary error (grpc-gateway meets it at
   * stream.Header(), before any reply is written).
   */
  private openStream(req: IncomingMessage, res: ServerResponse, codec: MethodCodec, info: CallInfo, out: NdjsonResponse, refused: (err: unknown) => void): GatewayCall | undefined {
    let ticket: StreamTicket;
    let control: StreamControl | undefined;
    try {
      ticket = this.pipeline.openStream(info, (err) => control?.fail(err));
    } catch (err) {
      refused(err);
      return undefined;
    }
    const call = new GatewayCall(res, out, (msg) => wireToJson(codec.responseType, codec.definition.responseSerialize(msg)));
    res.on('close', () => call.cancel());
    req.on('error', () => call.cancel());
    // The stream servers take a grpc-js call; GatewayCall has every member they use.
    if (codec.route.method === 'Watch') control = serveWatch(call as unknown as WatchCall, ticket, this.member, this.log);
    else if (codec.route.method === 'Snapshot') control = serveSnapshot(call as unknown as SnapshotCall, ticket, this.member, this.log);
    else control = serveKeepAlive(call as unknown as KeepAliveCall, ticket, this.member, this.log);
    return call;
  }
}

/**
 * A gateway stream as api/'s stream servers see a grpc-js call: messages in by 'data', out by
 * write() (whose callback, and 'drain', follow the socket), errors out by emit('error').
 */
class GatewayCall extends EventEmitter {
  cancelled = false;
  destroyed = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly out: NdjsonResponse,
    private readonly toJson: (msg: unknown) => string,
  ) {
    super();
    res.on('drain', () => this.emit('drain'));
    this.on('error', (status: { code?: number; details?: string }) => this.out.error(status.code ?? Code.UNKNOWN, status.details ?? ''));
  }

  write(msg: unknown, cb?: () => void): boolean {
    if (this.cancelled || this.out.ended) {
      cb?.();
      return true;
    }
    return this.out.result(this.toJson(msg), cb);
  }

  end(): void {
    this.out.end();
    this.emit('close');
  }

  cancel(): void {
    if (this.cancelled || this.out.ended) return;
    this.cancelled = true;
    this.destroyed = true;
    this.emit('cancelled');
    this.emit('close');
    if (!this.res.writableEnded) this.res.destroy();
  }
}

/** grpc-gateway's DefaultHTTPError body and status (error, code, message, as 3.5's runtime). */
function errorReply(err: unknown, log?: Logger): Reply {
  const s = toStatus(err, log);
  const msg = JSON.stringify(s.details);
  return { status: httpStatusFromCode(s.code), header: JSON_HEADERS, body: `{"error":${msg},"code":${s.code},"message":${msg}}` };
}

/**
 * The whole body, or undefined when it is past `maxBytes`: the rest is then read and dropped
 * (not kept), so that the client, still sending, gets the refusal rather than a reset.
 */
function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      if (bytes <= maxBytes) chunks.push(c);
      else chunks.length = 0;
    });
    req.on('end', () => resolve(bytes > maxBytes ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The call as the pipeline sees it: HTTP headers as grpc-gateway forwards them as metadata. */
function callInfo(req: IncomingMessage, route: GatewayRoute): CallInfo {
  const header = (name: string): string | undefined => {
    const v = req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  return {
    service: route.service,
    method: route.method,
    meta: (key) => {
      if (key === 'authorization') return header('authorization');
      if (key.startsWith('grpcgateway-')) {
        const name = key.slice('grpcgateway-'.length);
        return PERMANENT_HEADERS.has(name) ? header(name) : undefined;
      }
      return header(`grpc-metadata-${key}`);
    },
  };
}
