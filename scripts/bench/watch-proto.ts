// Decoding WatchResponse for the watch load. proto-loader's deserializer also
// converts every message into a plain object (int64 to strings, defaults
// filled in), which costs the client CPU it is short of on the hot path, so
// the responses are decoded straight with protobufjs from the same proto files
// and only the fields the load checks are read.
import * as path from 'node:path';
import * as protobuf from 'protobufjs';

/** The fields of a WatchResponse the load looks at, int64s as numbers. */
export interface WatchReply {
  watchId: number;
  created: boolean;
  canceled: boolean;
  cancelReason: string;
  events: WatchEvent[];
}

export interface WatchEvent {
  /** 0 PUT, 1 DELETE. */
  type: number;
  key: Uint8Array;
  value: Uint8Array;
  modRevision: number;
}

interface RawKv {
  key: Uint8Array;
  value: Uint8Array;
  mod_revision: unknown;
}

interface RawResponse {
  watch_id: unknown;
  created: boolean;
  canceled: boolean;
  cancel_reason: string;
  events: { type: number; kv?: RawKv | null }[];
}

/** int64 fields decode to Long objects when the long package is present, to numbers otherwise. */
function toNum(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'object' && v !== null && 'toNumber' in v && typeof v.toNumber === 'function') return Number(v.toNumber());
  return Number(v);
}

export type WatchDecoder = (buf: Buffer) => WatchReply;

export function watchDecoder(protoDir: string): WatchDecoder {
  const root = new protobuf.Root();
  // Imports (mvccpb/kv.proto, ...) are relative to the proto root, as for proto-loader.
  root.resolvePath = (_origin, target) => path.join(protoDir, target);
  root.loadSync('etcdserverpb/rpc.proto', { keepCase: true });
  const type = root.lookupType('etcdserverpb.WatchResponse');
  const empty = new Uint8Array(0);
  return (buf) => {
    // Unset proto3 fields read as the defaults from the message prototype.
    const m = type.decode(buf) as unknown as RawResponse;
    return {
      watchId: toNum(m.watch_id),
      created: m.created,
      canceled: m.canceled,
      cancelReason: m.cancel_reason,
      events: m.events.map((e) => ({
        type: e.type,
        key: e.kv?.key ?? empty,
        value: e.kv?.value ?? empty,
        modRevision: toNum(e.kv?.mod_revision),
      })),
    };
  };
}
