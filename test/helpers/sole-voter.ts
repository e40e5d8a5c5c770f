// A RaftNode that is the only voter, on a real LMDB environment and WAL in a directory of the
// caller's: it elects itself at once and commits each proposal in its own Ready. The applier
// records each entry's index and keeps the last one in the store's meta table.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Wal } from '../../src/wal/wal';
import { Backend } from '../../src/backend/backend';
import { RaftNode, type Applier, type RaftNodeOptions } from '../../src/raftnode/node';
import type { ConfChange, Entry } from '../../src/raft/types';

/** The meta key the applier keeps its applied index under. */
export const APPLIED_KEY = 'test-applied';

export interface LogLine {
  level: number;
  msg: string;
  err?: { message: string };
}

export interface SoleVoter {
  backend: Backend;
  node: RaftNode;
  /** JSON log lines the node wrote (info and above). */
  logs: LogLine[];
  applied: number[];
  close(): Promise<void>;
}

/** Options of the node beyond those the harness sets (checkpoint bounds, for one). */
export type ExtraOptions = Partial<Pick<RaftNodeOptions, 'checkpointIntervalMs' | 'checkpointMaxEntries'>>;

export function startSoleVoter(nodeDir: string, extra: ExtraOptions = {}): SoleVoter {
  const backend = new Backend({ dir: join(nodeDir, 'lmdb'), mapSizeBytes: 64 * 1024 * 1024 });
  const { wal, records } = Wal.open(join(nodeDir, 'wal'));
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done): void {
      for (const line of chunk.toString().split('\n')) if (line !== '') logs.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const log = pino({ level: 'info' }, sink);
  const applied: number[] = [];
  const applier: Applier = {
    appliedIndex: () => backend.getMetaNumber(APPLIED_KEY) ?? 0,
    applyEntries(entries: Entry[]): { release: () => void; confChanges: ConfChange[] } {
      backend.putMetaNumber(APPLIED_KEY, entries[entries.length - 1].index);
      for (const e of entries) applied.push(e.index);
      return { release: () => undefined, confChanges: [] };
    },
    restore: () => undefined,
  };
  const node = new RaftNode({ backend, wal, walRecords: records, id: '1', voters: ['1'], applier, tickMs: 10, electionTicks: 10, onFatal: (err) => assert.fail(err), log, ...extra });
  return {
    backend,
    node,
    logs,
    applied,
    async close() {
      node.stop();
      wal.close();
      await backend.close();
    },
  };
}
