// Snapshots between members, for a follower that needs entries the leader no longer keeps.
// The sender streams what LMDB holds from one pinned read view, chunk by chunk with the peer's
// flow control, so the state is never in memory whole; the receiver spools the stream to a file
// and installs it from there in one write transaction.
//   stream: u32 header length | header JSON {revision, compacted, membership, leases, alarms, auth}
//           | MVCC records
// The auth state (users, roles, enabled, revision) travels in the header as etcd's bucket rows;
// the installing member's auth store reloads its caches from them in the install transaction.
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { EntryApplier } from '../apply/entry-applier';
import type { Backend } from '../backend/backend';
import { FileBytes, hasEndRecord, readSnapshot } from '../mvcc/snapshot';
import type { MvccStore } from '../mvcc/store';
import type { PeerTransport } from '../peer/transport';
import { hexId, type MemberId, type Message } from '../raft/types';
import type { RaftNode } from '../raftnode/node';
import type { Membership } from '../membership/membership';
import type { Lessor } from '../lease/lessor';
import type { AlarmStore } from '../alarm/alarm-store';
import type { AuthStore } from '../auth/auth-store';

interface SnapshotHeader {
  revision: number;
  compacted: number;
  membership: string;
  /** [lease ID, TTL] pairs; which keys each holds follows from the keys' records. */
  leases: [string, number][];
  /** The alarm store's record (absent in snapshots of members before alarms existed). */
  alarms?: string;
  /** The auth buckets as JSON (auth-tables.ts; absent from members before auth existed). */
  auth?: string;
}

export interface SnapshotTransferDeps {
  backend: Backend;
  mvcc: MvccStore;
  applier: EntryApplier;
  membership: Membership;
  lessor: Lessor;
  alarms: AlarmStore;
  auth: AuthStore;
  node: () => RaftNode;
  transport: () => PeerTransport;
  /** A snapshot replaced the state (after its transaction is on disk). */
  onInstalled: () => void;
  log: Logger;
}

export class SnapshotTransfer {
  /** Peers a snapshot is streaming to: one at a time each. */
  private readonly sending = new Set<MemberId>();

  constructor(private readonly d: SnapshotTransferDeps) {}

  /** Where received snapshots are spooled; leftovers of a crash are removed. */
  static spoolDir(dataDir: string): string {
    const dir = join(dataDir, 'member', 'snap');
    mkdirSync(dir, { recursive: true });
    for (const f of readdirSync(dir)) if (f.endsWith('.part')) rmSync(join(dir, f), { force: true });
    return dir;
  }

  send(m: Message): void {
    if (this.sending.has(m.to)) return;
    const view = this.d.backend.readView();
    let index: number;
    let chunks: Generator<Buffer>;
    try {
      index = this.d.applier.storedAppliedIndex(view);
      const { revision, compacted } = this.d.mvcc.stateRevisions(view);
      const header: SnapshotHeader = { revision, compacted, membership: this.d.membership.storedJson(view), leases: this.d.lessor.exportLeases(view), alarms: this.d.alarms.exportJson(view), auth: this.d.auth.exportJson(view) };
      chunks = withHeader(header, this.d.mvcc.exportState(view));
    } catch (err) {
      view.done();
      throw err;
    }
    const term = this.d.node().raft.log.term(index);
    this.sending.add(m.to);
    this.d
      .transport()
      .sendSnapshot({ ...m, snapshot: { index, term } }, chunks)
      .then(
        // The transport logs the transfer with etcd's messages (sending / sent / failed to send).
        () => this.d.node().reportSnapshot(m.to, true),
        () => this.d.node().reportSnapshot(m.to, false),
      )
      .finally(() => {
        view.done();
        this.sending.delete(m.to);
      });
  }

  /** A snapshot arrived in full at path: install it (or not, as raft decides), then drop the file. */
  install(m: Message, path: string): void {
    const fd = openSync(path, 'r');
    const done = (): void => {
      closeSync(fd);
      rmSync(path, { force: true });
    };
    const bytes = fstatSync(fd).size;
    if (!hasEndRecord(fd, bytes)) {
      this.d.log.warn({ 'remote-snapshot-sender-id': hexId(m.from), bytes }, 'failed to receive database snapshot: cut short');
      done();
      return;
    }
    this.d.log.info({ 'remote-snapshot-sender-id': hexId(m.from), 'incoming-snapshot-index': m.snapshot?.index, 'snapshot-size': bytes }, 'applying snapshot');
    this.d
      .node()
      .installSnapshot(m, () => {
        const src = new FileBytes(fd, 0);
        const header = JSON.parse(src.take(src.take(4).readUInt32BE(0)).toString('utf8')) as SnapshotHeader;
        this.d.mvcc.importState(readSnapshot(src), header.revision, header.compacted);
        this.d.lessor.importState(header.leases ?? [], this.d.mvcc.liveLeases());
        this.d.membership.replaceFromJson(header.membership);
        this.d.alarms.restore(header.alarms ?? '[]');
        if (header.auth !== undefined) this.d.auth.restoreJson(header.auth);
        return { voters: this.d.membership.voterIds().map(String), learners: this.d.membership.learnerIds().map(String) };
      })
      .then((installed) => {
        if (!installed) return;
        this.d.log.info({ 'incoming-snapshot-index': m.snapshot?.index }, 'applied snapshot');
        this.d.onInstalled();
      })
      .finally(done);
  }
}

function* withHeader(header: SnapshotHeader, records: Generator<Buffer>): Generator<Buffer> {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32BE(json.length);
  yield Buffer.concat([len, json]);
  yield* records;
}
