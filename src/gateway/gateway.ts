// etcd's HTTP/JSON gateway (grpc-gateway v1 as etcd 3.5 registers it under "/v3/", with the
// v3lock and v3election gateways): each route's JSON request becomes the protobuf a gRPC client
// would have sent, goes through the request pipeline to the very handler gRPC uses, and its
// protobuf reply is written as JSON (json-codec.ts). Streams run api/'s stream servers
// (streams.ts). Served over HTTP/1.x and, on TLS ports, HTTP/2 (exchange.ts, h2-exchange.ts).
// Bounds: a unary body is buffered up to a bound tied to --max-request-bytes; a stream message
// likewise; what a stream queues is bounded by api/'s stream servers. A unary call whose client
// goes away is cancelled (Lock and Campaign stop waiting and give their key up).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type * as http2 from 'node:http2';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { authHandlers } from '../api/auth';
import { clusterHandlers } from '../api/cluster';
import { electionHandlers } from '../api/election';
import { kvHandlers } from '../api/kv';
import { leaseHandlers } from '../api/lease';
import { lockHandlers, type Cancellable } from '../api/lock';
import { maintenanceHandlers } from '../api/maintenance';
import type { MemberApi } from '../api/member-api';
import { Code, EtcdError } from '../errors';
import type { RequestPipeline } from '../etcdserver/pipeline';
import { httpError, type Reply } from '../listener/go-reply';
import type { SubtreeHandler } from '../listener/http-router';
import { callInfo, decodeRequest, errorReply, methodCodec, responseJson, tooLarge, type MethodCodec } from './call';
import { Http1Exchange, type GatewayExchange, type Header } from './exchange';
import { Http2Exchange } from './h2-exchange';
import { parseJsonBody } from './json-codec';
import { JSON_HEADERS, SERVER_METADATA_HEADERS } from './ndjson';
import { GATEWAY_ROUTES } from './routes';
import { GatewayStreams } from './streams';

/** The prefixes served: "/v3/", and "/v3beta/" which etcd's accessController rewrites to it. */
export const GATEWAY_PREFIXES = ['/v3/', '/v3beta/'];

export class Gateway implements SubtreeHandler {
  /** The pattern etcd registers with Go's mux ("/v3" is redirected to it). */
  readonly roots = ['/v3/'];
  /** Every unary handler; a plain Unary ignores the AbortSignal it is given. */
  private readonly unaries = new Map<string, Cancellable<unknown, unknown>>();
  private readonly codecs = new Map<string, MethodCodec>();
  /** What a unary body, or one stream message, may be before it is refused unread. */
  private readonly maxBodyBytes: number;
  private readonly streams: GatewayStreams;

  constructor(
    private readonly member: MemberApi,
    private readonly pipeline: RequestPipeline,
    private readonly log: Logger,
  ) {
    // JSON's base64 takes 4/3 of the bytes, plus field names: room for a request at the limit.
    this.maxBodyBytes = Math.ceil(member.maxRequestBytes * 1.5) + 1024 * 1024;
    this.streams = new GatewayStreams(member, pipeline, log, this.maxBodyBytes);
    const tables: Record<string, object> = {
      KV: kvHandlers(member),
      Lease: leaseHandlers(member),
      Cluster: clusterHandlers(member),
      Maintenance: maintenanceHandlers(member),
      Auth: authHandlers(member),
      Lock: lockHandlers(member),
      Election: electionHandlers(member),
    };
    for (const route of GATEWAY_ROUTES.values()) {
      const key = `${route.service}/${route.method}`;
      if (route.kind === 'unary') {
        const h = (tables[route.service] as Record<string, Cancellable<unknown, unknown> | undefined>)[route.method];
        if (h === undefined) throw new Error(`gateway: no handler for ${key}`);
        this.unaries.set(key, h);
      }
      if (!this.codecs.has(key)) this.codecs.set(key, methodCodec(route));
    }
  }

  /** Whether the router should hand `path` (clean, escaped) to serve(). */
  claims(path: string): boolean {
    return GATEWAY_PREFIXES.some((p) => path.startsWith(p));
  }

  /** Serves an HTTP/1.x request under a gateway prefix; `cors`: the access controller's headers. */
  serve(req: IncomingMessage, res: ServerResponse, path: string, cors: Header, closeAfter: boolean): void {
    this.serveExchange(new Http1Exchange(req, res), path, cors, closeAfter);
  }

  /** The same over HTTP/2 (a TLS client port). */
  serveHttp2(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, path: string, cors: Header): void {
    this.serveExchange(new Http2Exchange(stream, headers), path, cors, false);
  }

  private serveExchange(ex: GatewayExchange, path: string, cors: Header, closeAfter: boolean): void {
    const prefix = GATEWAY_PREFIXES.find((p) => path.startsWith(p)) ?? '/v3/';
    const route = GATEWAY_ROUTES.get(path.slice(prefix.length));
    // closeAfter is for a body nobody reads; once the gateway reads it (claimBody) it no longer holds.
    let close = closeAfter;
    const reply = (r: Reply): void => ex.reply({ ...r, header: [...cors, ...r.header] }, close);
    // grpc-gateway's own refusals: http.Error texts, no Allow header.
    if (route === undefined) return reply(httpError('Not Found', 404));
    if (ex.method !== 'POST') return reply(httpError('Method Not Allowed', 405));
    const codec = this.codecs.get(`${route.service}/${route.method}`);
    if (codec === undefined) return reply(httpError('Not Found', 404));
    ex.claimBody();
    close = false;
    if ((ex.header('expect') ?? '').toLowerCase() === '100-continue') ex.sendContinue();
    const info = callInfo(ex, codec.route);
    if (route.kind === 'bidi') return this.streams.serveBidi(ex, codec, info, cors);
    // grpc-gateway runs the call in the HTTP request's context: a client that goes away cancels it.
    const abort = new AbortController();
    ex.onClose(() => {
      if (!ex.ended) abort.abort();
    });
    readBody(ex.body, this.maxBodyBytes).then(
      async (body) => {
        if (body === undefined) return reply(errorReply(tooLarge(Number(ex.header('content-length') ?? this.maxBodyBytes + 1), this.member.maxRequestBytes)));
        const decoded = decodeRequest(this.pipeline, codec, parseJsonBody(body.toString('utf8')));
        if (route.kind === 'server-stream') return this.streams.serveServerStream(ex, codec, info, cors, decoded, (err) => reply(errorReply(err, this.log)));
        const handler = this.unaries.get(`${route.service}/${route.method}`);
        if (handler === undefined) throw new EtcdError(Code.UNIMPLEMENTED, 'unknown method');
        const resp = await this.pipeline.unary(info, decoded, (r, ctx) => handler(r, ctx, abort.signal));
        reply({ status: 200, header: [...JSON_HEADERS, ...SERVER_METADATA_HEADERS], body: responseJson(codec, resp) });
      },
    ).catch((err: unknown) => reply(errorReply(err, this.log)));
  }
}

/**
 * The whole body, or undefined when it is past `maxBytes`: the rest is then read and dropped
 * (not kept), so that the client, still sending, gets the refusal rather than a reset.
 */
function readBody(req: Readable, maxBytes: number): Promise<Buffer | undefined> {
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
