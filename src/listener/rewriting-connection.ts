// A client connection served through AuthorityRewriter for its lifetime: grpc-js gets this
// Duplex instead of the socket. Inbound bytes go through the rewriter, outbound bytes straight
// to the socket. Each side's backpressure reaches the other (pause the socket while Node's
// session is not reading; hold write callbacks until the socket drains), and the end, an error
// or a close of either side ends the other.
//
// Node wraps a Duplex that is not a net.Socket in a JSStreamSocket, which allows one write in
// flight and finishes it a setImmediate after our write callback. A session destroyed inside that
// window writes its GOAWAY into a write still in flight and Node aborts the whole process on an
// internal assertion (seen when etcdctl reset its connection right after an answer); a shutdown
// in flight is refused the same way, so our end is done as soon as the socket is asked to end. An error
// or a close of the socket first releases the callbacks held for 'drain', then reaches the session
// only after two turns of the check phase, when every finished write has been booked.
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { AuthorityRewriter } from './authority-rewriter';

export class RewritingConnection extends Duplex {
  constructor(
    private readonly socket: Socket,
    private readonly rewriter: AuthorityRewriter,
    /** Already-rewritten bytes from before this connection existed. */
    initial: Buffer[],
  ) {
    super({ allowHalfOpen: false });
    for (const b of initial) this.push(b);
    socket.on('drain', () => this.releaseWrites());
    socket.on('data', (chunk: Buffer) => {
      let out: Buffer[];
      try {
        out = this.rewriter.push(chunk);
      } catch (err) {
        // Whatever a client sends costs it its connection, never the member.
        socket.pause();
        this.endForSocket(err as Error);
        return;
      }
      let full = false;
      for (const b of out) full = !this.push(b) || full;
      if (full) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.endForSocket(err));
    socket.on('close', () => this.endForSocket());
  }

  /** Write callbacks waiting for the socket to drain. */
  private held: ((err?: Error | null) => void)[] = [];
  private ending = false;

  private releaseWrites(): void {
    const held = this.held;
    this.held = [];
    for (const cb of held) cb();
  }

  /** Ends this connection for an error or a close of the socket (see the top of the file for the timing). */
  private endForSocket(err?: Error): void {
    if (this.ending) return;
    this.ending = true;
    this.socket.destroy();
    this.releaseWrites();
    setImmediate(() => setImmediate(() => this.destroy(err)));
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }

  get remoteFamily(): string | undefined {
    return this.socket.remoteFamily;
  }

  get localAddress(): string | undefined {
    return this.socket.localAddress;
  }

  get localPort(): number | undefined {
    return this.socket.localPort;
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.ending) return callback();
    if (this.socket.write(chunk)) callback();
    else this.held.push(callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (err?: Error | null) => void): void {
    if (this.ending) return callback();
    this.socket.cork();
    let ok = true;
    for (const { chunk } of chunks) ok = this.socket.write(chunk);
    this.socket.uncork();
    if (ok) callback();
    else this.held.push(callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    // Done at once, not when the socket has flushed: while Node's session waits for this
    // shutdown, a write of its own (a GOAWAY when the client resets) trips the same assertion.
    if (!this.ending) this.socket.end();
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.socket.destroy();
    callback(err);
  }
}
