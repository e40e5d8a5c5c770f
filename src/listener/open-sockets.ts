// The connections a listener has accepted and not yet seen close, so that closing the listener
// closes them too (a net.Server's close() only stops new ones), and one accepted after that is
// refused at once.
import type { Duplex } from 'node:stream';

export class OpenSockets {
  private readonly sockets = new Set<Duplex>();
  private closedFlag = false;

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Tracks a connection until it closes; false (and destroyed) once closeAll() ran. */
  admit(socket: Duplex): boolean {
    if (this.closedFlag) {
      socket.destroy();
      return false;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    return true;
  }

  closeAll(): void {
    this.closedFlag = true;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }
}
