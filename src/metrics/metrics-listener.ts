// --listen-metrics-urls: one plain HTTP listener per URL serving /metrics and /health only, as
// etcd's serveMetrics (a mux with HandleMetrics and HandleHealth). Requests go through the same
// Go-shaped HTTP/1.x handling as the client port. https:// metrics URLs are not served yet (etcd
// uses the client TLS for them): they are refused at start.
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { installHealth, type HealthMember } from '../listener/health';
import { HttpConnections } from '../listener/http-connections';
import { HttpRouter } from '../listener/http-router';
import { installMetrics, type MetricsSource } from './http';

export interface MetricsListeners {
  /** The ports bound, in URL order (port 0 picks one). */
  ports: number[];
  close(): Promise<void>;
}

export async function startMetricsListeners(urls: string[], member: HealthMember & MetricsSource, log: Logger): Promise<MetricsListeners> {
  const router = new HttpRouter(log);
  installMetrics(router, member);
  installHealth(router, member, log);
  const http = new HttpConnections((req, res, target, closeAfter) => router.serve(req, res, target, closeAfter), log);
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  const ports: number[] = [];
  const close = async (): Promise<void> => {
    for (const s of sockets) s.destroy();
    http.close();
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  };
  try {
    for (const url of urls) {
      const u = new URL(url);
      if (u.protocol !== 'http:') throw new Error(`--listen-metrics-urls: ${u.protocol}// is not supported yet (${url})`);
      // A plain Go HTTP server (no cmux in front): every connection goes straight to the parser.
      const server = createServer({ noDelay: true }, (socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
        http.serveTls(socket);
      });
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
