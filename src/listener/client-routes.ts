// What a client URL serves over HTTP/1.x: etcd 3.5's client mux (embed/etcd.go serveClients:
// HandleBasic, HandleMetrics, HandleHealth) as far as it is built. Registered: /version, /health,
// /livez[/<check>], /readyz[/<check>]. Still 404 here, served by etcd: /metrics, /debug/vars and
// the gRPC gateway under /v3/ (their issues register them in this file).
import type { Logger } from 'pino';
import { installHealth, type HealthMember } from './health';
import { HttpRouter } from './http-router';
import { installVersion, type VersionSource } from './version-endpoint';

export type ClientHttpMember = HealthMember & VersionSource;

export function createClientRouter(member: ClientHttpMember, log: Logger): HttpRouter {
  const router = new HttpRouter(log);
  installVersion(router, member);
  installHealth(router, member, log);
  return router;
}
