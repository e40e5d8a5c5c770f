// A cluster membership change as carried in a ConfChange log entry: the proposer's entry header
// (see entry-codec.ts) followed by this JSON. Raft sees only the voter/learner effect; the rest
// (URLs, names) is for the membership record.
import type { ConfChange } from '../raft/types';

export interface MemberChange {
  type: 'add' | 'remove' | 'promote' | 'update';
  /** Member ID, decimal. */
  id: string;
  peerUrls?: string[];
  isLearner?: boolean;
}

const HEADER_BYTES = 16;

export function encodeMemberChange(member: bigint, reqId: bigint, change: MemberChange): Buffer {
  const body = Buffer.from(JSON.stringify(change));
  const buf = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  buf.writeBigUInt64BE(member, 0);
  buf.writeBigUInt64BE(reqId, 8);
  body.copy(buf, HEADER_BYTES);
  return buf;
}

export function decodeMemberChange(data: Buffer): MemberChange {
  return JSON.parse(data.subarray(HEADER_BYTES).toString('utf8')) as MemberChange;
}

/** What raft must do for a change (update changes only URLs). */
export function raftChange(c: MemberChange): ConfChange | undefined {
  switch (c.type) {
    case 'add':
      return { type: c.isLearner === true ? 'addLearner' : 'addVoter', id: c.id };
    case 'promote':
      return { type: 'addVoter', id: c.id };
    case 'remove':
      return { type: 'remove', id: c.id };
    default:
      return undefined;
  }
}
