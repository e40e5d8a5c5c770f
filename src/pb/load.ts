// Loads the wire contract in proto/ once: the gRPC service definitions for the server, and
// protobufjs types for the records we encode ourselves (Raft entries).
import * as protoLoader from '@grpc/proto-loader';
import * as grpc from '@grpc/grpc-js';
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

const PROTO_FILES = ['etcdserverpb/rpc.proto', 'v3lockpb/v3lock.proto', 'v3electionpb/v3election.proto', 'grpc/health/v1/health.proto'];

/** One decoding convention everywhere: 64-bit integers as decimal strings, enums as numbers. */
export const CONVERSION: protobuf.IConversionOptions = { longs: String, enums: Number, bytes: Buffer, defaults: true, oneofs: true };

let grpcObject: grpc.GrpcObject | undefined;

export function grpcDefinitions(): grpc.GrpcObject {
  if (grpcObject === undefined) {
    const def = protoLoader.loadSync(PROTO_FILES, { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: Number, defaults: true, oneofs: true });
    grpcObject = grpc.loadPackageDefinition(def);
  }
  return grpcObject;
}

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
  let node: unknown = grpcDefinitions();
  for (const part of fullName.split('.')) node = (node as Record<string, unknown>)[part];
  const service = (node as { service?: grpc.ServiceDefinition }).service;
  if (service === undefined) throw new Error(`no gRPC service ${fullName} in proto/`);
  const wrapped: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(service)) {
    const fast = FAST[method.path];
    const decode = fast?.decode ?? method.requestDeserialize;
    wrapped[name] = {
      ...method,
      responseSerialize: (fast?.encode as ((m: unknown) => Buffer) | undefined) ?? method.responseSerialize,
      requestDeserialize: (bytes: Buffer) => {
        const req: unknown = decode(bytes);
        if (typeof req === 'object' && req !== null) rawRequestBytes.set(req, bytes);
        return req;
      },
    };
  }
  return wrapped as grpc.ServiceDefinition;
}

let root: protobuf.Root | undefined;
const types = new Map<string, protobuf.Type>();

/** Our entry payload and etcd's API (it imports rpc.proto) plus lock and election, as protobufjs reflection. */
function protoRoot(): protobuf.Root {
  if (root === undefined) {
    root = new protobuf.Root();
    root.resolvePath = (_origin, target) => resolve(PROTO_DIR, target);
    root.loadSync(['etcdtspb/internal.proto', 'v3lockpb/v3lock.proto', 'v3electionpb/v3election.proto'], { keepCase: true });
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
