// Raft's byte bounds, counted as etcd-io/raft counts them: a leader's uncommitted tail
// (MaxUncommittedEntriesSize: payload bytes, empty entries free, one proposal into an empty tail
// always taken, shrinking as entries are applied, zero on each new leadership), the entries of one
// append (MaxSizePerMsg), the committed entries of one Ready (MaxCommittedSizePerReady), and the
// ReadIndex requests a leader holds. Pure: members on a simulated network, no timers.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ProposalDroppedError } from '../../src/raft/raft';
import { RaftLog, entrySizeBytes, limitSize } from '../../src/raft/log';
import { MemoryStorage, cluster, electOne, get, heal, settle } from '../helpers/raft-harness';
import { MAX_PENDING_READS } from '../../src/raft/read-only';
import { EntryType, MessageType, Role, emptyMessage, type Entry, type Message } from '../../src/raft/types';

const bytes = (n: number, tag = 'x'): Buffer => Buffer.alloc(n, tag);
const DOWN = new Set(['2', '3']);

describe('raft: uncommitted tail bound (MaxUncommittedEntriesSize)', () => {
  test('a leader takes proposals up to the limit and drops the one that would pass it', () => {
    const members = cluster(['1', '2', '3'], { maxUncommittedEntriesBytes: 100 });
    const leader = electOne(members);
    assert.equal(leader.raft.uncommittedSizeBytes(), 0, "the new leader's empty entry is free");
    for (let k = 0; k < 10; k++) leader.raft.propose([bytes(10)]);
    settle(members, DOWN);
    assert.equal(leader.raft.uncommittedSizeBytes(), 100, 'exactly at the limit is allowed');
    const last = leader.raft.log.lastIndex();
    assert.throws(() => leader.raft.propose([bytes(1)]), (e: unknown) => e instanceof ProposalDroppedError && /uncommitted/.test(e.message));
    assert.equal(leader.raft.log.lastIndex(), last, 'nothing appended');
    assert.equal(leader.raft.uncommittedSizeBytes(), 100);
    assert.equal(leader.logs.filter((l) => l.includes('would exceed uncommitted entry size limit; dropping proposal')).length, 1);
    // Told once per episode, not once per dropped proposal.
    assert.throws(() => leader.raft.propose([bytes(1)]), ProposalDroppedError);
    assert.equal(leader.logs.filter((l) => l.includes('dropping proposal')).length, 1);
  });

  test('empty entries are free, and a batch that does not fit is refused whole', () => {
    const members = cluster(['1', '2', '3'], { maxUncommittedEntriesBytes: 100 });
    const leader = electOne(members);
    leader.raft.propose([bytes(95)]);
    const last = leader.raft.log.lastIndex();
    assert.throws(() => leader.raft.propose([bytes(3), bytes(3)]), ProposalDroppedError);
    assert.equal(leader.raft.log.lastIndex(), last, 'no part of the batch was appended');
    assert.equal(leader.raft.propose([Buffer.alloc(0)]), last + 1, 'an empty proposal goes in over the limit');
    assert.equal(leader.raft.propose([bytes(5)]), last + 2, 'what still fits goes in');
    assert.equal(leader.raft.uncommittedSizeBytes(), 100);
  });

  test('one proposal into an empty tail is taken whatever its size; nothing more until it drains', () => {
    const members = cluster(['1', '2', '3'], { maxUncommittedEntriesBytes: 100 });
    const leader = electOne(members);
    leader.raft.propose([bytes(500)]);
    settle(members, DOWN);
    assert.equal(leader.raft.uncommittedSizeBytes(), 500);
    assert.throws(() => leader.raft.propose([bytes(1)]), ProposalDroppedError);
    // The followers come back: it commits, is applied, and the count drains.
    heal(members, leader);
    assert.equal(leader.raft.uncommittedSizeBytes(), 0);
    leader.raft.propose([bytes(1)]);
  });

  test('the count shrinks as entries are applied, Ready by Ready', () => {
    // One applied entry per Ready: each one's payload leaves the count as it is handed out.
    const members = cluster(['1', '2', '3'], { maxUncommittedEntriesBytes: 1000, maxCommittedSizePerReadyBytes: 1 });
    const leader = electOne(members);
    for (let k = 0; k < 5; k++) leader.raft.propose([bytes(10)]);
    settle(members, DOWN);
    assert.equal(leader.raft.uncommittedSizeBytes(), 50);
    // Followers come back; the leader commits all five at once but applies them one per Ready.
    leader.raft.tick();
    const counts: number[] = [];
    for (let round = 0; round < 100; round++) {
      const ready = [...members.values()].filter((m) => m.raft.hasReady());
      if (ready.length === 0) break;
      const inFlight: Message[] = [];
      for (const m of ready) {
        const rd = m.raft.ready();
        m.storage.append(rd.entries);
        inFlight.push(...rd.messages);
        m.raft.advance(rd);
        if (m === leader && rd.committedEntries.length > 0) counts.push(leader.raft.uncommittedSizeBytes());
      }
      for (const msg of inFlight) get(members, msg.to).raft.step(msg);
    }
    assert.deepEqual(counts, [40, 30, 20, 10, 0]);
  });

  test('the count starts at zero with each leadership, also over entries left uncommitted', () => {
    const members = cluster(['1', '2', '3'], { maxUncommittedEntriesBytes: 100 });
    const leader = electOne(members);
    const two = get(members, '2');
    for (let k = 0; k < 10; k++) leader.raft.propose([bytes(10)]);
    settle(members, DOWN);
    assert.equal(leader.raft.uncommittedSizeBytes(), 100);
    // A higher term deposes it: as a follower it counts nothing.
    leader.raft.step(emptyMessage(MessageType.Heartbeat, '2', '1', leader.raft.term + 1));
    assert.equal(leader.raft.role, Role.Follower);
    assert.equal(leader.raft.uncommittedSizeBytes(), 0);
    leader.raft.ready();
    // It wins again with 2's vote only (a transfer-style campaign passes 2's lease), before its
    // 100 bytes from the earlier term reach anyone: they stay uncommitted but are not counted.
    leader.raft.campaign(true);
    const votes = leader.raft.ready().messages.filter((m) => m.to === '2');
    for (const m of votes) two.raft.step(m);
    for (const m of two.raft.ready().messages) if (m.to === '1') leader.raft.step(m);
    assert.equal(leader.raft.role, Role.Leader);
    assert.ok(leader.raft.log.committed < leader.raft.log.lastIndex() - 10, 'the earlier entries are uncommitted');
    assert.equal(leader.raft.uncommittedSizeBytes(), 0);
    leader.raft.propose([bytes(100)]);
    assert.equal(leader.raft.uncommittedSizeBytes(), 100, 'counted from zero, not from the 100 bytes it inherited');
  });

  test('forwarded proposals over the limit are dropped silently, and a dropped ConfChange does not block the next', () => {
    const members = cluster(['1', '2', '3'], { maxUncommittedEntriesBytes: 100 });
    const leader = electOne(members);
    leader.raft.propose([bytes(100)]);
    settle(members, DOWN);
    const last = leader.raft.log.lastIndex();
    const forwarded = { ...emptyMessage(MessageType.Prop, '2', '1', 0), entries: [{ term: 0, index: 0, type: EntryType.Normal, data: bytes(10) }] };
    leader.raft.step(forwarded);
    const cc = { ...emptyMessage(MessageType.Prop, '2', '1', 0), entries: [{ term: 0, index: 0, type: EntryType.ConfChange, data: bytes(10, 'c') }] };
    leader.raft.step(cc);
    assert.equal(leader.raft.log.lastIndex(), last, 'neither was appended');
    assert.throws(() => leader.raft.proposeConfChange(bytes(10, 'c')), (e: unknown) => e instanceof ProposalDroppedError && /uncommitted/.test(e.message));
    heal(members, leader);
    assert.equal(leader.raft.uncommittedSizeBytes(), 0);
    // Had the dropped change been taken as pending, this one would be refused as "in progress".
    assert.ok(leader.raft.proposeConfChange(bytes(10, 'c')) > last);
  });

  test('a follower forwards without counting; the leader counts what it appends', () => {
    const members = cluster(['1', '2', '3'], { maxUncommittedEntriesBytes: 100 });
    const leader = electOne(members);
    const follower = get(members, '2');
    follower.raft.propose([bytes(60)]);
    assert.equal(follower.raft.uncommittedSizeBytes(), 0);
    // Deliver the forwarded proposal but keep 3 down and 2's answers from the leader.
    const rd = follower.raft.ready();
    follower.raft.advance(rd);
    for (const m of rd.messages) leader.raft.step(m);
    assert.equal(leader.raft.uncommittedSizeBytes(), 60);
  });
});

