// A client connection served through AuthorityRewriter for its lifetime: grpc-js gets this
// Duplex instead of the socket. Inbound bytes go through the rewriter, outbound bytes straight
// to the socket. Each side's backpressure reaches the other (pause the socket while Node's
// session is not reading; hold write callbacks until the socket drains), and the end, an error
// or a close of either side ends the other.
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
    socket.on('data', (chunk: Buffer) => {
      let out: Buffer[];
      try {
        out = this.rewriter.push(chunk);
      } catch (err) {
        // Whatever a client sends costs it its connection, never the member.
        this.destroy(err as Error);
        return;
      }
      let full = false;
      for (const b of out) full = !this.push(b) || full;
      if (full) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
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
    if (this.socket.write(chunk)) callback();
    else this.socket.once('drain', () => callback());
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (err?: Error | null) => void): void {
    this.socket.cork();
    let ok = true;
    for (const { chunk } of chunks) ok = this.socket.write(chunk);
    this.socket.uncork();
    if (ok) callback();
    else this.socket.once('drain', () => callback());
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.socket.end(callback);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.socket.destroy();
    callback(err);
  }
}
