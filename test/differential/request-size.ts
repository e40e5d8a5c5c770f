// Request sizes. The two servers may be sent requests of different sizes: lease IDs a server
// chose are varints, 8 to 10 bytes. And etcd refuses a write whose Raft entry (an
// InternalRaftRequest: the request, plus a header with a request ID) is over --max-request-bytes,
// where the ID's varint takes 8 to 10 bytes depending on the member ID (its low 16 bits are the
// ID's top bits; the member ID hashes the peer URL, whose port is random). A request within those
// 2 bytes of the limit is accepted by one etcd and refused by another, so it is not sent.
import * as protoLoader from '@grpc/proto-loader';
import * as protobuf from 'protobufjs';
import { resolve } from 'node:path';
import type { Msg } from './steps';
import { MAX_REQUEST_BYTES } from './gen-values';

const PROTO_DIR = resolve(__dirname, '../../../proto');

let root: protobuf.Root | undefined;

function type(name: string): protobuf.Type {
  if (root === undefined) {
    root = new protobuf.Root();
    root.resolvePath = (_origin, target) => resolve(PROTO_DIR, target);
    root.loadSync('etcdserverpb/rpc.proto', { keepCase: true });
  }
  return root.lookupType(name);
}

/** The InternalRaftRequest field of each write (all below 16: a one-byte tag). */
const RAFT_WRITES: Record<string, string> = { Put: 'etcdserverpb.PutRequest', DeleteRange: 'etcdserverpb.DeleteRangeRequest', Txn: 'etcdserverpb.TxnRequest' };

const isDefault = (v: unknown): boolean =>
  v === undefined || v === null || v === false || v === 0 || v === '0' || v === '' || (Buffer.isBuffer(v) && v.length === 0) || (Array.isArray(v) && v.length === 0);

/** `m` as Go marshals it again after decoding: proto3 fields at their default left out (not a
 *  oneof's member, which is sent whatever its value). */
function canonical(t: protobuf.Type, m: Msg): Msg {
  const out: Msg = {};
  for (const f of t.fieldsArray) {
    const v = m[f.name];
    if (f.partOf === null && isDefault(v)) continue;
    if (v === undefined || v === null) continue;
    f.resolve();
    const sub = f.resolvedType instanceof protobuf.Type ? f.resolvedType : undefined;
    out[f.name] = sub === undefined ? v : f.repeated ? (v as Msg[]).map((x) => canonical(sub, x)) : canonical(sub, v as Msg);
  }
  return out;
}

const varintLen = (n: number): number => (n < 0x80 ? 1 : 1 + varintLen(Math.floor(n / 0x80)));

/** etcd's verdicts on a write (leases resolved) over the request ID's lengths: [shortest ID,
 *  longest] (true: too large); undefined if it is not proposed as it came. */
function raftVerdicts(method: string, req: Msg): [boolean, boolean] | undefined {
  const name = RAFT_WRITES[method];
  if (name === undefined) return undefined;
  const t = type(name);
  const len = t.encode(t.fromObject(canonical(t, req))).finish().length;
  // The request as a field (tag, length), and the header as field 100 (2-byte tag, length, the
  // ID's tag and 8 to 10 bytes of ID).
  const body = 1 + varintLen(len) + len + 2 + 1 + 1;
  return [body + 8 > MAX_REQUEST_BYTES, body + 10 > MAX_REQUEST_BYTES];
}

/** Could etcd's verdict on this write differ between etcd members, or between the two sides'
 *  versions of the request (`reqs`, one per side)? */
export function sizeAtTheLimit(method: string, reqs: Msg[]): boolean {
  const verdicts = reqs.flatMap((r) => raftVerdicts(method, r) ?? []);
  return verdicts.length > 0 && new Set(verdicts).size > 1;
}

// The bytes the test client sends: proto-loader's encoding (which, unlike Go's, keeps default
// values that are set), with the client's options.
const LOADED = protoLoader.loadSync(['etcdserverpb/rpc.proto'], { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: Number, defaults: true, oneofs: true });
const REQUEST_TYPES: Record<string, string> = {
  Range: 'RangeRequest',
  Put: 'PutRequest',
  DeleteRange: 'DeleteRangeRequest',
  Txn: 'TxnRequest',
  Compact: 'CompactionRequest',
  LeaseGrant: 'LeaseGrantRequest',
  LeaseRevoke: 'LeaseRevokeRequest',
  LeaseTimeToLive: 'LeaseTimeToLiveRequest',
  LeaseLeases: 'LeaseLeasesRequest',
};

/** The size of the message the client sends for `req` (undefined for an unknown method). */
export function sentBytes(method: string, req: Msg): number | undefined {
  const name = REQUEST_TYPES[method];
  const t = name === undefined ? undefined : (LOADED[`etcdserverpb.${name}`] as protoLoader.MessageTypeDefinition<Msg, Msg> | undefined);
  return t?.serialize(req).length;
}
