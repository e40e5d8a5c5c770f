// What the gateway's unary and streaming paths share: a route's codec (JSON <-> the protobuf a
// gRPC client sends and receives), the call as the request pipeline sees it, and grpc-gateway's
// error reply.
import type * as grpc from '@grpc/grpc-js';
import type * as protobuf from 'protobufjs/light';
import type { Logger } from 'pino';
import { toStatus } from '../api/errors';
import { Code, EtcdError } from '../errors';
import type { CallInfo, RequestPipeline } from '../etcdserver/pipeline';
import type { Reply } from '../listener/go-reply';
import { protoMethod, serviceDefinition } from '../pb/load';
import type { GatewayExchange } from './exchange';
import { encodeJsonRequest, wireToJson } from './json-codec';
import { JSON_HEADERS } from './ndjson';
import { httpStatusFromCode, protoService, type GatewayRoute } from './routes';

/** grpc-gateway's isPermanentHTTPHeader: forwarded as "grpcgateway-<name>" metadata. */
const PERMANENT_HEADERS = new Set(
  'accept accept-charset accept-language accept-ranges authorization cache-control content-type cookie date expect from host if-match if-modified-since if-none-match if-schedule-tag-match if-unmodified-since max-forwards origin pragma referer user-agent via warning'.split(' '),
);

export interface MethodCodec {
  route: GatewayRoute;
  requestType: protobuf.Type;
  responseType: protobuf.Type;
  definition: grpc.MethodDefinition<unknown, unknown>;
}

export function methodCodec(route: GatewayRoute): MethodCodec {
  const service = protoService(route.service);
  const definition = serviceDefinition(service)[route.method];
  const { requestType, responseType } = protoMethod(service, route.method);
  return { route, requestType, responseType, definition };
}

/** A request's JSON as the message a gRPC client would have sent, within --max-request-bytes. */
export function decodeRequest(pipeline: RequestPipeline, codec: MethodCodec, json: unknown): unknown {
  const wire = encodeJsonRequest(codec.requestType, json);
  pipeline.checkRequestBytes(wire.length);
  return codec.definition.requestDeserialize(wire);
}

/** A reply message as grpc-gateway writes it. */
export function responseJson(codec: MethodCodec, msg: unknown): string {
  return wireToJson(codec.responseType, codec.definition.responseSerialize(msg));
}

/** grpc-go's refusal of a message past the limit. */
export function tooLarge(bytes: number, maxRequestBytes: number): EtcdError {
  return new EtcdError(Code.RESOURCE_EXHAUSTED, `grpc: received message larger than max (${bytes} vs. ${maxRequestBytes})`);
}

/** grpc-gateway's DefaultHTTPError body and status (error, code, message, as 3.5's runtime). */
export function errorReply(err: unknown, log?: Logger): Reply {
  const s = toStatus(err, log);
  const msg = JSON.stringify(s.details);
  return { status: httpStatusFromCode(s.code), header: JSON_HEADERS, body: `{"error":${msg},"code":${s.code},"message":${msg}}` };
}

/** The call as the pipeline sees it: HTTP headers as grpc-gateway forwards them as metadata. */
export function callInfo(ex: GatewayExchange, route: GatewayRoute): CallInfo {
  return {
    service: route.service,
    method: route.method,
    meta: (key) => {
      if (key === 'authorization') return ex.header('authorization');
      if (key.startsWith('grpcgateway-')) {
        const name = key.slice('grpcgateway-'.length);
        return PERMANENT_HEADERS.has(name) ? ex.header(name) : undefined;
      }
      return ex.header(`grpc-metadata-${key}`);
    },
  };
}
