// The embedded API: start a member in this process and get a handle with its endpoints and
// close(). The command-line entry (main.ts) and the tests both use it.
import type { Logger } from 'pino';
import { ClientListeners, unixSocketPath } from '../listener/client-listener';
import { createClientRouter, type ClientHttpMember } from '../listener/client-routes';
import { createGrpcServer } from '../api/grpc-server';
import { Gateway } from '../gateway/gateway';
import { UiHandler } from '../ui/ui-handler';
import { completeConfig, parseInitialCluster, type ServerConfig } from './config';
import { existsSync } from 'node:fs';
import { join as join_ } from 'node:path';
import { fetchMembership } from '../peer/join';
import { PeerDialer } from '../peer/dialer';
import { prepareTls } from '../tls/prepare';
import { EtcdServer } from '../etcdserver/server';
import { createLoggerFromConfig } from './logger';
import { startMetricsListeners, type MetricsListeners } from '../metrics/metrics-listener';
import { AlarmType, SortOrder, SortTarget } from '../pb/types';
import { CLUSTER_VERSION, ETCD_VERSION } from './version';

export interface EtcdHandle {
  /** host:port of each client listener, with the port actually bound (port 0 picks one). */
  endpoints: string[];
  /** host:port of each HTTP-only client listener (--listen-client-http-urls). */
  httpEndpoints: string[];
  server: EtcdServer;
  close(): Promise<void>;
}

export interface StartOptions extends Partial<ServerConfig> {
  logger?: Logger;
  /** Called when the member hits an error it cannot continue from; default: log and exit(1). */
  onFatal?: (err: Error) => void;
}

export async function start(options: StartOptions = {}): Promise<EtcdHandle> {
  const { logger, onFatal, ...partial } = options;
  const config = completeConfig(partial);
  const log = logger ?? createLoggerFromConfig(config);
  const fatal =
    onFatal ??
    ((err: Error) => {
      log.fatal({ err }, 'member stopped after an unrecoverable error');
      process.exit(1);
    });
  // etcd's TLS checks, auto TLS and warnings, before anything listens or dials.
  const tls = await prepareTls(config, log);
  // A member joining an existing cluster learns the membership from it (first start only).
  let join: string | undefined;
  if (config.initialClusterState === 'existing' && !existsSync(join_(config.dataDir, 'member', 'lmdb', 'data.mdb'))) {
    const mine = new Set(config.initialAdvertisePeerUrls);
    const others = parseInitialCluster(config.initialCluster).flatMap((m) => m.peerUrls).filter((u) => !mine.has(u));
    join = await fetchMembership(others, new PeerDialer(tls.peer, log));
  }
  const server = new EtcdServer(config, log, fatal, join, tls.peer);
  const grpcServer = createGrpcServer(server, server.pipeline, log);
  const gateway = config.enableGrpcGateway ? new Gateway(server, server.pipeline, log) : undefined;
  const router = createClientRouter(clientHttpMember(server), log, gateway, config.enableUi ? new UiHandler() : undefined);
  const listeners = new ClientListeners(grpcServer, router, log, tls.client);
  const endpoints: string[] = [];
  const httpEndpoints: string[] = [];
  let metricsListeners: MetricsListeners | undefined;
  try {
    await server.start();
    // As etcd 3.5: with --listen-client-http-urls, HTTP moves there and the client URLs serve gRPC only.
    const httpOnly = config.listenClientHttpUrls.length > 0;
    for (const url of config.listenClientUrls) {
      const port = await listeners.listen(url, httpOnly ? 'grpc' : 'grpc+http');
      endpoints.push(hostPort(url, port));
    }
    for (const url of config.listenClientHttpUrls) httpEndpoints.push(hostPort(url, await listeners.listen(url, 'http')));
    // etcd's --listen-metrics-urls: /metrics and /health only.
    if (config.listenMetricsUrls.length > 0) metricsListeners = await startMetricsListeners(config.listenMetricsUrls, clientHttpMember(server), log, tls.client);
  } catch (err) {
    await metricsListeners?.close();
    listeners.close();
    grpcServer.shutdown();
    await server.close();
    throw err;
  }
  log.info({ endpoints, httpEndpoints }, 'serving client requests');
  let closing: Promise<void> | undefined;
  return {
    endpoints,
    httpEndpoints,
    server,
    close(): Promise<void> {
      closing ??= (async () => {
        await metricsListeners?.close();
        listeners.close();
        grpcServer.shutdown();
        await server.close();
      })();
      return closing;
    },
  };
}

/** The member as the client listeners' HTTP endpoints (/health, /livez, /readyz, /version) see it. */
function clientHttpMember(server: EtcdServer): ClientHttpMember {
  return {
    hasLeader: () => server.hasLeader(),
    // The active alarm types by name (NOSPACE, CORRUPT), whichever member raised them.
    alarms: () => [...new Set(server.activeAlarms().map((a) => AlarmType[a.alarm] ?? 'UNKNOWN'))],
    // etcd's health checks read one key, keys only (3.5 ranges the empty key; any one key will
    // do: what is checked is that a read, local or through the read barrier, completes).
    read: async (serializable) => {
      await server.range({
        key: Buffer.from('health'),
        range_end: Buffer.alloc(0),
        limit: 1,
        revision: 0,
        sort_order: SortOrder.NONE,
        sort_target: SortTarget.KEY,
        serializable,
        keys_only: true,
        count_only: false,
        min_mod_revision: 0,
        max_mod_revision: 0,
        min_create_revision: 0,
        max_create_revision: 0,
      });
    },
    serverVersion: ETCD_VERSION,
    // The member does not track an agreed cluster version yet; it reports the one it speaks.
    clusterVersion: () => CLUSTER_VERSION,
    metricsText: () => server.metricsText(),
    metricsContentType: server.metricsContentType,
  };
}

/** The host:port a listener bound (localhost as 127.0.0.1, as the listener binds it); a unix socket's file. */
function hostPort(url: string, port: number): string {
  const path = unixSocketPath(url);
  if (path !== undefined) return path;
  const host = new URL(url).hostname;
  return `${host === 'localhost' ? '127.0.0.1' : host}:${port}`;
}
