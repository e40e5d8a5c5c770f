// GET /metrics on an HTTP router (the client URLs' and --listen-metrics-urls'), as etcd's
// etcdhttp.HandleMetrics registers promhttp.Handler(): the text format 0.0.4, any method.
import type { HttpRouter } from '../listener/http-router';

export const PATH_METRICS = '/metrics';

/** What serves the member's metrics (EtcdServer). */
export interface MetricsSource {
  metricsText(): Promise<string>;
  /** "text/plain; version=0.0.4; charset=utf-8" */
  readonly metricsContentType: string;
}

export function installMetrics(router: HttpRouter, source: MetricsSource): void {
  router.handle(PATH_METRICS, async () => ({
    status: 200,
    header: [['Content-Type', source.metricsContentType]],
    body: await source.metricsText(),
  }));
}
