// Subscribers to one kind of raft node event, and waiters for a condition on the node's state.
// Both are bounded: a caller that subscribes per request and forgets to unsubscribe fills the
// bound and fails loudly at subscribe time, instead of growing the node's memory and slowing every
// Ready. Neither may break the Ready loop: a listener that throws is logged and skipped.
import type { Logger } from 'pino';

/** Listeners of one kind a node holds at most (one per watch stream or waiting request is normal). */
export const MAX_LISTENERS = 10_000;

export class ListenerLimitError extends Error {}

interface Registration<A extends unknown[]> {
  fn: (...args: A) => void;
}

export class Listeners<A extends unknown[]> {
  // Wrapped so that one function may be registered twice and removed once per registration.
  private readonly registered = new Set<Registration<A>>();

  constructor(
    private readonly what: string,
    private readonly log: Logger | undefined,
    private readonly max = MAX_LISTENERS,
  ) {}

  get size(): number {
    return this.registered.size;
  }

  /** Adds a listener; returns the function that removes it (idempotent). */
  add(fn: (...args: A) => void): () => void {
    if (this.registered.size >= this.max) {
      const msg = `raftnode: more than ${this.max} ${this.what} listeners (a caller does not unsubscribe?)`;
      this.log?.error({ listeners: this.registered.size }, msg);
      throw new ListenerLimitError(msg);
    }
    const reg: Registration<A> = { fn };
    this.registered.add(reg);
    return () => {
      this.registered.delete(reg);
    };
  }

  /**
   * Calls every listener registered now. One added while this runs waits for the next event
   * (so a listener that subscribes again cannot loop); one removed while this runs is skipped.
   */
  emit(...args: A): void {
    if (this.registered.size === 0) return;
    for (const reg of [...this.registered]) {
      if (!this.registered.has(reg)) continue;
      try {
        reg.fn(...args);
      } catch (err) {
        this.log?.error({ err }, `raftnode: a ${this.what} listener threw`);
      }
    }
  }
}

interface Waiter {
  predicate: () => boolean;
  settle: (met: boolean) => void;
  timer: NodeJS.Timeout | undefined;
}

/** Promises that resolve once a predicate over the node's state holds (see RaftNode.waitFor). */
export class Waiters {
  private readonly waiting = new Set<Waiter>();

  constructor(
    private readonly log: Logger | undefined,
    private readonly max = MAX_LISTENERS,
  ) {}

  get size(): number {
    return this.waiting.size;
  }

  /**
   * Resolves true once predicate() holds (checked now and at each check()), false after timeoutMs
   * or when the node stops; rejects if the predicate throws.
   */
  wait(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
    try {
      if (predicate()) return Promise.resolve(true);
    } catch (err) {
      return Promise.reject(err);
    }
    if (timeoutMs <= 0) return Promise.resolve(false);
    if (this.waiting.size >= this.max) {
      const msg = `raftnode: more than ${this.max} waiters (a caller does not bound its waits?)`;
      this.log?.error({ waiters: this.waiting.size }, msg);
      return Promise.reject(new ListenerLimitError(msg));
    }
    return new Promise<boolean>((resolve, reject) => {
      const w: Waiter = { predicate, timer: undefined, settle: () => undefined };
      const done = (): boolean => {
        if (!this.waiting.delete(w)) return false;
        if (w.timer !== undefined) clearTimeout(w.timer);
        return true;
      };
      w.settle = (met) => {
        if (done()) resolve(met);
      };
      // A predicate that throws rejects its own wait, and only that.
      w.predicate = () => {
        try {
          return predicate();
        } catch (err) {
          if (done()) reject(err);
          return false;
        }
      };
      this.waiting.add(w);
      // Not unref'd: someone awaits this timeout; stop() clears it with the wait.
      if (Number.isFinite(timeoutMs)) w.timer = setTimeout(() => w.settle(false), timeoutMs);
    });
  }

  /** The node's state changed: resolves the waits whose predicate holds now. */
  check(): void {
    if (this.waiting.size === 0) return;
    for (const w of [...this.waiting]) if (this.waiting.has(w) && w.predicate()) w.settle(true);
  }

  /** The node stopped: every wait resolves false. */
  close(): void {
    for (const w of [...this.waiting]) w.settle(false);
  }
}
