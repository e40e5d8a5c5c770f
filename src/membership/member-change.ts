// A cluster membership change as carried in a ConfChange log entry: the proposer's entry header
// (see entry-codec.ts) followed by this JSON. Raft sees only the voter/learner effect; the rest
// (URLs, names) is for the membership record.
import { entryBody, withEntryHeader } from '../apply/entry-codec';
import type { ConfChange } from '../raft/types';

export interface MemberChange {
  type: 'add' | 'remove' | 'promote' | 'update';
  /** Member ID, decimal. */
  id: string;
  peerUrls?: string[];
  isLearner?: boolean;
}

export function encodeMemberChange(member: bigint, reqId: bigint, change: MemberChange): Buffer {
  return withEntryHeader(member, reqId, Buffer.from(JSON.stringify(change)));
}

export function decodeMemberChange(data: Buffer): MemberChange {
  return JSON.parse(entryBody(data).toString('utf8')) as MemberChange;
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
