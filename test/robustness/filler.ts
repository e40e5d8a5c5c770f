// Bulk writers for faults that need many Raft entries quickly (a member down long enough to need a
// snapshot): a few recorded callers putting unique values (f<client>-<n>) on their own keys f/NN,
// one call in flight each, as fast as the cluster takes them. Recorded like every other call, so
// the checkers see these writes as they see the workload's.
import type { Prng } from './prng';
import { bytes, unary } from './rpc';
import { Caller, type WorkloadOptions } from './workload';

export const FILLER_KEYS = Array.from({ length: 16 }, (_, i) => `f/${String(i).padStart(2, '0')}`);

class FillWriter extends Caller {
  private n = 0;

  /** Puts until `progress.ok` reaches `entries` or the deadline passes (progress is shared). */
  async run(progress: { ok: number }, entries: number, deadlineMs: number, now: () => number): Promise<void> {
    while (progress.ok < entries && now() < deadlineMs) {
      if (!this.ensureEndpoint()) return;
      const key = this.prng.pick(FILLER_KEYS);
      const value = `f${this.id}-${this.n++}`;
      const { call } = await this.call({ type: 'put', key, value }, (ep, md) => unary(this.clients.get('KV', ep), 'Put', { key: bytes(key), value: bytes(value) }, this.o.timeoutMs, md), (r) => ({ revision: Number(r.header.revision) }));
      if (call.outcome === 'ok') progress.ok++;
    }
  }
}

export class Filler {
  private readonly writers: FillWriter[];

  /** @param firstId the first recorder client ID of the writers (they take `count` IDs from it) */
  constructor(firstId: number, count: number, prng: Prng, o: WorkloadOptions) {
    this.writers = Array.from({ length: count }, (_, i) => new FillWriter(firstId + i, prng.fork(), o));
  }

  /** Writes `entries` acknowledged puts (or as many as fit in timeoutMs); returns how many. */
  async fill(entries: number, timeoutMs: number, now: () => number): Promise<number> {
    const progress = { ok: 0 };
    const deadline = now() + timeoutMs;
    await Promise.all(this.writers.map((w) => w.run(progress, entries, deadline, now)));
    return progress.ok;
  }

  close(): void {
    for (const w of this.writers) w.close();
  }
}
