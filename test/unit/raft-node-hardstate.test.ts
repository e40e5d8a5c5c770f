// Which hard states a member writes to its WAL. A change of the commit index alone is not written
// (etcd does not sync it either: raft's MustSync): it rides along with the next entries, while a
// new term or vote is written at once. Three members in one process, each on its own LMDB
// environment and WAL in a temp dir, joined by a network of setImmediate hand-offs. After a load,
// each WAL is read back: a hard state record that does not follow an entries record must change
// the term or the vote. The store still keeps the newest hard state: its commit index is never
// behind the applied index (what a restart starts raft from).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wal, type WalRecord } from '../../src/wal/wal';
import { Backend } from '../../src/backend/backend';
import { RaftNode, type Applier } from '../../src/raftnode/node';
import type { ConfChange, Entry, HardState, Message } from '../../src/raft/types';

const dir = mkdtempSync(join(tmpdir(), 'raft-node-hardstate-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const IDS = ['1', '2', '3'];
const APPLIED = 'test-applied';

interface Member {
  id: string;
  backend: Backend;
  wal: Wal;
  node: RaftNode;
}

test('a commit index alone is not written to the WAL; term and vote changes are, and the store keeps commit >= applied', async () => {
  const fatal: string[] = [];
  const members = new Map<string, Member>();
  const send = (messages: Message[]): void => {
    for (const m of messages) setImmediate(() => members.get(m.to)?.node.step(m));
  };
  for (const id of IDS) {
    const backend = new Backend({ dir: join(dir, id, 'db'), mapSizeBytes: 64 * 1024 * 1024 });
    const applier: Applier = {
      appliedIndex: () => backend.getMetaNumber(APPLIED) ?? 0,
      applyEntries(entries: Entry[]): { release: () => void; confChanges: ConfChange[] } {
        backend.putMetaNumber(APPLIED, entries[entries.length - 1].index);
        return { release: () => undefined, confChanges: [] };
      },
      restore: () => undefined,
    };
    const { wal, records } = Wal.open(join(dir, id, 'wal'));
    const node = new RaftNode({ backend, wal, walRecords: records, id, voters: IDS, applier, tickMs: 10, electionTicks: 10, send, onFatal: (err) => fatal.push(`${id}: ${err.message}`) });
    members.set(id, { id, backend, wal, node });
  }
  const all = [...members.values()];
  const storedCommit = new Map<string, number>();
  try {
    const deadline = Date.now() + 10_000;
    let leader: Member | undefined;
    while (leader === undefined && Date.now() < deadline) {
      leader = all.find((m) => m.node.isLeader());
      if (leader === undefined) await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(leader !== undefined, 'a leader within 10 s');
    // Bursts and pauses: Readies with entries, and commit-only ones between them (acks, heartbeats).
    let last = 0;
    for (let burst = 0; burst < 40; burst++) {
      for (let i = 0; i < 5; i++) last = leader.node.propose(Buffer.from(`p${burst}.${i}`));
      await new Promise((r) => setTimeout(r, 1 + (burst % 4) * 5));
    }
    for (const m of all) assert.ok(await m.node.waitFor(() => m.node.appliedIndex() >= last, 10_000), `member ${m.id} applied ${m.node.appliedIndex()} of ${last}`);
    // A few heartbeats: the followers learn the last commit index alone.
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(fatal, []);
    for (const m of all) {
      const applied = m.backend.getMetaNumber(APPLIED) ?? 0;
      const stored = m.backend.getMetaBuffer('raft/hardstate');
      assert.ok(stored !== undefined, `member ${m.id} stored a hard state`);
      const hs = JSON.parse(stored.toString('utf8')) as HardState;
      assert.ok(hs.commit >= applied, `member ${m.id}: stored commit ${hs.commit} is behind applied ${applied}`);
      storedCommit.set(m.id, hs.commit);
    }
  } finally {
    for (const m of all) {
      m.node.stop();
      m.wal.close();
      await m.backend.close();
    }
  }
  let behind = 0;
  for (const id of IDS) {
    const { wal, records } = Wal.open(join(dir, id, 'wal'));
    wal.close();
    const lone = loneHardStates(records);
    assert.deepEqual(lone.unchanged, [], `member ${id}: hard state records with neither entries nor a new term or vote`);
    const walCommit = records.reduce((c, r) => (r.kind === 'hardstate' ? r.hardState.commit : c), 0);
    assert.ok(walCommit <= (storedCommit.get(id) ?? 0), `member ${id}: the WAL's commit ${walCommit} is past the store's`);
    if (walCommit < (storedCommit.get(id) ?? 0)) behind++;
  }
  // The followers learned the last commit index from heartbeats: not written, so their WALs end behind it.
  assert.ok(behind > 0, 'a commit index learned alone was left out of some WAL');
});

/** Hard state records not right after an entries record, split by whether they change term or vote. */
function loneHardStates(records: WalRecord[]): { changed: HardState[]; unchanged: HardState[] } {
  const out = { changed: [] as HardState[], unchanged: [] as HardState[] };
  let prev: HardState | undefined;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    if (r.kind !== 'hardstate') continue;
    const alone = i === 0 || records[i - 1].kind !== 'entries';
    if (alone) (prev !== undefined && prev.term === r.hardState.term && prev.vote === r.hardState.vote ? out.unchanged : out.changed).push(r.hardState);
    prev = r.hardState;
  }
  return out;
}
