// The member's client listeners: a net.Server per --listen-client-urls entry. The member owns
// the sockets and hands each connection to grpc-js through a connection injector after a
// sniffing step (connection-sniff.ts), rather than letting grpc-js bind the port.
import * as grpc from '@grpc/grpc-js';
import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { sniffConnection } from './connection-sniff';

/** The host and port a client URL listens on: localhost is 127.0.0.1, no port is 2379. */
export function listenAddress(url: string): { host: string; port: number } {
  const u = new URL(url);
  const host = u.hostname === 'localhost' ? '127.0.0.1' : u.hostname.replace(/^\[|\]$/g, '');
  return { host, port: u.port === '' ? 2379 : Number(u.port) };
}

export class ClientListeners {
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly injector: grpc.ConnectionInjector;
  private closed = false;

  constructor(
    grpcServer: grpc.Server,
    private readonly log: Logger,
  ) {
    this.injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  }

  /** Starts listening on a client URL; resolves with the port bound (port 0 picks one). */
  listen(url: string): Promise<number> {
    const { host, port } = listenAddress(url);
    // TCP_NODELAY, as Go (and so etcd) sets on every connection: small replies go out at once.
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.on('error', (err) => this.log.error({ err, url }, 'client listener failed'));
        const addr = server.address();
        resolve(typeof addr === 'object' && addr !== null ? addr.port : port);
      });
    });
  }

  /** Stops accepting and drops every connection, served or not yet. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.servers) s.close();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    this.injector.destroy();
  }

  private accept(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    sniffConnection(socket, this.log, ({ connection }) => this.serve(connection));
  }

  private serve(connection: Duplex): void {
    // HTTP/1.x is to be routed here by the sniffed protocol; until then grpc-js refuses it.
    if (this.closed) connection.destroy();
    else this.injector.injectConnection(connection);
  }
}
