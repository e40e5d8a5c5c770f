// The lines operators grep for, as etcd writes them: raft's election and term changes (etcd-io/raft
// raft.go, through etcd's "raft" zap logger), and the field formats of rafthttp's snapshot logs
// (go-humanize sizes, Go durations).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Raft } from '../../src/raft/raft';
import type { LogStorage } from '../../src/raft/log';
import { goDuration, humanizeBytes } from '../../src/peer/log-format';
import type { Entry, Message } from '../../src/raft/types';

class EmptyStorage implements LogStorage {
  firstIndex(): number {
    return 1;
  }
  lastIndex(): number {
    return 0;
  }
  term(): number {
    return 0;
  }
  entries(): Entry[] {
    return [];
  }
}

describe('raft log lines (etcd-io/raft wording)', () => {
  test('a pre-vote election and the term change it brings', () => {
    const logs = new Map<string, string[]>();
    const members = new Map<string, Raft>();
    for (const id of ['1', '2', '3']) {
      const lines: string[] = [];
      logs.set(id, lines);
      members.set(id, new Raft({ id, voters: ['1', '2', '3'], storage: new EmptyStorage(), hardState: { term: 0, vote: '', commit: 0 }, applied: 0, electionTicks: 10, heartbeatTicks: 1, seed: 5, logger: (msg) => lines.push(msg) }));
    }
    const one = members.get('1');
    const two = members.get('2');
    if (one === undefined || two === undefined) throw new Error('members');
    for (let t = 0; t < 30 && !one.hasReady(); t++) one.tick();
    // Only 1 and 2 talk: 2's grant is the quorum.
    for (let round = 0; round < 10; round++) {
      const msgs: Message[] = [];
      for (const r of [one, two]) if (r.hasReady()) msgs.push(...r.ready().messages);
      for (const m of msgs) if (m.to === '1' || m.to === '2') members.get(m.to)?.step(m);
    }
    const mine = logs.get('1') ?? [];
    const theirs = logs.get('2') ?? [];
    for (const line of [
      '1 is starting a new election at term 0',
      '1 became pre-candidate at term 0',
      '1 [logterm: 0, index: 0] sent MsgPreVote request to 2 at term 0',
      '1 received MsgPreVoteResp from 2 at term 0',
      '1 has received 2 MsgPreVoteResp votes and 0 vote rejections',
      '1 became candidate at term 1',
      '1 [logterm: 0, index: 0] sent MsgVote request to 3 at term 1',
      '1 received MsgVoteResp from 2 at term 1',
      '1 has received 2 MsgVoteResp votes and 0 vote rejections',
      '1 became leader at term 1',
    ]) {
      assert.ok(mine.includes(line), `member 1 logs "${line}"; it logged:\n${mine.join('\n')}`);
    }
    for (const line of [
      '2 [logterm: 0, index: 0, vote: 0] cast MsgPreVote for 1 [logterm: 0, index: 0] at term 0',
      '2 [term: 0] received a MsgVote message with higher term from 1 [term: 1]',
      '2 became follower at term 1',
      '2 [logterm: 0, index: 0, vote: 0] cast MsgVote for 1 [logterm: 0, index: 0] at term 1',
    ]) {
      assert.ok(theirs.includes(line), `member 2 logs "${line}"; it logged:\n${theirs.join('\n')}`);
    }
    assert.equal(one.leader, '1');
  });
});

describe('rafthttp field formats', () => {
  test('sizes as go-humanize Bytes', () => {
    assert.equal(humanizeBytes(0), '0 B');
    assert.equal(humanizeBytes(9), '9 B');
    assert.equal(humanizeBytes(999), '999 B');
    assert.equal(humanizeBytes(1000), '1.0 kB');
    assert.equal(humanizeBytes(1500), '1.5 kB');
    assert.equal(humanizeBytes(6_291_456), '6.3 MB');
    assert.equal(humanizeBytes(82_854_982), '83 MB');
    assert.equal(humanizeBytes(3 * 1024 ** 3), '3.2 GB');
  });

  test('durations as Go time.Duration.String', () => {
    assert.equal(goDuration(0n), '0s');
    assert.equal(goDuration(850n), '850ns');
    assert.equal(goDuration(1_234n), '1.234µs');
    assert.equal(goDuration(1_500_000n), '1.5ms');
    assert.equal(goDuration(2_250_000_000n), '2.25s');
    assert.equal(goDuration(63_500_000_000n), '1m3.5s');
    assert.equal(goDuration(3_600_000_000_000n), '1h0m0s');
  });
});
