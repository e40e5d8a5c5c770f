// RaftNode.appliedIndex() is what linearizable reads wait for: it must never run ahead of what a
// read outside the write transaction can see (once, raft's own applied index moved inside an
// asynchronous write transaction before LMDB committed it; a read released in that window was
// served from older state, found by the robustness harness as a stale read after a blackhole).
// Now a Ready is applied only once its WAL records are durable, in a transaction that commits
// on this thread, and appliedIndex() moves right after it: outside the transaction the two are
// always equal, while raft's own applied index runs ahead (it advances when the Ready is taken).
// A sole voter on a real LMDB environment, with an applier that records each entry's index.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wal } from '../../src/wal/wal';
import { Backend } from '../../src/backend/backend';
import { RaftNode, type Applier } from '../../src/raftnode/node';
import type { ConfChange, Entry } from '../../src/raft/types';

const dir = mkdtempSync(join(tmpdir(), 'raft-node-applied-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('appliedIndex never runs ahead of the state a read can see', async () => {
  const backend = new Backend({ dir, mapSizeBytes: 64 * 1024 * 1024 });
  const KEY = 'test-applied';
  let node: RaftNode | undefined;
  const violations: string[] = [];
  let checks = 0;
  // Times a check fell while raft's own applied index was ahead (Readies on their way to the WAL).
  let raftAhead = 0;
  // A read outside the transaction sees only committed state.
  const check = (where: string, exact = true): void => {
    if (node === undefined) return;
    checks++;
    const visible = backend.getMetaNumber(KEY) ?? 0;
    const claimed = node.appliedIndex();
    if (node.raft.log.applied > claimed) raftAhead++;
    if (claimed > visible || (exact && claimed !== visible)) violations.push(`${where}: appliedIndex ${claimed}, a read sees ${visible}`);
  };
  const applier: Applier = {
    appliedIndex: () => backend.getMetaNumber(KEY) ?? 0,
    applyEntries(entries: Entry[]): { release: () => void; confChanges: ConfChange[] } {
      backend.putMetaNumber(KEY, entries[entries.length - 1].index);
      // Runs right after the transaction's turn: appliedIndex() must have moved with the commit.
      process.nextTick(() => check('after the apply'));
      // Results are released just before appliedIndex() moves, in the same turn.
      return { release: () => check('at release', false), confChanges: [] };
    },
    restore: () => undefined,
  };
  let appliedTo = 0;
  const onApplied = (index: number): void => {
    appliedTo = Math.max(appliedTo, index);
    check('at onApplied');
  };
  const { wal, records } = Wal.open(join(dir, 'wal'));
  node = new RaftNode({ backend, wal, walRecords: records, id: '1', voters: ['1'], applier, tickMs: 10, electionTicks: 10, onFatal: (err) => violations.push(`fatal: ${err.message}`), onApplied });
  try {
    await node.waitLeader();
    assert.ok(node.isLeader());
    // Bursts of several proposals per loop turn take the asynchronous (thread pool sync) path.
    let last = 0;
    for (let burst = 0; burst < 50; burst++) {
      for (let i = 0; i < 8; i++) last = node.propose(Buffer.from(`p${burst}.${i}`));
      await new Promise((r) => setTimeout(r, 1));
    }
    const deadline = Date.now() + 10_000;
    while (appliedTo < last && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(appliedTo, last, 'every proposal applied');
    assert.equal(node.appliedIndex(), last);
    assert.ok(raftAhead > 0, `checks fell while Readies were in flight (${checks} checks, ${raftAhead} with raft ahead)`);
    assert.deepEqual(violations.slice(0, 5), []);
  } finally {
    node.stop();
    wal.close();
    await backend.close();
  }
});
