// What a client URL serves over HTTP/1.x: etcd 3.5's client mux (embed/etcd.go serveClients:
// HandleBasic, HandleMetrics, HandleHealth) as far as it is built. Registered: /version, /health,
// /livez[/<check>], /readyz[/<check>], /metrics, and (unless --enable-grpc-gateway=false) the gRPC
// gateway under /v3/ and /v3beta/, and (etcd-ts only, unless --enable-ui=false) the web dashboard
// under /ui/. Still 404 here, served by etcd: /debug/vars.
import type { Logger } from 'pino';
import { installHealth, type HealthMember } from './health';
import { HttpRouter, type SubtreeHandler } from './http-router';
import { installVersion, type VersionSource } from './version-endpoint';
import { installMetrics, type MetricsSource } from '../metrics/http';

export type ClientHttpMember = HealthMember & VersionSource & MetricsSource;

export function createClientRouter(member: ClientHttpMember, log: Logger, gateway?: SubtreeHandler, ui?: SubtreeHandler): HttpRouter {
  const router = new HttpRouter(log);
  if (gateway !== undefined) router.handleSubtree(gateway);
  if (ui !== undefined) router.handleSubtree(ui);
  installVersion(router, member);
  installHealth(router, member, log);
  installMetrics(router, member);
  return router;
}
