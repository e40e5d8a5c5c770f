// etcd's /version (server/etcdserver/api/etcdhttp/base.go, v3.5.17): GET only (405 with
// "Allow: GET" otherwise), Content-Type application/json, {"etcdserver":…,"etcdcluster":…}
// without spaces or a trailing newline. The cluster version is "not_decided" until the cluster
// has agreed on one.
import { goJsonString, methodNotAllowed } from './go-reply';
import type { HttpRouter } from './http-router';

export interface VersionSource {
  /** This member's etcd version, e.g. "3.5.17". */
  serverVersion: string;
  /** The version the cluster agreed on ("3.5.0"), or undefined before it has. */
  clusterVersion(): string | undefined;
}

export function installVersion(router: HttpRouter, source: VersionSource): void {
  router.handle('/version', (r) => {
    if (r.method !== 'GET') return methodNotAllowed();
    const cluster = source.clusterVersion() ?? 'not_decided';
    return {
      status: 200,
      header: [['Content-Type', 'application/json']],
      body: `{"etcdserver":${goJsonString(source.serverVersion)},"etcdcluster":${goJsonString(cluster)}}`,
    };
  });
}
