// The gateway's streams: Watch and LeaseKeepAlive (messages in as the body arrives), Snapshot and
// election Observe (one request, then results). Each runs the very stream server gRPC runs (api/),
// over the exchange's body in and an NDJSON reply out, with the transport's buffer as their
// backpressure; what a stream queues is bounded by those servers (Observe: the newest only).
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { serveObserve, type ObserveCall } from '../api/election';
import { serveKeepAlive, type KeepAliveCall } from '../api/lease';
import { serveSnapshot, type SnapshotCall } from '../api/maintenance';
import type { MemberApi } from '../api/member-api';
import type { StreamControl } from '../api/stream';
import { serveWatch, type WatchCall } from '../api/watch';
import { Code, EtcdError } from '../errors';
import type { CallInfo, RequestPipeline, StreamTicket } from '../etcdserver/pipeline';
import { decodeRequest, errorReply, responseJson, tooLarge, type MethodCodec } from './call';
import type { GatewayExchange, Header } from './exchange';
import { goSyntaxError, parseJsonBody } from './json-codec';
import { JsonValueSplitter, NdjsonResponse } from './ndjson';

type StreamServer = (call: GatewayCall, ticket: StreamTicket) => StreamControl;

export class GatewayStreams {
  /** The stream servers take a grpc-js call; GatewayCall has every member they use. */
  private readonly servers: Record<string, StreamServer>;

  constructor(
    private readonly member: MemberApi,
    private readonly pipeline: RequestPipeline,
    private readonly log: Logger,
    /** What one stream message may be before it is refused. */
    private readonly maxMessageBytes: number,
  ) {
    this.servers = {
      Watch: (call, ticket) => serveWatch(call as unknown as WatchCall, ticket, member, log),
      LeaseKeepAlive: (call, ticket) => serveKeepAlive(call as unknown as KeepAliveCall, ticket, member, log),
      Snapshot: (call, ticket) => serveSnapshot(call as unknown as SnapshotCall, ticket, member, log),
      Observe: (call, ticket) => serveObserve(call as unknown as ObserveCall, ticket, member, log),
    };
  }

  /** Snapshot, Observe: the one request decoded; a refusal is a unary error reply (`refused`). */
  serveServerStream(ex: GatewayExchange, codec: MethodCodec, info: CallInfo, cors: Header, request: unknown, refused: (err: unknown) => void): void {
    this.open(ex, codec, info, new NdjsonResponse(ex, cors), refused, request);
  }

  /** Watch and LeaseKeepAlive: messages in as the body arrives, results out as they come. */
  serveBidi(ex: GatewayExchange, codec: MethodCodec, info: CallInfo, cors: Header): void {
    const req = ex.body;
    const out = new NdjsonResponse(ex, cors);
    const splitter = new JsonValueSplitter(this.maxMessageBytes);
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
      ex.reply({ ...r, header: [...cors, ...r.header] }, true);
    };
    const message = (text: string): boolean => {
      let decoded: unknown;
      try {
        decoded = decodeRequest(this.pipeline, codec, parseJsonBody(text));
      } catch (err) {
        // The first message's error is the call's, with the decoder's error unwrapped (gRPC code
        // Unknown, as grpc-gateway returns it); a later one only half-closes.
        if (first) failFirst(err instanceof EtcdError && err.code === Code.INVALID_ARGUMENT ? new EtcdError(Code.UNKNOWN, err.message) : err);
        else halfClose();
        return false;
      }
      if (first) {
        first = false;
        call = this.open(ex, codec, info, out, failFirst);
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
      failFirst(error instanceof RangeError ? tooLarge(this.maxMessageBytes, this.member.maxRequestBytes) : new EtcdError(Code.UNKNOWN, goSyntaxError(error.message)));
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
  private open(ex: GatewayExchange, codec: MethodCodec, info: CallInfo, out: NdjsonResponse, refused: (err: unknown) => void, request?: unknown): GatewayCall | undefined {
    const serve = this.servers[codec.route.method];
    let ticket: StreamTicket;
    let control: StreamControl | undefined;
    try {
      if (serve === undefined) throw new EtcdError(Code.UNIMPLEMENTED, 'unknown method');
      ticket = this.pipeline.openStream(info, (err) => control?.fail(err));
    } catch (err) {
      refused(err);
      return undefined;
    }
    const call = new GatewayCall(ex, out, request, (msg) => responseJson(codec, msg));
    ex.onClose(() => call.cancel());
    ex.body.on('error', () => call.cancel());
    control = serve(call, ticket);
    return call;
  }
}

/**
 * A gateway stream as api/'s stream servers see a grpc-js call: messages in by 'data' (or the one
 * `request`), out by write() (whose callback, and 'drain', follow the transport), errors out by
 * emit('error').
 */
class GatewayCall extends EventEmitter {
  cancelled = false;
  destroyed = false;

  constructor(
    private readonly ex: GatewayExchange,
    private readonly out: NdjsonResponse,
    readonly request: unknown,
    private readonly toJson: (msg: unknown) => string,
  ) {
    super();
    ex.onDrain(() => this.emit('drain'));
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
    if (!this.ex.ended) this.ex.destroy();
  }
}
