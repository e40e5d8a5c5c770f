// Three RaftNodes in one process, each on its own LMDB environment and WAL under `dir`, joined by
// a network of setImmediate hand-offs: for unit tests of what a member of a cluster writes.
import { join } from 'node:path';
import { Wal } from '../../src/wal/wal';
import { Backend } from '../../src/backend/backend';
import { RaftNode, type Applier } from '../../src/raftnode/node';
import type { ConfChange, Entry, Message } from '../../src/raft/types';

export const TRIO_IDS = ['1', '2', '3'];
/** The meta key each member's applier records its last applied index under. */
export const APPLIED_KEY = 'test-applied';

export interface TrioMember {
  id: string;
  backend: Backend;
  wal: Wal;
  node: RaftNode;
}

export interface Trio {
  members: TrioMember[];
  /** onFatal calls, as "id: message". */
  fatal: string[];
  /** Resolves with the leader once one is known (throws after 10 s). */
  leader(): Promise<TrioMember>;
  /** Stops every node, then closes its WAL and its store (a server's shutdown order). */
  close(): Promise<void>;
}

export function startTrio(dir: string): Trio {
  const fatal: string[] = [];
  const byId = new Map<string, TrioMember>();
  const send = (messages: Message[]): void => {
    for (const m of messages) setImmediate(() => byId.get(m.to)?.node.step(m));
  };
  for (const id of TRIO_IDS) {
    const backend = new Backend({ dir: join(dir, id, 'db'), mapSizeBytes: 64 * 1024 * 1024 });
    const applier: Applier = {
      appliedIndex: () => backend.getMetaNumber(APPLIED_KEY) ?? 0,
      applyEntries(entries: Entry[]): { release: () => void; confChanges: ConfChange[] } {
        backend.putMetaNumber(APPLIED_KEY, entries[entries.length - 1].index);
        return { release: () => undefined, confChanges: [] };
      },
      restore: () => undefined,
    };
    const { wal, records } = Wal.open(join(dir, id, 'wal'));
    const node = new RaftNode({ backend, wal, walRecords: records, id, voters: TRIO_IDS, applier, tickMs: 10, electionTicks: 10, send, onFatal: (err) => fatal.push(`${id}: ${err.message}`) });
    byId.set(id, { id, backend, wal, node });
  }
  const members = [...byId.values()];
  let closed = false;
  return {
    members,
    fatal,
    async leader() {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const l = members.find((m) => m.node.isLeader());
        if (l !== undefined) return l;
        if (Date.now() > deadline) throw new Error('no leader within 10 s');
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const m of members) m.node.stop();
      for (const m of members) m.wal.close();
      for (const m of members) await m.backend.close();
    },
  };
}
