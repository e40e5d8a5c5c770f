// When a member checkpoints its store (a synced LMDB commit that lets the WAL drop records): once
// its interval has passed while writes go on, sooner once enough entries were applied, and at
// once when it is idle. A checkpoint holds up the writes around it (its commit runs on the event
// loop, its fdatasync shares the disk with the WAL's), so a busy member must not take one every
// timer tick; an idle one takes it when it costs nobody anything.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSoleVoter, type ExtraOptions, type SoleVoter } from '../helpers/sole-voter';

const root = mkdtempSync(join(tmpdir(), 'raftnode-checkpoint-'));
after(() => rmSync(root, { recursive: true, force: true }));

let dirs = 0;
const HOUR_MS = 3_600_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function start(extra: ExtraOptions): SoleVoter {
  return startSoleVoter(join(root, `n${dirs++}`), extra);
}

/**
 * Proposes `perStep` entries every `stepMs` for `forMs`, waiting for each step's entries to be
 * applied, and counts the checkpoints saved meanwhile.
 */
async function writeSteadily(h: SoleVoter, forMs: number, stepMs: number, perStep: number): Promise<{ checkpoints: number; entries: number }> {
  let entries = 0;
  const before = h.backend.checkpointsSaved;
  const end = Date.now() + forMs;
  while (Date.now() < end) {
    let last = 0;
    for (let k = 0; k < perStep; k++) last = h.node.propose(Buffer.from(`e${entries + k}`));
    entries += perStep;
    assert.ok(await h.node.waitFor(() => h.node.appliedIndex() >= last, 5000), 'applied');
    await sleep(stepMs);
  }
  return { checkpoints: h.backend.checkpointsSaved - before, entries };
}

describe('raft node checkpoints', () => {
  test('an idle member checkpoints on the timer\'s next look, however long its interval', async () => {
    const h = start({ checkpointIntervalMs: HOUR_MS, checkpointMaxEntries: 1e9 });
    try {
      await h.node.waitLeader();
      let last = 0;
      for (let k = 0; k < 20; k++) last = h.node.propose(Buffer.from(`idle${k}`));
      assert.ok(await h.node.waitFor(() => h.node.appliedIndex() >= last, 5000));
      assert.ok(h.backend.uncheckpointedCommits() > 0, 'written since the last checkpoint');
      // One look finds entries applied since the one before, the next finds none: 100 ms apart.
      const deadline = Date.now() + 2000;
      while (h.backend.uncheckpointedCommits() > 0 && Date.now() < deadline) await sleep(10);
      assert.equal(h.backend.uncheckpointedCommits(), 0, 'checkpointed within 2 s of going idle');
    } finally {
      await h.close();
    }
  });

  test('by default a member under steady writes checkpoints once a second, not every tick', async (t) => {
    const h = start({});
    try {
      await h.node.waitLeader();
      // One entry every 5 ms for 800 ms: the member is never idle for a tick (100 ms). With the
      // old rule, a checkpoint every 100 ms, there were 5.
      const { checkpoints, entries } = await writeSteadily(h, 800, 5, 1);
      t.diagnostic(`${checkpoints} checkpoints for ${entries} entries`);
      assert.ok(entries > 20, `entries written: ${entries}`);
      // A disk stall of 100 ms on a loaded machine can make one tick look idle.
      assert.ok(checkpoints <= 2, `checkpoints in 800 ms: ${checkpoints}`);
    } finally {
      await h.close();
    }
  });

  test('under steady writes, one once the interval has passed since the last', async (t) => {
    const h = start({ checkpointIntervalMs: 250, checkpointMaxEntries: 1e9 });
    try {
      await h.node.waitLeader();
      const { checkpoints } = await writeSteadily(h, 1300, 5, 1);
      t.diagnostic(`${checkpoints} checkpoints`);
      assert.ok(checkpoints >= 3 && checkpoints <= 7, `checkpoints in 1.3 s at 250 ms: ${checkpoints}`);
    } finally {
      await h.close();
    }
  });

  test('sooner, once as many entries as the limit were applied since the last', async (t) => {
    const h = start({ checkpointIntervalMs: HOUR_MS, checkpointMaxEntries: 100 });
    try {
      await h.node.waitLeader();
      // 20 entries a step: a checkpoint every 5 steps or so (one at a time: a step whose
      // checkpoint is still flushing waits for the next). One more may come from the timer, if
      // it found the member idle just before the writes began.
      const { checkpoints, entries } = await writeSteadily(h, 600, 5, 20);
      const expected = Math.floor(entries / 100);
      t.diagnostic(`${checkpoints} checkpoints for ${entries} entries`);
      assert.ok(checkpoints >= Math.min(3, expected) && checkpoints <= expected + 1, `checkpoints: ${checkpoints} for ${entries} entries`);
    } finally {
      await h.close();
    }
  });
});
