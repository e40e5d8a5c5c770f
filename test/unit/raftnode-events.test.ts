// RaftNode's events, which the member core waits on instead of polling: onLeaderChange (after the
// Ready that changed the leader or term is on disk), onAppliedIndex (entries applied and on disk),
// waitFor / waitLeader. Listeners are bounded and one that throws does not break the Ready loop.
// A sole voter on a real LMDB environment, with an applier that records each entry's index.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_LISTENERS, ListenerLimitError } from '../../src/raftnode/listeners';
import { LogStore } from '../../src/raftnode/log-store';
import type { MemberId } from '../../src/raft/types';
import { APPLIED_KEY as KEY, startSoleVoter, type SoleVoter } from '../helpers/sole-voter';

const root = mkdtempSync(join(tmpdir(), 'raftnode-events-'));
after(() => rmSync(root, { recursive: true, force: true }));

let dirs = 0;

function start(): SoleVoter {
  return startSoleVoter(join(root, `n${dirs++}`));
}

const turn = (): Promise<void> => new Promise((r) => setTimeout(r, 1));

describe('raft node events', () => {
  test('onLeaderChange tells the new leader and term once the term is on disk, and logs it as etcd', async () => {
    const h = start();
    try {
      const seen: [MemberId | undefined, number, number][] = [];
      h.node.onLeaderChange((leader, term) => seen.push([leader, term, new LogStore(h.backend).hardState().term]));
      await h.node.waitLeader();
      assert.equal(seen.length, 1);
      const [leader, term, durable] = seen[0];
      assert.equal(leader, '1');
      assert.ok(term >= 1);
      assert.equal(durable, term, 'the term was on disk when told');
      assert.equal(h.node.term(), term);
      const msgs = h.logs.map((l) => l.msg);
      assert.ok(msgs.includes(`1 became leader at term ${term}`), msgs.join('\n'));
      assert.ok(msgs.includes(`raft.node: 1 elected leader 1 at term ${term}`));
      // Nothing changes with proposals: no more calls.
      for (let k = 0; k < 5; k++) h.node.propose(Buffer.from(`p${k}`));
      await h.node.waitFor(() => h.node.appliedIndex() >= h.node.committedIndex(), 5000);
      assert.equal(seen.length, 1);
    } finally {
      await h.close();
    }
  });

  test('onAppliedIndex tells each applied index once it is on disk; unsubscribing stops it', async () => {
    const h = start();
    try {
      await h.node.waitLeader();
      const told: number[] = [];
      const unsubscribe = h.node.onAppliedIndex((index) => {
        // What a read outside the write transaction sees.
        assert.ok((h.backend.getMetaNumber(KEY) ?? 0) >= index, 'told only once readable');
        assert.ok(h.node.appliedIndex() >= index);
        told.push(index);
      });
      let last = 0;
      for (let burst = 0; burst < 20; burst++) {
        for (let k = 0; k < 5; k++) last = h.node.propose(Buffer.from(`b${burst}.${k}`));
        await turn();
      }
      assert.ok(await h.node.waitFor(() => h.node.appliedIndex() >= last, 5000));
      assert.equal(told[told.length - 1], last);
      for (let k = 1; k < told.length; k++) assert.ok(told[k] > told[k - 1], 'increasing');
      unsubscribe();
      unsubscribe(); // idempotent
      const before = told.length;
      const more = h.node.propose(Buffer.from('after'));
      assert.ok(await h.node.waitFor(() => h.node.appliedIndex() >= more, 5000));
      assert.equal(told.length, before);
    } finally {
      await h.close();
    }
  });

  test('a listener that throws is logged and skipped; the Ready loop and other listeners go on', async () => {
    const h = start();
    try {
      await h.node.waitLeader();
      let calls = 0;
      h.node.onAppliedIndex(() => {
        throw new Error('listener bug');
      });
      h.node.onAppliedIndex(() => calls++);
      const index = h.node.propose(Buffer.from('x'));
      assert.ok(await h.node.waitFor(() => h.node.appliedIndex() >= index, 5000));
      const index2 = h.node.propose(Buffer.from('y'));
      assert.ok(await h.node.waitFor(() => h.node.appliedIndex() >= index2, 5000), 'still applying');
      assert.ok(calls >= 2);
      const errors = h.logs.filter((l) => l.level >= 50 && l.msg.includes('listener threw'));
      assert.ok(errors.length >= 2);
      assert.equal(errors[0].err?.message, 'listener bug');
    } finally {
      await h.close();
    }
  });

  test('listeners added or removed while an event is told', async () => {
    const h = start();
    try {
      await h.node.waitLeader();
      const order: string[] = [];
      let unsubscribeB: () => void = () => undefined;
      const unsubscribeA = h.node.onAppliedIndex(() => {
        order.push('a');
        unsubscribeA();
        unsubscribeB(); // b is skipped in this very emit
        h.node.onAppliedIndex(() => order.push('c')); // c waits for the next one
      });
      unsubscribeB = h.node.onAppliedIndex(() => order.push('b'));
      const i1 = h.node.propose(Buffer.from('1'));
      assert.ok(await h.node.waitFor(() => h.node.appliedIndex() >= i1, 5000));
      assert.deepEqual(order, ['a']);
      const i2 = h.node.propose(Buffer.from('2'));
      assert.ok(await h.node.waitFor(() => h.node.appliedIndex() >= i2, 5000));
      assert.deepEqual(order, ['a', 'c']);
    } finally {
      await h.close();
    }
  });

  test(`at most ${MAX_LISTENERS} listeners of a kind: one more throws and is logged`, async () => {
    const h = start();
    try {
      const offs: (() => void)[] = [];
      for (let k = 0; k < MAX_LISTENERS; k++) offs.push(h.node.onLeaderChange(() => undefined));
      assert.throws(() => h.node.onLeaderChange(() => undefined), ListenerLimitError);
      assert.ok(h.logs.some((l) => l.level >= 50 && l.msg.includes(`more than ${MAX_LISTENERS} leader change listeners`)));
      // The other kind has its own bound; and a slot freed is usable again.
      h.node.onAppliedIndex(() => undefined)();
      offs[0]();
      h.node.onLeaderChange(() => undefined);
    } finally {
      await h.close();
    }
  });

  test('waitFor resolves when the predicate holds, false on timeout and on stop', async () => {
    const h = start();
    try {
      assert.equal(await h.node.waitFor(() => h.node.isLeader(), 5000), true);
      assert.equal(await h.node.waitFor(() => true, 0), true, 'at once when it holds');
      const t0 = Date.now();
      assert.equal(await h.node.waitFor(() => false, 50), false);
      assert.ok(Date.now() - t0 >= 45);
      await assert.rejects(
        h.node.waitFor(() => {
          throw new Error('bad predicate');
        }, 1000),
        /bad predicate/,
      );
      const pending = h.node.waitFor(() => false, 60_000);
      h.node.stop();
      assert.equal(await pending, false, 'a stopped node ends its waits');
      assert.equal(await h.node.waitFor(() => false, 60_000), false);
    } finally {
      await h.close();
    }
  });
});
