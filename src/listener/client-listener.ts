// The member's client listeners: a net.Server per client URL. The member owns the sockets; a
// sniffing step (connection-sniff.ts) looks at each connection's first bytes and hands HTTP/2 to
// the gRPC server (api/grpc-server.ts) and HTTP/1.x to the member's HTTP router, one port for
// both, as etcd multiplexes its client port with cmux.
//
// https:// and unixs:// URLs are served with TLS (tls/terminator.ts) first, as etcd 3.5 serves
// them: ALPN h2 and http/1.1; after the handshake, HTTP/2 goes to the gRPC server when its first request
// is gRPC and to the HTTP router otherwise (etcd's Go HTTP server routes each request by
// Content-Type), anything else to the HTTP router without cmux's request-line test. unix:// and
// unixs:// listen on the socket file named by the URL's host and path, as etcd does.
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { TlsCredentials } from '../tls/credentials';
import { TlsTerminator } from '../tls/terminator';
import type { TlsInfo } from '../tls/tls-info';
import { sniffConnection, type Sniffed } from './connection-sniff';
import { HttpConnections } from './http-connections';
import type { HttpRouter } from './http-router';
import { Http2Requests } from './http2-requests';
import { OpenSockets } from './open-sockets';
import { trackClientSocket } from '../metrics/client-bytes';
import type { ClientGrpcServer } from '../api/grpc-server';

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

/** The socket file of a unix:// or unixs:// URL (etcd: host + path), or undefined for TCP. */
export function unixSocketPath(url: string): string | undefined {
  const u = new URL(url);
  return u.protocol === 'unix:' || u.protocol === 'unixs:' ? u.host + u.pathname : undefined;
}

export function isSecureUrl(url: string): boolean {
  const p = new URL(url).protocol;
  return p === 'https:' || p === 'unixs:';
}

export class ClientListeners {
  private readonly servers: Server[] = [];
  private readonly unixPaths: string[] = [];
  private readonly sockets = new OpenSockets();
  private readonly http: HttpConnections;
  private readonly http2: Http2Requests;
  private credentials: TlsCredentials | undefined;

  /** `tls`: the client TLS (tls-info.ts clientTlsInfo), needed for https:// and unixs:// URLs. */
  constructor(
    private readonly grpcServer: ClientGrpcServer,
    router: HttpRouter,
    private readonly log: Logger,
    private readonly tls?: TlsInfo,
  ) {
    this.http = new HttpConnections((req, res, target, closeAfter) => router.serve(req, res, target, closeAfter), log);
    this.http2 = new Http2Requests(router, log);
  }

  /** Starts listening on a client URL; resolves with the port bound (port 0 picks one; 0 for a unix socket). */
  listen(url: string, traffic: ClientTraffic = 'grpc+http'): Promise<number> {
    let accept = (socket: Socket): void => this.accept(socket, traffic);
    if (isSecureUrl(url)) {
      // etcd's grpc-only TLS port is grpc-go's own, which offers h2 only.
      const terminator = new TlsTerminator(
        this.tlsCredentials(),
        { alpn: traffic === 'grpc' ? ['h2'] : ['h2', 'http/1.1'], checkSan: false, rejectMessage: 'rejected connection on client endpoint', log: this.log },
        (tlsSocket) => this.serveSecure(tlsSocket, traffic),
      );
      accept = (socket) => {
        if (this.admit(socket)) terminator.accept(socket);
      };
    }
    // TCP_NODELAY, as Go (and so etcd) sets on every connection: small replies go out at once.
    // Each connection's bytes count towards etcd_network_client_grpc_{received,sent}_bytes_total.
    const server = createServer({ noDelay: true }, (socket) => {
      trackClientSocket(socket);
      accept(socket);
    });
    this.servers.push(server);
    const path = unixSocketPath(url);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      const listening = (): void => {
        server.off('error', reject);
        server.on('error', (err) => this.log.error({ err, url }, 'client listener failed'));
        const addr = server.address();
        resolve(typeof addr === 'object' && addr !== null ? addr.port : 0);
      };
      if (path !== undefined) {
        // As etcd's unix listener: a socket file left behind is replaced.
        rmSync(path, { force: true });
        this.unixPaths.push(path);
        server.listen(path, listening);
      } else {
        const { host, port } = listenAddress(url);
        server.listen(port, host, listening);
      }
    });
  }

  /** Stops accepting and drops every connection, served or not yet. */
  close(): void {
    if (this.sockets.closed) return;
    this.sockets.closeAll();
    for (const s of this.servers) s.close();
    for (const p of this.unixPaths) rmSync(p, { force: true });
    this.grpcServer.shutdown();
    this.http.close();
    this.http2.close();
  }

  private tlsCredentials(): TlsCredentials {
    if (this.tls === undefined) throw new Error('a TLS client URL needs the client TLS (--cert-file, --key-file or --auto-tls)');
    this.credentials ??= new TlsCredentials(this.tls, 'server');
    return this.credentials;
  }

  /** Tracks a connection until it closes; false (and destroyed) once the listeners closed. */
  private admit(socket: Duplex): boolean {
    return this.sockets.admit(socket);
  }

  private accept(socket: Socket, traffic: ClientTraffic): void {
    if (!this.admit(socket)) return;
    // An HTTP-only listener is cmux with only its HTTP1 matcher: no HTTP/2 to sniff for (and no
    // SETTINGS to send to a client that will be refused).
    if (traffic === 'http') this.http.serve(socket);
    else sniffConnection(socket, this.log, (sniffed) => this.serve(sniffed, traffic));
  }

  private serve({ protocol, connection }: Sniffed, traffic: Exclude<ClientTraffic, 'http'>): void {
    if (this.sockets.closed) connection.destroy();
    else if (protocol === 'other' && traffic === 'grpc+http') this.http.serve(connection);
    // A gRPC-only listener gives the gRPC server everything, as etcd gives grpc-go the whole listener.
    else this.grpcServer.serve(connection);
  }

  /** A connection past its TLS handshake (and etcd's certificate checks). */
  private serveSecure(socket: TLSSocket, traffic: ClientTraffic): void {
    if (!this.admit(socket)) return;
    const h2 = socket.alpnProtocol === 'h2';
    if (!h2) {
      // Go's HTTP server speaks HTTP/1.x to a client that did not negotiate h2. A gRPC-only port
      // is grpc-go's, which reads no HTTP/2 preface from it and closes.
      if (traffic === 'grpc') socket.destroy();
      else this.http.serveTls(socket);
      return;
    }
    if (traffic === 'http') return this.http2.serve(socket);
    sniffConnection(socket, this.log, (sniffed) => {
      if (this.sockets.closed) sniffed.connection.destroy();
      else if (traffic === 'grpc+http' && sniffed.protocol === 'http2' && !sniffed.grpc) this.http2.serve(sniffed.connection);
      else this.grpcServer.serve(sniffed.connection);
    });
  }
}
