// Tells a dead peer connection from a quiet one. A network fault that drops packets while the
// TCP connection stays open gives neither end an error: writes are accepted, nothing arrives,
// and after the fault HTTP/2's flow-control windows stay used up by the bytes that were lost, so
// the stream never moves again even though the network works. Two checks catch both halves:
//   - PINGs (not flow-controlled) every interval: no answer for deadMs means the path is dead;
//   - writes handed to the stream must complete (leave for the socket): one waiting for deadMs
//     means the stream is stuck (a window that never reopens), even while PINGs come back.
// A session that has not connected within deadMs is dead too. The caller drops the session and
// dials again. Nothing here keeps the process alive (the timer is unref'd).
import type * as http2 from 'node:http2';

export interface LivenessOptions {
  /** How often to ping and check. */
  intervalMs: number;
  /** Silence (no PING answer, no write completed while some wait) after which the session is dead. */
  deadMs: number;
}

/** The peer-liveness bounds for a given election timeout: a dead peer is found within two. */
export function livenessFor(electionTimeoutMs: number): LivenessOptions {
  const deadMs = Math.max(1000, 2 * electionTimeoutMs);
  return { intervalMs: Math.max(50, Math.floor(deadMs / 8)), deadMs };
}

export class SessionLiveness {
  private lastAnswerMs = Date.now();
  private pendingWrites = 0;
  /** When the oldest waiting write was made, or the last one completed, whichever is later. */
  private writesMovedMs = 0;
  private pinging = false;
  private readonly timer: NodeJS.Timeout;
  private dead = false;

  constructor(
    private readonly session: http2.Http2Session,
    private readonly o: LivenessOptions,
    private readonly onDead: (reason: string) => void,
    /** Each PING's round trip, in seconds (etcd_network_peer_round_trip_time_seconds). */
    private readonly onRoundTrip?: (seconds: number) => void,
  ) {
    this.timer = setInterval(() => this.check(), o.intervalMs);
    this.timer.unref();
    session.once('close', () => this.stop());
  }

  /** Writes on a stream of the session, tracking the write until it leaves for the socket. */
  write(stream: http2.Http2Stream, chunk: Buffer): boolean {
    if (this.pendingWrites === 0) this.writesMovedMs = Date.now();
    this.pendingWrites++;
    return stream.write(chunk, () => {
      this.pendingWrites--;
      this.writesMovedMs = Date.now();
    });
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private check(): void {
    if (this.dead) return;
    const t = Date.now();
    if (this.session.destroyed) return this.stop();
    if (t - this.lastAnswerMs > this.o.deadMs) {
      return this.die(this.session.connecting ? `no connection within ${this.o.deadMs} ms` : `no PING answer within ${this.o.deadMs} ms`);
    }
    if (this.pendingWrites > 0 && t - this.writesMovedMs > this.o.deadMs) {
      return this.die(`${this.pendingWrites} writes stalled for ${this.o.deadMs} ms`);
    }
    if (this.session.connecting || this.pinging) return;
    this.pinging = true;
    let sent = false;
    try {
      sent = this.session.ping((err, durationMs) => {
        this.pinging = false;
        if (err !== null) return;
        this.lastAnswerMs = Date.now();
        this.onRoundTrip?.(durationMs / 1000);
      });
    } catch {
      // closing: its 'close' stops this
    }
    if (!sent) this.pinging = false;
  }

  private die(reason: string): void {
    this.dead = true;
    this.stop();
    this.onDead(reason);
  }
}
