// What one Ready sends: a leader owes each follower one append for everything proposed since the
// last Ready (not one per proposal), a follower forwards its proposals to the leader in one
// message, and the appends unanswered by a follower are bounded in bytes as well as in number,
// so that a stopped follower falls behind to a snapshot instead of having the log queued toward
// it. Pure: members on a simulated network, no timers.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_INFLIGHT_BYTES } from '../../src/raft/progress';
import { MessageType, type Message } from '../../src/raft/types';
import { cluster, electOne, get, settle, type Member } from '../helpers/raft-harness';

const bytes = (n: number, tag = 'x'): Buffer => Buffer.alloc(n, tag);
const appsTo = (ms: Message[], to: string): Message[] => ms.filter((m) => m.type === MessageType.App && m.to === to);

describe('raft: one message per peer per Ready', () => {
  test("a leader's proposals between two Readies go to each follower in one append", () => {
    const members = cluster(['1', '2', '3'], {});
    const leader = electOne(members);
    for (let k = 0; k < 20; k++) leader.raft.propose([bytes(10, String.fromCharCode(97 + k))]);
    const rd = leader.raft.ready();
    for (const peer of ['2', '3']) {
      const apps = appsTo(rd.messages, peer);
      assert.equal(apps.length, 1, `one append to ${peer}`);
      assert.equal(apps[0].entries.length, 20);
    }
    leader.storage.append(rd.entries);
    leader.raft.advance(rd);
    // Delivered, the twenty commit and apply everywhere, in order.
    for (const msg of rd.messages) get(members, msg.to).raft.step(msg);
    settle(members);
    for (const id of ['1', '2', '3']) assert.deepEqual(get(members, id).applied, Array.from({ length: 20 }, (_, k) => String.fromCharCode(97 + k).repeat(10)), `applied on ${id}`);
  });

  test('more than one message holds goes out in as many appends, in order, in the same Ready', () => {
    const members = cluster(['1', '2', '3'], { maxSizePerMsgBytes: 256 * 1024 });
    const leader = electOne(members);
    for (let k = 0; k < 10; k++) leader.raft.propose([bytes(100 * 1024, String(k))]);
    const rd = leader.raft.ready();
    for (const peer of ['2', '3']) {
      const apps = appsTo(rd.messages, peer);
      assert.equal(apps.length, 5, `appends to ${peer}`);
      const indexes = apps.flatMap((m) => m.entries.map((e) => e.index));
      assert.deepEqual(indexes, Array.from({ length: 10 }, (_, k) => indexes[0] + k), 'each entry once, in order');
    }
    leader.storage.append(rd.entries);
    leader.raft.advance(rd);
    for (const msg of rd.messages) get(members, msg.to).raft.step(msg);
    settle(members);
    assert.equal(get(members, '3').applied.length, 10);
  });

  test("a follower's proposals between two Readies go to the leader in one message", () => {
    const members = cluster(['1', '2', '3'], {});
    electOne(members);
    const follower = get(members, '2');
    for (let k = 0; k < 15; k++) assert.equal(follower.raft.propose([bytes(8, String(k % 10))]), 0);
    const props = follower.raft.ready().messages.filter((m) => m.type === MessageType.Prop);
    assert.equal(props.length, 1);
    assert.equal(props[0].to, '1');
    assert.equal(props[0].entries.length, 15);
    get(members, '1').raft.step(props[0]);
    settle(members);
    assert.equal(get(members, '3').applied.length, 15, 'all fifteen applied on the third member');
  });

  test("a follower's proposals past MaxSizePerMsg start a second message", () => {
    const members = cluster(['1', '2', '3'], { maxSizePerMsgBytes: 1000 });
    electOne(members);
    const follower = get(members, '2');
    for (let k = 0; k < 10; k++) follower.raft.propose([bytes(300)]);
    const props = follower.raft.ready().messages.filter((m) => m.type === MessageType.Prop);
    assert.ok(props.length >= 3, `${props.length} messages`);
    assert.equal(props.reduce((n, m) => n + m.entries.length, 0), 10, 'no proposal lost or repeated');
    for (const m of props.slice(0, -1)) assert.ok(m.entries.reduce((n, e) => n + e.data.length, 0) >= 1000 - 324, 'each full message is near the bound');
  });

  test('a stopped follower is sent at most MAX_INFLIGHT_BYTES of appends (at least one), then nothing until it answers', () => {
    const members = cluster(['1', '2', '3'], { maxSizePerMsgBytes: 256 * 1024 });
    const leader = electOne(members);
    const down = new Set(['3']);
    const value = 100 * 1024;
    let toThree = 0;
    let messages = 0;
    for (let k = 0; k < 120; k++) {
      leader.raft.propose([bytes(value)]);
      for (const m of settle(members, down)) {
        if (m.type === MessageType.App && m.to === '3') {
          toThree += m.entries.reduce((n, e) => n + e.data.length, 0);
          messages++;
        }
      }
    }
    assert.equal(get(members, '2').applied.length, 120, 'the quorum goes on');
    assert.ok(toThree >= MAX_INFLIGHT_BYTES - value && toThree <= MAX_INFLIGHT_BYTES + 256 * 1024, `${toThree} bytes in ${messages} appends to the stopped follower`);
  });

  test('a follower slow to answer is sent nothing twice: a heartbeat lets one more append go, not a resend', () => {
    const members = cluster(['1', '2', '3'], { maxSizePerMsgBytes: 256 * 1024 });
    const leader = electOne(members);
    // Member 3 gets and stores every append but holds its answers (a disk that is slow to sync);
    // it answers heartbeats. Each round: a proposal of 100 KiB, then a heartbeat.
    const held: Message[] = [];
    const sentTo3 = new Map<number, number>();
    const round = (): void => {
      for (let r = 0; r < 200; r++) {
        const out = readyAll(members);
        if (out.length === 0) return;
        for (const m of out) {
          if (m.type === MessageType.App && m.to === '3') for (const e of m.entries) sentTo3.set(e.index, (sentTo3.get(e.index) ?? 0) + 1);
          if (m.from === '3' && m.type === MessageType.AppResp) held.push(m);
          else get(members, m.to).raft.step(m);
        }
      }
      throw new Error('no quiescence');
    };
    for (let k = 0; k < 80; k++) {
      leader.raft.propose([bytes(100 * 1024)]);
      round();
      leader.raft.tick();
      round();
    }
    const twice = [...sentTo3].filter(([, n]) => n > 1).map(([i]) => i);
    assert.deepEqual(twice, [], 'entries sent to member 3 more than once');
    assert.ok(sentTo3.size > MAX_INFLIGHT_BYTES / (100 * 1024), `past the full pipeline, one append per heartbeat (${sentTo3.size} entries)`);
    // Its answers arrive at last: it has everything, and the leader knows it.
    for (const m of held.splice(0)) leader.raft.step(m);
    round();
    leader.raft.tick();
    round();
    assert.equal(get(members, '3').applied.length, 80);
    assert.equal(get(members, '3').storage.lastIndex(), leader.storage.lastIndex());
  });
});

/** One Ready from each member that has one (stored, applied); the messages they send. */
function readyAll(members: Map<string, Member>): Message[] {
  const out: Message[] = [];
  for (const m of members.values()) {
    if (!m.raft.hasReady()) continue;
    const rd = m.raft.ready();
    m.storage.append(rd.entries);
    for (const e of rd.committedEntries) if (e.data.length > 0) m.applied.push(e.data.toString());
    for (const msg of rd.messages) out.push(msg);
    m.raft.advance(rd);
  }
  return out;
}
