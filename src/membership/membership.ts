// The cluster's members as this member knows them. Fixed at first start from --initial-cluster
// and kept in the backend, so later starts keep the same IDs whatever the flags say (as etcd).
import type { Logger } from 'pino';
import type { Backend, ReadView } from '../backend/backend';
import type { ServerConfig } from '../server/config';
import { parseInitialCluster } from '../server/config';
import { clusterId, memberId } from '../server/ids';
import { Errors } from '../errors';
import type { MemberChange } from './member-change';
import { ETCD_VERSION } from '../server/version';
import { downgradeRefusal, parseDowngradeInfo, type DowngradeInfo } from './downgrade';

/** etcd's default limit on learners in a cluster. */
const MAX_LEARNERS = 1;

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
  /** Absent until a downgrade was first enabled (as etcd's `cluster` bucket has no key till then). */
  downgrade?: DowngradeInfo;
}

const META_MEMBERSHIP = 'membership';

export class Membership {
  readonly clusterId: bigint;
  readonly selfId: bigint;
  private members: MemberInfo[];
  /** etcd's RaftCluster.downgradeInfo: undefined until the first DowngradeInfoSet is applied. */
  private downgrade: DowngradeInfo | undefined;
  private readonly listeners: (() => void)[] = [];


  /** `join`: the membership record fetched from an existing cluster (first start only). */
  constructor(private readonly backend: Backend, config: ServerConfig, join?: string, private readonly log?: Logger) {
    const stored = backend.getMetaBuffer(META_MEMBERSHIP) ?? (join !== undefined ? Buffer.from(join) : undefined);
    if (stored !== undefined) {
      const s = JSON.parse(stored.toString('utf8')) as StoredMembership;
      this.clusterId = BigInt(s.clusterId);
      this.members = s.members.map((m) => ({ ...m, id: BigInt(m.id) }));
      this.downgrade = parseDowngradeInfo(s.downgrade);
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
    const mine = [...config.initialAdvertisePeerUrls].sort().join(',');
    const self = this.members.find((m) => m.name === config.name) ?? this.members.find((m) => [...m.peerUrls].sort().join(',') === mine);
    if (self === undefined) {
      throw new Error(`member "${config.name}" (peer URLs ${mine}) is not in the cluster's membership; add it first (etcdctl member add)`);
    }
    if (backend.getMetaBuffer(META_MEMBERSHIP) === undefined) {
      // Joining: keep the record we were given, with our name.
      self.name = config.name;
      backend.transaction(() => backend.putMetaBuffer(META_MEMBERSHIP, Buffer.from(JSON.stringify(this.toStored()))));
    }
    this.selfId = self.id;
    // Client URLs are published by each member at start (etcd's publish); ours are known locally.
    self.clientUrls = config.advertiseClientUrls;
    this.warnIfDowngrading();
  }

  /** The cluster's downgrade record; undefined when no downgrade was ever enabled. */
  downgradeInfo(): DowngradeInfo | undefined {
    return this.downgrade === undefined ? undefined : { ...this.downgrade };
  }

  /** Inside a transaction: the record an applied DowngradeInfoSet (or a restored snapshot) sets. */
  setDowngradeInfo(d: DowngradeInfo): void {
    this.downgrade = { enabled: d.enabled, targetVersion: d.targetVersion };
    this.backend.putMetaBuffer(META_MEMBERSHIP, Buffer.from(JSON.stringify(this.toStored())));
    if (d.enabled) this.log?.info({ 'target-version': d.targetVersion, 'server-version': ETCD_VERSION }, 'The server is ready to downgrade');
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

  /**
   * Inside the apply transaction: applies a committed membership change, checked the same way on
   * every member (so all accept or all refuse it). Returns the member list for the reply.
   */
  applyChange(c: MemberChange): MemberInfo[] {
    const id = BigInt(c.id);
    const m = this.members.find((x) => x.id === id);
    switch (c.type) {
      case 'add': {
        if (m !== undefined) throw Errors.memberExist();
        const urls = c.peerUrls ?? [];
        if (this.members.some((x) => x.peerUrls.some((u) => urls.includes(u)))) throw Errors.peerUrlExist();
        if (c.isLearner === true && this.members.filter((x) => x.isLearner).length >= MAX_LEARNERS) throw Errors.tooManyLearners();
        this.members.push({ id, name: '', peerUrls: urls, clientUrls: [], isLearner: c.isLearner === true });
        break;
      }
      case 'remove':
        if (m === undefined) throw Errors.memberNotFound();
        this.members = this.members.filter((x) => x.id !== id);
        break;
      case 'promote':
        if (m === undefined) throw Errors.memberNotFound();
        if (!m.isLearner) throw Errors.memberNotLearner();
        m.isLearner = false;
        break;
      case 'update': {
        if (m === undefined) throw Errors.memberNotFound();
        const urls = c.peerUrls ?? [];
        if (this.members.some((x) => x.id !== id && x.peerUrls.some((u) => urls.includes(u)))) throw Errors.peerUrlExist();
        m.peerUrls = urls;
        break;
      }
    }
    this.backend.putMetaBuffer(META_MEMBERSHIP, Buffer.from(JSON.stringify(this.toStored())));
    this.logChange(c);
    this.listeners.forEach((l) => l());
    return this.list();
  }

  /** etcd's messages and fields for membership changes (its membership/cluster.go). */
  private logChange(c: MemberChange): void {
    const base = { 'cluster-id': this.clusterId.toString(16), 'local-member-id': this.selfId.toString(16) };
    const peer = BigInt(c.id).toString(16);
    const urls = c.peerUrls ?? [];
    if (c.type === 'add') this.log?.info({ ...base, 'added-peer-id': peer, 'added-peer-peer-urls': urls, 'added-peer-is-learner': c.isLearner === true }, 'added member');
    else if (c.type === 'remove') this.log?.info({ ...base, 'removed-remote-peer-id': peer }, 'removed member');
    else if (c.type === 'update') this.log?.info({ ...base, 'updated-remote-peer-id': peer, 'updated-remote-peer-urls': urls }, 'updated member');
    else this.log?.info({ ...base, 'promoted-member-id': peer }, 'promote member');
  }

  /** Called after each applied change (to update peer connections). */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  find(id: bigint): MemberInfo | undefined {
    return this.members.find((m) => m.id === id);
  }

  learnerIds(): bigint[] {
    return this.members.filter((m) => m.isLearner).map((m) => m.id);
  }

  /** The stored membership record (it travels inside snapshots). */
  storedJson(view?: ReadView): string {
    return (this.backend.getMetaBuffer(META_MEMBERSHIP, view) ?? Buffer.from(JSON.stringify(this.toStored()))).toString('utf8');
  }

  /** Inside a transaction: takes over a membership record from a snapshot. */
  replaceFromJson(json: string): void {
    const s = JSON.parse(json) as StoredMembership;
    if (BigInt(s.clusterId) !== this.clusterId) throw new Error('snapshot of another cluster');
    const selfUrls = this.members.find((m) => m.id === this.selfId)?.clientUrls ?? [];
    this.members = s.members.map((m) => ({ ...m, id: BigInt(m.id) }));
    this.downgrade = parseDowngradeInfo(s.downgrade);
    this.warnIfDowngrading();
    const self = this.members.find((m) => m.id === this.selfId);
    if (self !== undefined && self.clientUrls.length === 0) self.clientUrls = selfUrls;
    this.backend.putMetaBuffer(META_MEMBERSHIP, Buffer.from(json));
    this.listeners.forEach((l) => l());
  }

  list(): MemberInfo[] {
    return this.members.map((m) => ({ ...m }));
  }

  voterIds(): bigint[] {
    return this.members.filter((m) => !m.isLearner).map((m) => m.id);
  }

  private toStored(): StoredMembership {
    const stored: StoredMembership = {
      clusterId: this.clusterId.toString(),
      members: this.members.map((m) => ({ ...m, id: m.id.toString() })),
    };
    if (this.downgrade !== undefined) stored.downgrade = this.downgrade;
    return stored;
  }

  /**
   * etcd 3.5 stops a member that recovers its state (at start, or from a snapshot) while a
   * downgrade to another version than its own is enabled, and waits for the older binary. No
   * older etcd-ts exists to take over this data dir, so stopping would strand it (a single member
   * could never cancel): we go on, and say what etcd would have refused, with etcd's words.
   */
  private warnIfDowngrading(): void {
    const refusal = downgradeRefusal(this.downgrade, ETCD_VERSION);
    if (refusal === undefined) return;
    this.log?.warn({ 'current-server-version': ETCD_VERSION, 'target-cluster-version': this.downgrade?.targetVersion }, `${refusal} (etcd would stop here; etcd-ts goes on, cancel the downgrade to clear it)`);
  }
}
