// The member's client listeners: a net.Server per client URL. The member owns the sockets; a
// sniffing step (connection-sniff.ts) looks at each connection's first bytes and hands HTTP/2 to
// grpc-js through its connection injector and HTTP/1.x to the member's HTTP router, one port for
// both, as etcd multiplexes its client port with cmux.
import * as grpc from '@grpc/grpc-js';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { sniffConnection, type Sniffed } from './connection-sniff';
import { HttpConnections } from './http-connections';
import type { HttpRouter } from './http-router';

/**
 * What a listener serves. etcd 3.5 serves both on every --listen-client-urls entry; once
 * --listen-client-http-urls is given, those serve HTTP only and the client URLs gRPC only.
 */
export type ClientTraffic = 'grpc+http' | 'grpc' | 'http';

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
  private readonly http: HttpConnections;
  private closed = false;

  constructor(
    grpcServer: grpc.Server,
    router: HttpRouter,
    private readonly log: Logger,
  ) {
    this.injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    this.http = new HttpConnections((req, res, target, closeAfter) => router.serve(req, res, target, closeAfter), log);
  }

  /** Starts listening on a client URL; resolves with the port bound (port 0 picks one). */
  listen(url: string, traffic: ClientTraffic = 'grpc+http'): Promise<number> {
    const { host, port } = listenAddress(url);
    // TCP_NODELAY, as Go (and so etcd) sets on every connection: small replies go out at once.
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket, traffic));
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
    this.http.close();
  }

  private accept(socket: Socket, traffic: ClientTraffic): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    // An HTTP-only listener is cmux with only its HTTP1 matcher: no HTTP/2 to sniff for (and no
    // SETTINGS to send to a client that will be refused).
    if (traffic === 'http') this.http.serve(socket);
    else sniffConnection(socket, this.log, (sniffed) => this.serve(sniffed, traffic));
  }

  private serve({ protocol, connection }: Sniffed, traffic: Exclude<ClientTraffic, 'http'>): void {
    if (this.closed) connection.destroy();
    else if (protocol === 'other' && traffic === 'grpc+http') this.http.serve(connection);
    // A gRPC-only listener gives grpc-js everything, as etcd gives grpc-go the whole listener.
    else this.injector.injectConnection(connection);
  }
}
