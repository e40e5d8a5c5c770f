// The raft core's LogStorage held in an array, for unit tests of the pure raft module: entries
// 1..n, nothing compacted away.
import type { LogStorage } from '../../src/raft/log';
import type { Entry } from '../../src/raft/types';

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