describe('raft: bytes per append and per Ready', () => {
  const entry = (index: number, size: number): Entry => ({ index, term: 1, type: EntryType.Normal, data: bytes(size) });

  test('limitSize keeps whole entries within the bound, and always the first', () => {
    const es = [entry(1, 10), entry(2, 10), entry(3, 10)];
    const one = entrySizeBytes(es[0]);
    assert.equal(limitSize(es, 0).length, 1);
    assert.equal(limitSize(es, one).length, 1);
    assert.equal(limitSize(es, 2 * one).length, 2);
    assert.equal(limitSize(es, 2 * one + 1).length, 2);
    assert.equal(limitSize(es, Infinity).length, 3);
    // The raft log cuts stable and unstable entries alike.
    const storage = new MemoryStorage();
    storage.append(es);
    const log = new RaftLog(storage, 0, 0);
    log.append([entry(4, 10)]);
    assert.deepEqual(log.entries(1, 5, 3 * one).map((e) => e.index), [1, 2, 3]);
    assert.deepEqual(log.entries(3, 5, 2 * one).map((e) => e.index), [3, 4]);
    assert.deepEqual(log.entries(2, 5).map((e) => e.index), [2, 3, 4]);
  });

  test('a follower catching up gets appends within maxSizePerMsgBytes', () => {
    const members = cluster(['1', '2', '3'], { maxSizePerMsgBytes: 200 });
    const leader = electOne(members);
    for (let k = 0; k < 12; k++) leader.raft.propose([bytes(50)]);
    settle(members, new Set(['3']));
    const sent = heal(members, leader);
    const appends = sent.filter((m) => m.type === MessageType.App && m.to === '3' && m.entries.length > 0);
    assert.ok(appends.length >= 4, `caught up in several appends (${appends.length})`);
    for (const a of appends) assert.ok(a.entries.length <= 2, `at most 2 entries of ${entrySizeBytes(a.entries[0])} bytes within 200 (got ${a.entries.length})`);
    assert.equal(get(members, '3').raft.log.lastIndex(), leader.raft.log.lastIndex());
  });

  test('committed entries are applied in Readies of at most maxCommittedSizePerReadyBytes', () => {
    const members = cluster(['1'], { maxCommittedSizePerReadyBytes: 200 });
    const one = get(members, '1');
    one.raft.campaign();
    settle(members);
    one.raft.propose(Array.from({ length: 7 }, (_, k) => bytes(50, String(k))));
    settle(members);
    assert.deepEqual(one.applyBatches.slice(1), [2, 2, 2, 1], 'two entries of 74 bytes fit in 200, three do not');
    assert.deepEqual(one.applied, Array.from({ length: 7 }, (_, k) => String(k).repeat(50)), 'all of them, in order');
  });
});

describe('raft: pending ReadIndex requests', () => {
  test('a leader that cannot reach a quorum holds at most MAX_PENDING_READS reads', () => {
    const members = cluster(['1', '2', '3'], {});
    const leader = electOne(members);
    for (let k = 0; k < MAX_PENDING_READS; k++) leader.raft.readIndex(Buffer.from(`r${k}`));
    assert.throws(() => leader.raft.readIndex(Buffer.from('one more')), (e: unknown) => e instanceof ProposalDroppedError && /read/.test(e.message));
    // A follower's read past the bound is dropped (it times out), not thrown at the follower.
    leader.raft.step({ ...emptyMessage(MessageType.ReadIndex, '2', '1', 0), context: Buffer.from('from 2') });
    const sent = settle(members);
    assert.equal(sent.filter((m) => m.type === MessageType.ReadIndexResp).length, 0, 'no answer to the read past the bound');
    // Once answered, there is room again.
    leader.raft.readIndex(Buffer.from('later'));
  });
});
