// One raft node event (a leader change, an applied index) that many requests may wait for at
// once: proposals waiting for a leader, renewals waiting for a new leader's lessor, forwarded
// requests. They share one subscription to the node, held only while someone waits, so a flood of
// requests costs the node one listener, not one each. Bounded: past `max` waiters, a wait is
// refused with `too many requests`.
import { Errors } from '../errors';

export class Signal {
  private readonly waiters = new Set<() => void>();
  private unsubscribe: (() => void) | undefined;

  constructor(
    /** Subscribes to the node's event; returns the unsubscribe function. */
    private readonly subscribe: (fire: () => void) => () => void,
    private readonly max: number,
  ) {}

  /** Resolves at the next event, or after ms at most. */
  next(ms: number): Promise<void> {
    if (this.waiters.size >= this.max) return Promise.reject(Errors.tooManyRequests());
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        if (this.waiters.size === 0) this.release();
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.waiters.add(done);
      this.unsubscribe ??= this.subscribe(() => this.fire());
    });
  }

  /** Wakes every waiter (the member is stopping: they see it and give up). */
  close(): void {
    this.fire();
  }

  private fire(): void {
    for (const done of [...this.waiters]) done();
  }

  private release(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}
