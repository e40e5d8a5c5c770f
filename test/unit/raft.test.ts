// The pure Raft core on a simulated network (no timers, no I/O): a one-member group commits at
// once; a three-member group elects one leader, replicates, and survives the leader's loss.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Raft, ProposalDroppedError } from '../../src/raft/raft';
import { MAX_INFLIGHT, Progress } from '../../src/raft/progress';
import { quorumIndex } from '../../src/raft/quorum';
import { MemoryStorage } from '../helpers/raft-harness';
import { EntryType, Role, type ConfChange, type Entry, type Message, type ReadState } from '../../src/raft/types';

interface Member {
  raft: Raft;
  storage: MemoryStorage;
  applied: Buffer[];
  reads: ReadState[];
}

function member(id: string, voters: string[], seed: number, learners: string[] = []): Member {
  const storage = new MemoryStorage();
  const raft = new Raft({ id, voters, learners, storage, hardState: { term: 0, vote: '', commit: 0 }, applied: 0, electionTicks: 10, heartbeatTicks: 1, seed });
  return { raft, storage, applied: [], reads: [] };
}

/** Runs every member's Ready, delivering messages between members that are not cut off. */
function settle(members: Map<string, Member>, down: Set<string>): void {
  for (let round = 0; round < 100; round++) {
    const inFlight: Message[] = [];
    for (const [id, m] of members) {
      if (down.has(id) || !m.raft.hasReady()) continue;
      const rd = m.raft.ready();
      m.storage.append(rd.entries);
      for (const e of rd.committedEntries) {
        if (e.type === EntryType.ConfChange) m.raft.applyConfChange(JSON.parse(e.data.toString()) as ConfChange);
        else if (e.data.length > 0) m.applied.push(e.data);
      }
      m.reads.push(...rd.readStates);
      inFlight.push(...rd.messages);
      m.raft.advance(rd);
    }
    if (inFlight.length === 0) return;
    for (const msg of inFlight) if (!down.has(msg.to)) members.get(msg.to)?.raft.step(msg);
  }
}

function leaders(members: Map<string, Member>, down: Set<string>): string[] {
  return [...members].filter(([id, m]) => !down.has(id) && m.raft.role === Role.Leader).map(([id]) => id);
}

function tickUntilLeader(members: Map<string, Member>, down: Set<string>): string {
  for (let t = 0; t < 200; t++) {
    for (const [id, m] of members) if (!down.has(id)) m.raft.tick();
    settle(members, down);
    const l = leaders(members, down);
    if (l.length === 1) return l[0];
  }
  throw new Error('no leader elected');
}

