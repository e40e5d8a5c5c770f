// Loads the wire contract in proto/ once, into one protobufjs root: the gRPC service definitions
// for the server are built from it (as @grpc/proto-loader would build them, without parsing the
// files a second time: that was a tenth of start-up), and so are the types of the records we
// encode ourselves (Raft entries) and the gateway's JSON codecs.
import type * as grpc from '@grpc/grpc-js';
// The light build (no .proto parser) is all the server needs when the descriptor built from
// proto/ at build time is there (see protoRoot); the parser is loaded only without it.
import * as protobuf from 'protobufjs/light';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { hiddenSlot } from '../hidden-slot';
import { decodePutRequest, decodeRangeRequest, encodePutResponse, encodeRangeResponse, encodeWatchResponse, withHeadroom } from './fast-codec';

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
export const rawRequestBytes = hiddenSlot<Buffer>('raw request bytes');

/** A response encoder that leaves `headroom` free bytes before the message (see ServerCall.write). */
type FramedEncoder = (m: never, headroom: number) => Buffer;
type Codec = { decode?: (b: Buffer) => unknown; encode?: FramedEncoder };

/** Hand-written codecs that replace the generic ones for the hottest methods. */
const FAST: Record<string, Codec> = {
  '/etcdserverpb.KV/Range': { decode: decodeRangeRequest, encode: encodeRangeResponse },
  '/etcdserverpb.KV/Put': { decode: decodePutRequest, encode: encodePutResponse },
  '/etcdserverpb.Watch/Watch': { encode: encodeWatchResponse },
};

/** The service definition of e.g. `etcdserverpb.KV`, remembering each request's wire bytes. */
export function serviceDefinition(fullName: string): grpc.ServiceDefinition {
  const service = protoRoot().lookupService(fullName);
  const methods: Record<string, grpc.MethodDefinition<unknown, unknown> & { responseSerializeFramed: (m: unknown, headroom: number) => Buffer }> = {};
  for (const method of service.methodsArray) {
    method.resolve();
    const requestType = method.resolvedRequestType;
    const responseType = method.resolvedResponseType;
    if (requestType === null || responseType === null) throw new Error(`unresolved method ${fullName}/${method.name}`);
    const path = `/${fullName}/${method.name}`;
    const fast = FAST[path];
    const decode = fast?.decode ?? ((bytes: Buffer): unknown => requestType.toObject(requestType.decode(bytes), GRPC_CONVERSION));
    // As proto-loader's serializers: fromObject, then encode.
    const encodeGeneric = (m: unknown): Uint8Array => responseType.encode(responseType.fromObject(m as Record<string, unknown>)).finish();
    const encode = (fast?.encode as ((m: unknown, headroom: number) => Buffer) | undefined) ?? ((m: unknown, headroom: number) => withHeadroom(encodeGeneric(m), headroom));
    methods[method.name] = {
      path,
      requestStream: method.requestStream === true,
      responseStream: method.responseStream === true,
      requestSerialize: (m: unknown) => Buffer.from(requestType.encode(requestType.fromObject(m as Record<string, unknown>)).finish()),
      requestDeserialize: (bytes: Buffer) => {
        const req: unknown = decode(bytes);
        if (typeof req === 'object' && req !== null) rawRequestBytes.set(req, bytes);
        return req;
      },
      responseSerialize: fast?.encode !== undefined ? (m: unknown) => encode(m, 0) : (m: unknown) => Buffer.from(encodeGeneric(m)),
      // Ours, beside grpc-js's fields: the serializer our gRPC server calls (see ServerCall.write).
      responseSerializeFramed: encode,
      responseDeserialize: (bytes: Buffer) => responseType.toObject(responseType.decode(bytes), GRPC_CONVERSION),
      originalName: method.name.charAt(0).toLowerCase() + method.name.slice(1),
    };
  }
  return methods as grpc.ServiceDefinition;
}

let root: protobuf.Root | undefined;
const types = new Map<string, protobuf.Type>();

/**
 * proto/ parsed into protobufjs's JSON form, written by the build (writeProtoDescriptor) beside
 * the compiled code. Parsing the .proto files took ~40 ms of every start and loading the parser
 * ~15 ms more; the descriptor loads in ~10 ms.
 */
export const DESCRIPTOR_FILE = resolve(__dirname, '../../proto-descriptor.json');

interface StoredDescriptor {
  /** Digest of every .proto file under proto/ (see protoDigest): a descriptor of other sources is not used. */
  digest: string;
  root: protobuf.INamespace;
}

function protoRoot(): protobuf.Root {
  if (root === undefined) {
    const stored = readDescriptor();
    if (stored !== undefined) {
      // As Root.fromJSON, without its resolveAll: that generates a constructor for every type
      // (~7 ms of each start); a type resolves its fields when first used instead.
      root = new protobuf.Root();
      if (stored.root.options !== undefined) root.setOptions(stored.root.options);
      root.addJSON(stored.root.nested ?? {});
    } else {
      root = parseProtoFiles();
      root.resolveAll();
    }
  }
  return root;
}

/** The descriptor the build wrote, if it was built from proto/ as it is now. */
function readDescriptor(): StoredDescriptor | undefined {
  if (!existsSync(DESCRIPTOR_FILE)) return undefined;
  try {
    const stored = JSON.parse(readFileSync(DESCRIPTOR_FILE, 'utf8')) as StoredDescriptor;
    return stored.digest === protoDigest() ? stored : undefined;
  } catch {
    return undefined;
  }
}

function parseProtoFiles(): protobuf.Root {
  // The full build: it adds the parser to the classes the light build shares with it.
  const full = require('protobufjs') as typeof protobuf;
  const parsed = new full.Root();
  parsed.resolvePath = (_origin, target) => resolve(PROTO_DIR, target);
  parsed.loadSync(PROTO_FILES, { keepCase: true });
  return parsed;
}

/** SHA-256 over every .proto file under proto/, by path and content. */
function protoDigest(): string {
  const hash = createHash('sha256');
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.proto')) hash.update(p.slice(PROTO_DIR.length)).update('\0').update(readFileSync(p)).update('\0');
    }
  };
  walk(PROTO_DIR);
  return hash.digest('hex');
}

/** Parses proto/ and writes the descriptor protoRoot loads (the build runs this after tsc). */
export function writeProtoDescriptor(): void {
  const parsed = parseProtoFiles();
  parsed.resolveAll();
  const stored: StoredDescriptor = { digest: protoDigest(), root: parsed.toJSON({ keepComments: false }) };
  writeFileSync(DESCRIPTOR_FILE, JSON.stringify(stored));
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
