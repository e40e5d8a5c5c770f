// Member and cluster IDs derived as etcd derives them, so that the same flags give the same IDs
// as a real etcd cluster: a member ID is the first 8 bytes (big-endian) of SHA-1 over its sorted
// peer URLs and the cluster token; the cluster ID is the same over the sorted member IDs.
import { createHash } from 'node:crypto';

export function memberId(peerUrls: string[], clusterToken: string): bigint {
  const b = [...peerUrls].sort().join('') + clusterToken;
  return createHash('sha1').update(b).digest().readBigUInt64BE(0);
}

export function clusterId(memberIds: bigint[]): bigint {
  const sorted = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const buf = Buffer.alloc(8 * sorted.length);
  sorted.forEach((id, i) => buf.writeBigUInt64BE(id, 8 * i));
  return createHash('sha1').update(buf).digest().readBigUInt64BE(0);
}

/** etcd prints IDs as 16 hex digits. */
export function idHex(id: bigint): string {
  return id.toString(16).padStart(16, '0');
}
