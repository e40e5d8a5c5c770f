// --listen-metrics-urls: one listener per URL serving /metrics and /health only, as etcd's
// serveMetrics (a mux with HandleMetrics and HandleHealth, served by Go's http.Serve; no CORS or
// other client-port headers). Requests go through the same Go-shaped HTTP handling as the client
// port.
//
// https:// URLs are served with the client TLS, as etcd 3.5 does (server/embed/etcd.go
// createMetricsListener: transport.NewListenerWithOpts with the ClientTLSInfo):
//  - without a client certificate and key (--cert-file/--key-file or --auto-tls) the member does
//    not start: ErrMissingClientTLSInfoForMetricsURL;
//  - the handshake is the client port's (tls/terminator.ts): a client certificate is required and
//    verified with --client-cert-auth or --trusted-ca-file, --client-cert-allowed-hostname, the
//    CRL, cipher suites and versions, files re-read when they change, refusals logged as
//    "rejected connection on client endpoint";
//  - unlike the client port, the listener is transport's wrapTLS with checkSAN (the ClientTLSInfo
//    never skips it): a client certificate that names IPs or hosts must name the address the
//    connection comes from;
//  - Go's http.Serve on a TLS listener speaks HTTP/2 to a client that negotiates h2 (the
//    ServerConfig offers "h2") and HTTP/1.x to the others.
import { createServer, type Server, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { installHealth, type HealthMember } from '../listener/health';
import { HttpConnections } from '../listener/http-connections';
import { HttpRouter } from '../listener/http-router';
import { OpenSockets } from '../listener/open-sockets';
import { Http2Requests } from '../listener/http2-requests';
import { TlsCredentials } from '../tls/credentials';
import { TlsTerminator } from '../tls/terminator';
import { tlsInfoEmpty, type TlsInfo } from '../tls/tls-info';
import { installMetrics, type MetricsSource } from './http';

/** etcd 3.5's ErrMissingClientTLSInfoForMetricsURL. */
export const MISSING_CLIENT_TLS_FOR_METRICS = 'client TLS key/cert (--cert-file, --key-file) must be provided for metrics secure url';

export interface MetricsListeners {
  /** The ports bound, in URL order (port 0 picks one). */
  ports: number[];
  close(): Promise<void>;
}

/** `tls`: the client TLS (tls-info.ts clientTlsInfo), used for https:// URLs. */
export async function startMetricsListeners(urls: string[], member: HealthMember & MetricsSource, log: Logger, tls?: TlsInfo): Promise<MetricsListeners> {
  const router = new HttpRouter(log, false);
  installMetrics(router, member);
  installHealth(router, member, log);
  const http = new HttpConnections((req, res, target, closeAfter) => router.serve(req, res, target, closeAfter), log);
  const http2 = new Http2Requests(router, log);
  const servers: Server[] = [];
  const sockets = new OpenSockets();
  const admit = (socket: Duplex): boolean => sockets.admit(socket);
  const ports: number[] = [];
  let terminator: TlsTerminator | undefined;
  const serveSecure = (socket: TLSSocket): void => {
    if (!admit(socket)) return;
    if (socket.alpnProtocol === 'h2') http2.serve(socket);
    else http.serveTls(socket);
  };
  const secureTerminator = (): TlsTerminator => {
    if (tls === undefined || tlsInfoEmpty(tls)) throw new Error(MISSING_CLIENT_TLS_FOR_METRICS);
    // Go's server offers "h2" and lets an HTTP/1.1 client in without ALPN; node answers it with "http/1.1".
    terminator ??= new TlsTerminator(new TlsCredentials(tls, 'server'), { alpn: ['h2', 'http/1.1'], checkSan: true, rejectMessage: 'rejected connection on client endpoint', log }, serveSecure);
    return terminator;
  };
  const close = async (): Promise<void> => {
    sockets.closeAll();
    http.close();
    http2.close();
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  };
  try {
    for (const url of urls) {
      const u = new URL(url);
      let accept: (socket: Socket) => void;
      if (u.protocol === 'http:') {
        // A plain Go HTTP server (no cmux in front): every connection goes straight to the parser.
        accept = (socket) => {
          if (admit(socket)) http.serveTls(socket);
        };
      } else if (u.protocol === 'https:') {
        const t = secureTerminator();
        accept = (socket) => {
          if (admit(socket)) t.accept(socket);
        };
      } else {
        throw new Error(`--listen-metrics-urls: ${u.protocol}// is not supported yet (${url})`);
      }
      const server = createServer({ noDelay: true }, accept);
      servers.push(server);
      const host = u.hostname === 'localhost' ? '127.0.0.1' : u.hostname.replace(/^\[|\]$/g, '');
      ports.push(
        await new Promise<number>((resolve, reject) => {
          server.once('error', reject);
          server.listen(u.port === '' ? 80 : Number(u.port), host, () => {
            server.off('error', reject);
            server.on('error', (err) => log.error({ err, url }, 'metrics listener failed'));
            const addr = server.address();
            resolve(typeof addr === 'object' && addr !== null ? addr.port : 0);
          });
        }),
      );
      log.info({ address: url }, 'serving metrics');
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { ports, close };
}