describe('raft core', () => {
  test('a single voter leads at once and commits each proposal in the same Ready', () => {
    const m = member('1', ['1'], 7);
    m.raft.campaign();
    assert.equal(m.raft.role, Role.Leader);
    const index = m.raft.propose([Buffer.from('x')]);
    const rd = m.raft.ready();
    assert.equal(rd.entries[rd.entries.length - 1].index, index);
    assert.deepEqual(rd.committedEntries.map((e) => e.index), rd.entries.map((e) => e.index));
    assert.equal(rd.hardState?.commit, index);
    m.raft.advance(rd);
    assert.equal(m.raft.hasReady(), false);
  });

  test('a follower refuses proposals', () => {
    const m = member('1', ['1', '2', '3'], 1);
    assert.throws(() => m.raft.propose([Buffer.from('x')]), ProposalDroppedError);
  });

  for (const seed of [1, 2, 3, 42, 1234]) {
    test(`three members elect one leader, replicate, and re-elect after losing it (seed ${seed})`, () => {
      const ids = ['1', '2', '3'];
      const members = new Map(ids.map((id, i) => [id, member(id, ids, seed * 31 + i)]));
      const down = new Set<string>();
      const first = tickUntilLeader(members, down);
      const leader = members.get(first);
      assert.ok(leader !== undefined);
      for (let i = 0; i < 5; i++) leader.raft.propose([Buffer.from(`a${i}`)]);
      settle(members, down);
      for (const m of members.values()) m.raft.tick(); // heartbeat carries the commit index
      settle(members, down);
      for (const m of members.values()) assert.deepEqual(m.applied.map(String), ['a0', 'a1', 'a2', 'a3', 'a4']);

      down.add(first);
      const second = tickUntilLeader(members, down);
      assert.notEqual(second, first);
      members.get(second)?.raft.propose([Buffer.from('b')]);
      settle(members, down);
      down.delete(first);
      for (let t = 0; t < 3; t++) {
        for (const m of members.values()) m.raft.tick();
        settle(members, down);
      }
      assert.deepEqual(leaders(members, down), [second], 'the old leader stepped down');
      for (const m of members.values()) assert.deepEqual(m.applied.map(String), ['a0', 'a1', 'a2', 'a3', 'a4', 'b']);
    });
  }

  function cluster(seed: number): { members: Map<string, Member>; down: Set<string>; leader: string } {
    const ids = ['1', '2', '3'];
    const members = new Map(ids.map((id, i) => [id, member(id, ids, seed * 31 + i)]));
    const down = new Set<string>();
    return { members, down, leader: tickUntilLeader(members, down) };
  }

  const get = (members: Map<string, Member>, id: string): Member => {
    const m = members.get(id);
    if (m === undefined) throw new Error(`no member ${id}`);
    return m;
  };

  test('a follower forwards proposals to the leader', () => {
    const { members, down, leader } = cluster(5);
    const follower = [...members.keys()].find((id) => id !== leader) ?? '';
    assert.equal(get(members, follower).raft.propose([Buffer.from('via-follower')]), 0);
    settle(members, down);
    for (const m of members.values()) m.raft.tick();
    settle(members, down);
    for (const m of members.values()) assert.deepEqual(m.applied.map(String), ['via-follower']);
  });

  test('ReadIndex: leader and follower learn the commit index after a quorum confirms', () => {
    const { members, down, leader } = cluster(6);
    get(members, leader).raft.propose([Buffer.from('w')]);
    settle(members, down);
    const committed = get(members, leader).raft.log.committed;
    const follower = [...members.keys()].find((id) => id !== leader) ?? '';
    get(members, leader).raft.readIndex(Buffer.from('r1'));
    get(members, follower).raft.readIndex(Buffer.from('r2'));
    settle(members, down);
    assert.deepEqual(get(members, leader).reads.map((r) => [r.index, r.context.toString()]), [[committed, 'r1']]);
    assert.deepEqual(get(members, follower).reads.map((r) => [r.index, r.context.toString()]), [[committed, 'r2']]);
  });

  test('ReadIndex: a leader cut off from the quorum answers no reads', () => {
    const { members, down, leader } = cluster(7);
    for (const id of members.keys()) if (id !== leader) down.add(id);
    get(members, leader).raft.readIndex(Buffer.from('stale?'));
    settle(members, down);
    assert.deepEqual(get(members, leader).reads, []);
  });

  test('check-quorum: a leader that hears from no quorum steps down', () => {
    const { members, down, leader } = cluster(8);
    for (const id of members.keys()) if (id !== leader) down.add(id);
    const l = get(members, leader);
    for (let t = 0; t < 25 && l.raft.role === Role.Leader; t++) {
      l.raft.tick();
      settle(members, down);
    }
    assert.equal(l.raft.role, Role.Follower);
  });

  test('pre-vote: a member rejoining after a partition does not depose the leader', () => {
    const { members, down, leader } = cluster(9);
    const loner = [...members.keys()].find((id) => id !== leader) ?? '';
    down.add(loner);
    const term = get(members, leader).raft.term;
    // The loner ticks alone for many election timeouts: pre-votes fail, so its term stays put.
    for (let t = 0; t < 100; t++) get(members, loner).raft.tick();
    assert.equal(get(members, loner).raft.term, term);
    get(members, loner).raft.ready(); // its pre-vote requests are lost in the partition
    down.delete(loner);
    for (let t = 0; t < 30; t++) {
      for (const m of members.values()) m.raft.tick();
      settle(members, down);
    }
    assert.deepEqual(leaders(members, down), [leader]);
    assert.equal(get(members, leader).raft.term, term);
  });

  test('leader transfer: the transferee takes over once up to date; proposals wait meanwhile', () => {
    const { members, down, leader } = cluster(10);
    const target = [...members.keys()].find((id) => id !== leader) ?? '';
    const l = get(members, leader);
    l.raft.propose([Buffer.from('before')]);
    l.raft.transferLeader(target);
    assert.throws(() => l.raft.propose([Buffer.from('during')]), ProposalDroppedError);
    settle(members, down);
    assert.deepEqual(leaders(members, down), [target]);
    assert.ok(get(members, target).raft.term > l.raft.term - 1);
    get(members, target).raft.propose([Buffer.from('after')]);
    settle(members, down);
    for (const m of members.values()) m.raft.tick();
    settle(members, down);
    for (const m of members.values()) assert.deepEqual(m.applied.map(String), ['before', 'after']);
  });

  test('membership: add a learner, it catches up without voting; promote it; remove a member', () => {
    const { members, down, leader } = cluster(11);
    const l = get(members, leader);
    l.raft.propose([Buffer.from('a')]);
    settle(members, down);
    const cc = (c: ConfChange): Buffer => Buffer.from(JSON.stringify(c));
    members.set('4', member('4', ['1', '2', '3'], 99, ['4']));
    l.raft.proposeConfChange(cc({ type: 'addLearner', id: '4' }));
    assert.throws(() => l.raft.proposeConfChange(cc({ type: 'remove', id: '1' })), ProposalDroppedError, 'one change at a time');
    for (let t = 0; t < 5; t++) {
      for (const m of members.values()) m.raft.tick();
      settle(members, down);
    }
    assert.deepEqual(get(members, '4').applied.map(String), ['a'], 'the learner received the log');
    assert.deepEqual(l.raft.learnerIds(), ['4']);
    // A learner does not count for the quorum: with two voters down, nothing commits.
    const others = ['1', '2', '3'].filter((id) => id !== leader);
    down.add(others[0]);
    down.add(others[1]);
    l.raft.propose([Buffer.from('blocked')]);
    settle(members, down);
    assert.equal(get(members, '4').applied.length, 1);
    down.clear();
    for (let t = 0; t < 3; t++) {
      for (const m of members.values()) m.raft.tick();
      settle(members, down);
    }
    const nowLeader = get(members, leaders(members, down)[0]);
    nowLeader.raft.proposeConfChange(cc({ type: 'addVoter', id: '4' }));
    for (let t = 0; t < 3; t++) {
      for (const m of members.values()) m.raft.tick();
      settle(members, down);
    }
    assert.deepEqual(nowLeader.raft.voterIds(), ['1', '2', '3', '4']);
    assert.deepEqual(get(members, '4').raft.voterIds(), ['1', '2', '3', '4']);
    const victim = ['1', '2', '3'].find((id) => id !== leaders(members, down)[0]) ?? '';
    nowLeader.raft.proposeConfChange(cc({ type: 'remove', id: victim }));
    for (let t = 0; t < 3; t++) {
      for (const m of members.values()) m.raft.tick();
      settle(members, down);
    }
    assert.ok(!nowLeader.raft.voterIds().includes(victim));
    down.add(victim);
    nowLeader.raft.propose([Buffer.from('after-remove')]);
    for (let t = 0; t < 3; t++) {
      for (const m of members.values()) m.raft.tick();
      settle(members, down);
    }
    assert.deepEqual(get(members, '4').applied.map(String).slice(-1), ['after-remove']);
  });

  test('a probe is sent again only for an answer to it, or to a heartbeat sent after it', () => {
    const pr = new Progress(11);
    pr.match = 5;
    pr.sentAppend(undefined);
    assert.equal(pr.canSendAppend(), false, 'one probe at a time');
    // A follower back from a pause answers a backlog of older appends and heartbeats at once.
    assert.equal(pr.onReject(15, 12), false, 'the rejection of an older append is stale');
    pr.onAppendResp(15);
    pr.onHeartbeatResp();
    assert.equal(pr.canSendAppend(), false, 'an answer to a heartbeat older than the probe');
    pr.onHeartbeatSent();
    pr.onHeartbeatResp();
    assert.equal(pr.canSendAppend(), true, 'a heartbeat after the probe was answered: the probe may be lost');
    pr.sentAppend(undefined);
    assert.equal(pr.onReject(10, 7), true, 'the rejection of the probe out now');
    assert.equal(pr.next, 8);
    assert.equal(pr.canSendAppend(), true);
  });

  test("a heartbeat's answer to a full pipeline lets one more append go, after the ones in flight", () => {
    const pr = new Progress(1);
    pr.onAccept(0);
    assert.equal(pr.state, 'replicate');
    for (let i = 1; i <= MAX_INFLIGHT; i++) pr.sentAppend(i, 10);
    assert.equal(pr.canSendAppend(), false, 'full');
    pr.onHeartbeatSent();
    pr.onHeartbeatResp();
    assert.equal(pr.state, 'replicate', 'a follower slow to answer is not probed again');
    assert.equal(pr.next, MAX_INFLIGHT + 1, 'nothing in flight is sent twice');
    assert.equal(pr.canSendAppend(), true, 'one slot freed');
    pr.sentAppend(MAX_INFLIGHT + 1, 10);
    assert.equal(pr.canSendAppend(), false, 'and only one');
    assert.equal(pr.onAccept(MAX_INFLIGHT + 1), true, 'the answers arrive');
    assert.equal(pr.canSendAppend(), true);
    assert.deepEqual(pr.inflight, []);
  });

  test('a snapshot transfer that ends resumes probing once the follower is heard from', () => {
    const pr = new Progress(5);
    pr.match = 3;
    pr.becomeSnapshot(100);
    assert.equal(pr.canSendAppend(), false, 'nothing else goes out while the snapshot is on its way');
    pr.snapshotDone(false);
    assert.equal(pr.state, 'probe');
    assert.equal(pr.next, 4, 'a failed snapshot: probe from what matches, to send it again');
    assert.equal(pr.canSendAppend(), false, 'paused until the follower answers');
    pr.onHeartbeatResp();
    assert.equal(pr.canSendAppend(), true);
    pr.becomeSnapshot(100);
    pr.snapshotDone(true);
    assert.equal(pr.next, 101, 'a delivered snapshot: probe from past it');
    pr.snapshotDone(false);
    assert.equal(pr.next, 101, 'a report with no snapshot on its way changes nothing');
  });
});

test('quorumIndex: the highest index a majority holds, for any voter count and order', () => {
  assert.equal(quorumIndex([], () => 5), 0);
  let seed = 7;
  const rand = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  for (let round = 0; round < 500; round++) {
    const voters = Array.from({ length: 1 + rand(7) }, (_, i) => `m${i}`);
    const match = new Map(voters.map((v) => [v, rand(4) === 0 ? 0 : rand(1000)]));
    const sorted = voters.map((v) => match.get(v) ?? 0).sort((a, b) => b - a);
    assert.equal(quorumIndex(voters, (v) => match.get(v) ?? 0), sorted[Math.floor(voters.length / 2)], JSON.stringify([...match]));
  }
});
