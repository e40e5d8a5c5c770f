// The Cluster service's membership changes (etcd's MemberAdd/Remove/Update/Promote): checks with
// etcd's errors, then a ConfChange proposal whose apply (membership.ts) decides on every member.
import { Errors } from '../errors';
import type { MemberChange } from './member-change';
import type { Member } from '../pb/types';
import { createHash } from 'node:crypto';
import { parseUrl } from '../server/config';
import type { MemberInfo, Membership } from './membership';

export interface MemberAdminDeps {
  membership: Membership;
  clusterId: string;
  /** The leader's view of a member's log (undefined when this member does not lead). */
  leaderProgress: (id: string) => { match: number; committed: number } | undefined;
  /** Proposes a change; resolves with the member list once it is applied. */
  propose: (change: MemberChange) => Promise<MemberInfo[]>;
  /** Asks the leader to promote (only it knows whether the learner has caught up). */
  forwardPromote: (id: string) => Promise<Member[]>;
}

/** etcd promotes a learner only once its log is within 90% of the leader's commit index. */
const LEARNER_READY_RATIO = 0.9;

export class MemberAdmin {
  constructor(private readonly d: MemberAdminDeps) {}

  async add(peerUrls: string[], isLearner: boolean): Promise<{ member: Member; members: Member[] }> {
    const urls = checkPeerUrls(peerUrls);
    const id = newMemberId(urls, this.d.clusterId).toString();
    const members = await this.change({ type: 'add', id, peerUrls: urls, isLearner });
    return { member: { ID: id, name: '', peerURLs: urls, clientURLs: [], isLearner }, members };
  }

  remove(id: string): Promise<Member[]> {
    this.existing(id);
    return this.change({ type: 'remove', id });
  }

  update(id: string, peerUrls: string[]): Promise<Member[]> {
    const urls = checkPeerUrls(peerUrls);
    this.existing(id);
    return this.change({ type: 'update', id, peerUrls: urls });
  }

  /** forward: whether a member that does not lead hands the request to the leader (as etcd does). */
  async promote(id: string, forward = true): Promise<Member[]> {
    if (!this.existing(id).isLearner) throw Errors.memberNotLearner();
    // Only the leader knows how far the learner is.
    const p = this.d.leaderProgress(id);
    if (p === undefined) {
      if (forward) return this.d.forwardPromote(id);
      throw Errors.notLeader();
    }
    if (p.match < p.committed * LEARNER_READY_RATIO) throw Errors.learnerNotReady();
    return this.change({ type: 'promote', id });
  }

  private existing(id: string): MemberInfo {
    const m = this.d.membership.find(BigInt(id));
    if (m === undefined) throw Errors.memberNotFound();
    return m;
  }

  private async change(c: MemberChange): Promise<Member[]> {
    return (await this.d.propose(c)).map(toPbMember);
  }
}

export function toPbMember(m: MemberInfo): Member {
  return { ID: m.id.toString(), name: m.name, peerURLs: m.peerUrls, clientURLs: m.clientUrls, isLearner: m.isLearner };
}

function checkPeerUrls(urls: string[]): string[] {
  if (urls.length === 0) throw Errors.memberBadUrls();
  for (const u of urls) {
    try {
      parseUrl(u);
    } catch {
      throw Errors.memberBadUrls();
    }
  }
  return [...urls].sort();
}

/** A new member's ID: as etcd, from its peer URLs, the cluster and the time of the request. */
function newMemberId(peerUrls: string[], cluster: string): bigint {
  return createHash('sha1').update(peerUrls.join('') + cluster + String(Math.floor(Date.now() / 1000))).digest().readBigUInt64BE(0);
}
