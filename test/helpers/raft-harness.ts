// For unit tests of the pure raft module: its LogStorage held in an array (entries 1..n, nothing
// compacted away), and a group of members on a simulated network (Readies run and messages
// delivered by hand, no timers).
import assert from 'node:assert/strict';
import { Raft, type RaftConfig } from '../../src/raft/raft';
import type { LogStorage } from '../../src/raft/log';
import { Role, type Entry, type Message } from '../../src/raft/types';

export class MemoryStorage implements LogStorage {
  constructor(public log: Entry[] = []) {}
  firstIndex(): number {
    return 1;
  }
  lastIndex(): number {
    return this.log.length;
  }
  term(i: number): number {
    return i === 0 ? 0 : this.log[i - 1].term;
  }
  entries(lo: number, hi: number): Entry[] {
    return this.log.slice(lo - 1, hi - 1);
  }
  /** Writes entries at their indexes, dropping whatever followed. */
  append(es: Entry[]): void {
    if (es.length === 0) return;
    this.log = [...this.log.slice(0, es[0].index - 1), ...es];
  }
}

export interface Member {
  raft: Raft;
  storage: MemoryStorage;
  /** Sizes (entry counts) of the committed batches handed out, Ready by Ready. */
  applyBatches: number[];
  applied: string[];
  logs: string[];
}

export type Limits = Pick<RaftConfig, 'maxUncommittedEntriesBytes' | 'maxSizePerMsgBytes' | 'maxCommittedSizePerReadyBytes'>;

export function cluster(ids: string[], limits: Limits): Map<string, Member> {
  const members = new Map<string, Member>();
  ids.forEach((id, k) => {
    const storage = new MemoryStorage();
    const logs: string[] = [];
    const raft = new Raft({ id, voters: ids, storage, hardState: { term: 0, vote: '', commit: 0 }, applied: 0, electionTicks: 10, heartbeatTicks: 1, seed: 11 + k, logger: (msg) => logs.push(msg), ...limits });
    members.set(id, { raft, storage, applyBatches: [], applied: [], logs });
  });
  return members;
}

/** Runs Readies and delivers messages among members not down; returns the messages sent. */
export function settle(members: Map<string, Member>, down: Set<string> = new Set()): Message[] {
  const sent: Message[] = [];
  for (let round = 0; round < 200; round++) {
    const inFlight: Message[] = [];
    let readies = 0;
    for (const [id, m] of members) {
      if (down.has(id) || !m.raft.hasReady()) continue;
      readies++;
      const rd = m.raft.ready();
      m.storage.append(rd.entries);
      if (rd.committedEntries.length > 0) m.applyBatches.push(rd.committedEntries.length);
      for (const e of rd.committedEntries) if (e.data.length > 0) m.applied.push(e.data.toString());
      inFlight.push(...rd.messages);
      m.raft.advance(rd);
    }
    if (readies === 0) return sent;
    sent.push(...inFlight);
    for (const msg of inFlight) if (!down.has(msg.to)) members.get(msg.to)?.raft.step(msg);
  }
  throw new Error('no quiescence');
}

export function get(members: Map<string, Member>, id: string): Member {
  const m = members.get(id);
  if (m === undefined) throw new Error(`no member ${id}`);
  return m;
}

/** Member 1 campaigns and wins (the others up); its first entry commits. */
export function electOne(members: Map<string, Member>): Member {
  const one = get(members, '1');
  one.raft.campaign();
  settle(members);
  assert.equal(one.raft.role, Role.Leader);
  return one;
}

/** The members that were down come back: a heartbeat makes the leader find what they lack. */
export function heal(members: Map<string, Member>, leader: Member): Message[] {
  leader.raft.tick();
  return settle(members);
}
