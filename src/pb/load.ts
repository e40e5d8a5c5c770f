// Loads the wire contract in proto/ once, into one protobufjs root: the gRPC service definitions
// for the server are built from it (as @grpc/proto-loader would build them, without parsing the
// files a second time: that was a tenth of start-up), and so are the types of the records we
// encode ourselves (Raft entries) and the gateway's JSON codecs.
import type * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import { resolve } from 'node:path';
import { decodePutRequest, decodeRangeRequest, encodePutResponse, encodeRangeResponse, encodeWatchResponse } from './fast-codec';

// protobufjs refuses messages nested deeper than 100 by default, while Go's decoder (etcd's)
// takes 10,000. A txn that decodes at the door must also encode into its Raft entry and response
// and decode again on every member (one level deeper each): raise the limit for all of them, and
// let api/validate.ts bound how deep a txn may nest well below it.
protobuf.util.recursionLimit = 10_000;
protobuf.Reader.recursionLimit = 10_000;

/** proto/ at the repository root; this file runs from dist/src/pb/. */
export const PROTO_DIR = resolve(__dirname, '../../../proto');

/** Our entry payload and etcd's API (internal.proto imports rpc.proto), lock, election and health. */
const PROTO_FILES = ['etcdtspb/internal.proto', 'v3lockpb/v3lock.proto', 'v3electionpb/v3election.proto', 'grpc/health/v1/health.proto'];

/** One decoding convention everywhere: 64-bit integers as decimal strings, enums as numbers. */
export const CONVERSION: protobuf.IConversionOptions = { longs: String, enums: Number, bytes: Buffer, defaults: true, oneofs: true };

/** What the gRPC handlers were written against: @grpc/proto-loader's toObject options as we loaded with them. */
const GRPC_CONVERSION: protobuf.IConversionOptions = { longs: String, enums: Number, defaults: true, oneofs: true };

/**
 * The wire bytes each decoded request came from. A write is proposed as those very bytes (see
 * apply/entry-codec.ts) instead of being encoded again.
 */
export const rawRequestBytes = new WeakMap<object, Buffer>();

type Codec = { decode?: (b: Buffer) => unknown; encode?: (m: never) => Buffer };

/** Hand-written codecs that replace the generic ones for the hottest methods. */
const FAST: Record<string, Codec> = {
  '/etcdserverpb.KV/Range': { decode: decodeRangeRequest, encode: encodeRangeResponse },
  '/etcdserverpb.KV/Put': { decode: decodePutRequest, encode: encodePutResponse },
  '/etcdserverpb.Watch/Watch': { encode: encodeWatchResponse },
};

/** The service definition of e.g. `etcdserverpb.KV`, remembering each request's wire bytes. */
export function serviceDefinition(fullName: string): grpc.ServiceDefinition {
  const service = protoRoot().lookupService(fullName);
  const methods: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methodsArray) {
    method.resolve();
    const requestType = method.resolvedRequestType;
    const responseType = method.resolvedResponseType;
    if (requestType === null || responseType === null) throw new Error(`unresolved method ${fullName}/${method.name}`);
    const path = `/${fullName}/${method.name}`;
    const fast = FAST[path];
    const decode = fast?.decode ?? ((bytes: Buffer): unknown => requestType.toObject(requestType.decode(bytes), GRPC_CONVERSION));
    methods[method.name] = {
      path,
      requestStream: method.requestStream === true,
      responseStream: method.responseStream === true,
      // As proto-loader's serializers: fromObject, then encode.
      requestSerialize: (m: unknown) => Buffer.from(requestType.encode(requestType.fromObject(m as Record<string, unknown>)).finish()),
      requestDeserialize: (bytes: Buffer) => {
        const req: unknown = decode(bytes);
        if (typeof req === 'object' && req !== null) rawRequestBytes.set(req, bytes);
        return req;
      },
      responseSerialize: (fast?.encode as ((m: unknown) => Buffer) | undefined) ?? ((m: unknown) => Buffer.from(responseType.encode(responseType.fromObject(m as Record<string, unknown>)).finish())),
      responseDeserialize: (bytes: Buffer) => responseType.toObject(responseType.decode(bytes), GRPC_CONVERSION),
      originalName: method.name.charAt(0).toLowerCase() + method.name.slice(1),
    };
  }
  return methods as grpc.ServiceDefinition;
}

let root: protobuf.Root | undefined;
const types = new Map<string, protobuf.Type>();

function protoRoot(): protobuf.Root {
  if (root === undefined) {
    root = new protobuf.Root();
    root.resolvePath = (_origin, target) => resolve(PROTO_DIR, target);
    root.loadSync(PROTO_FILES, { keepCase: true });
    root.resolveAll();
  }
  return root;
}

export function protoType(fullName: string): protobuf.Type {
  let type = types.get(fullName);
  if (type !== undefined) return type;
  type = protoRoot().lookupType(fullName);
  types.set(fullName, type);
  return type;
}

/** The request and response types of a gRPC method (e.g. "etcdserverpb.KV", "Range"). */
export function protoMethod(service: string, method: string): { requestType: protobuf.Type; responseType: protobuf.Type } {
  const m = protoRoot().lookupService(service).methods[method];
  m.resolve();
  if (m.resolvedRequestType === null || m.resolvedResponseType === null) throw new Error(`unresolved method ${service}/${method}`);
  return { requestType: m.resolvedRequestType, responseType: m.resolvedResponseType };
}
