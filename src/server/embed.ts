// The embedded API: start a member in this process and get a handle with its endpoints and
// close(). The command-line entry (main.ts) and the tests both use it.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ClientListeners } from '../listener/client-listener';
import { createGrpcServer } from '../api/grpc-server';
import { completeConfig, parseInitialCluster, type ServerConfig } from './config';
import { existsSync } from 'node:fs';
import { join as join_ } from 'node:path';
import { fetchMembership } from '../peer/join';
import { EtcdServer } from '../etcdserver/server';
import { createLogger } from './logger';

export interface EtcdHandle {
  /** host:port of each client listener, with the port actually bound (port 0 picks one). */
  endpoints: string[];
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
  const log = logger ?? createLogger(config.logLevel, config.name);
  const fatal =
    onFatal ??
    ((err: Error) => {
      log.fatal({ err }, 'member stopped after an unrecoverable error');
      process.exit(1);
    });
  // A member joining an existing cluster learns the membership from it (first start only).
  let join: string | undefined;
  if (config.initialClusterState === 'existing' && !existsSync(join_(config.dataDir, 'member', 'lmdb', 'data.mdb'))) {
    const mine = new Set(config.initialAdvertisePeerUrls);
    const others = parseInitialCluster(config.initialCluster).flatMap((m) => m.peerUrls).filter((u) => !mine.has(u));
    join = await fetchMembership(others);
  }
  const server = new EtcdServer(config, log, fatal, join);
  const grpcServer: grpc.Server = createGrpcServer(server, server.pipeline, log);
  const listeners = new ClientListeners(grpcServer, log);
  const endpoints: string[] = [];
  try {
    await server.start();
    for (const url of config.listenClientUrls) {
      const port = await listeners.listen(url);
      const host = new URL(url).hostname;
      endpoints.push(`${host === 'localhost' ? '127.0.0.1' : host}:${port}`);
    }
  } catch (err) {
    listeners.close();
    grpcServer.forceShutdown();
    await server.close();
    throw err;
  }
  log.info({ endpoints }, 'serving client requests');
  let closing: Promise<void> | undefined;
  return {
    endpoints,
    server,
    close(): Promise<void> {
      closing ??= (async () => {
        listeners.close();
        grpcServer.forceShutdown();
        await server.close();
      })();
      return closing;
    },
  };
}
