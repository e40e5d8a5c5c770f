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
import { decodeHardState } from '../../src/raftnode/log-store';
import type { HardState } from '../../src/raft/types';
import { APPLIED_KEY, startTrio, TRIO_IDS } from '../helpers/raft-trio';

const dir = mkdtempSync(join(tmpdir(), 'raft-node-hardstate-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a commit index alone is not written to the WAL; term and vote changes are, and the store keeps commit >= applied', async () => {
  const trio = startTrio(join(dir, 'load'));
  const storedCommit = new Map<string, number>();
  try {
    const leader = await trio.leader();
    // Bursts and pauses: Readies with entries, and commit-only ones between them (acks, heartbeats).
    let last = 0;
    for (let burst = 0; burst < 40; burst++) {
      for (let i = 0; i < 5; i++) last = leader.node.propose(Buffer.from(`p${burst}.${i}`));
      await new Promise((r) => setTimeout(r, 1 + (burst % 4) * 5));
    }
    for (const m of trio.members) assert.ok(await m.node.waitFor(() => m.node.appliedIndex() >= last, 10_000), `member ${m.id} applied ${m.node.appliedIndex()} of ${last}`);
    // A few heartbeats: the followers learn the last commit index alone.
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(trio.fatal, []);
    for (const m of trio.members) {
      const applied = m.backend.getMetaNumber(APPLIED_KEY) ?? 0;
      const stored = m.backend.getMetaBuffer('raft/hardstate');
      assert.ok(stored !== undefined, `member ${m.id} stored a hard state`);
      const hs = decodeHardState(stored);
      assert.ok(hs.commit >= applied, `member ${m.id}: stored commit ${hs.commit} is behind applied ${applied}`);
      storedCommit.set(m.id, hs.commit);
    }
  } finally {
    await trio.close();
  }
  let behind = 0;
  for (const id of TRIO_IDS) {
    const { wal, records } = Wal.open(join(dir, 'load', id, 'wal'));
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

// A member with peers writes its WAL on the thread pool: a shutdown (node stopped, then WAL and
// store closed) finds writes in flight, whose "closed" failure must not be reported as fatal
// (a robustness run's SIGTERM faults logged "member stopped after an unrecoverable error").
test('a shutdown with WAL writes in flight reports no fatal error', async () => {
  const trio = startTrio(join(dir, 'shutdown'));
  let stoppedWithWrites = 0;
  try {
    const leader = await trio.leader();
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 20; i++) leader.node.propose(Buffer.from(`s${round}.${i}`));
      // Let the Ready go to the WAL (setImmediate), then stop while its write is in flight.
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      if (trio.members.some((m) => m.wal.busy())) {
        stoppedWithWrites++;
        break;
      }
    }
  } finally {
    await trio.close();
  }
  // The rejections settle after close(): give them a turn.
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(stoppedWithWrites > 0, 'the nodes were stopped with a WAL write in flight');
  assert.deepEqual(trio.fatal, []);
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
