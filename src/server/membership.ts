// The cluster's members as this member knows them. Fixed at first start from --initial-cluster
// and kept in the backend, so later starts keep the same IDs whatever the flags say (as etcd).
import type { Backend } from '../backend/backend';
import type { ServerConfig } from './config';
import { parseInitialCluster } from './config';
import { clusterId, memberId } from './ids';

export interface MemberInfo {
  id: bigint;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

interface StoredMembership {
  clusterId: string;
  members: { id: string; name: string; peerUrls: string[]; clientUrls: string[]; isLearner: boolean }[];
}

const META_MEMBERSHIP = 'membership';

export class Membership {
  readonly clusterId: bigint;
  readonly selfId: bigint;
  private members: MemberInfo[];


  constructor(private readonly backend: Backend, config: ServerConfig) {
    const stored = backend.getMetaBuffer(META_MEMBERSHIP);
    if (stored !== undefined) {
      const s = JSON.parse(stored.toString('utf8')) as StoredMembership;
      this.clusterId = BigInt(s.clusterId);
      this.members = s.members.map((m) => ({ ...m, id: BigInt(m.id) }));
    } else {
      const initial = parseInitialCluster(config.initialCluster);
      if (!initial.some((m) => m.name === config.name)) {
        throw new Error(`couldn't find local name "${config.name}" in the initial cluster configuration`);
      }
      this.members = initial.map((m) => ({
        id: memberId(m.peerUrls, config.initialClusterToken),
        name: m.name,
        peerUrls: m.peerUrls,
        clientUrls: [],
        isLearner: false,
      }));
      this.clusterId = clusterId(this.members.map((m) => m.id));
      backend.transaction(() => backend.putMetaBuffer(META_MEMBERSHIP, Buffer.from(JSON.stringify(this.toStored()))));
    }
    const self = this.members.find((m) => m.name === config.name);
    if (self === undefined) throw new Error(`member "${config.name}" is not in the stored cluster membership`);
    this.selfId = self.id;
    // Client URLs are published by each member at start (etcd's publish); ours are known locally.
    self.clientUrls = config.advertiseClientUrls;
  }

  /** Applies a member's published name and client URLs (inside the apply transaction). */
  setAttributes(id: bigint, name: string, clientUrls: string[]): void {
    const m = this.members.find((x) => x.id === id);
    if (m === undefined) return; // removed meanwhile
    m.name = name;
    m.clientUrls = [...clientUrls];
    this.backend.putMetaBuffer(META_MEMBERSHIP, Buffer.from(JSON.stringify(this.toStored())));
  }

  /** Whether the cluster already knows these attributes for this member. */
  published(id: bigint, name: string, clientUrls: string[]): boolean {
    const stored = this.backend.getMetaBuffer(META_MEMBERSHIP);
    if (stored === undefined) return false;
    const s = JSON.parse(stored.toString('utf8')) as StoredMembership;
    const m = s.members.find((x) => x.id === id.toString());
    return m !== undefined && m.name === name && JSON.stringify(m.clientUrls) === JSON.stringify(clientUrls);
  }

  /** The stored membership record (it travels inside snapshots). */
  storedJson(): string {
    return (this.backend.getMetaBuffer(META_MEMBERSHIP) ?? Buffer.from(JSON.stringify(this.toStored()))).toString('utf8');
  }

  /** Inside a transaction: takes over a membership record from a snapshot. */
  replaceFromJson(json: string): void {
    const s = JSON.parse(json) as StoredMembership;
    if (BigInt(s.clusterId) !== this.clusterId) throw new Error('snapshot of another cluster');
    const selfUrls = this.members.find((m) => m.id === this.selfId)?.clientUrls ?? [];
    this.members = s.members.map((m) => ({ ...m, id: BigInt(m.id) }));
    const self = this.members.find((m) => m.id === this.selfId);
    if (self !== undefined && self.clientUrls.length === 0) self.clientUrls = selfUrls;
    this.backend.putMetaBuffer(META_MEMBERSHIP, Buffer.from(json));
  }

  list(): MemberInfo[] {
    return this.members.map((m) => ({ ...m }));
  }

  voterIds(): bigint[] {
    return this.members.filter((m) => !m.isLearner).map((m) => m.id);
  }

  private toStored(): StoredMembership {
    return {
      clusterId: this.clusterId.toString(),
      members: this.members.map((m) => ({ ...m, id: m.id.toString() })),
    };
  }
}
