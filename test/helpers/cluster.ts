// Starts a cluster of real etcd-ts processes on loopback (free ports, temp data dirs) and kills
// every member when the test ends.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startServer, type ServerProcess } from './server-process';

export interface ClusterMember {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  process: ServerProcess | undefined;
}

export interface Cluster {
  members: ClusterMember[];
  endpoints(): string[];
  /** Starts (or restarts) member i with its data dir. */
  start(i: number): Promise<ServerProcess>;
  kill(i: number): Promise<void>;
  cleanup(): Promise<void>;
}

export async function startCluster(size = 3, extraArgs: string[] = []): Promise<Cluster> {
  const root = mkdtempSync(join(tmpdir(), 'etcd-ts-cluster-'));
  const members: ClusterMember[] = [];
  for (let i = 0; i < size; i++) {
    members.push({ name: `m${i + 1}`, clientPort: await freePort(), peerPort: await freePort(), dataDir: join(root, `m${i + 1}`), process: undefined });
  }
  const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',');
  const cluster: Cluster = {
    members,
    endpoints: () => members.map((m) => `127.0.0.1:${m.clientPort}`),
    async start(i) {
      const m = members[i];
      const peer = `http://127.0.0.1:${m.peerPort}`;
      m.process = await startServer({
        dataDir: m.dataDir,
        port: m.clientPort,
        args: ['--name', m.name, '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', initialCluster, '--initial-cluster-token', 'test-cluster', ...extraArgs],
        // A member of a cluster without quorum cannot serve the readiness probe's read; the
        // probe is serializable, so it only needs the member up.
      });
      return m.process;
    },
    async kill(i) {
      await members[i].process?.kill();
      members[i].process = undefined;
    },
    async cleanup() {
      for (const m of members) await m.process?.kill();
      rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(members.map((_, i) => cluster.start(i)));
  } catch (e) {
    await cluster.cleanup();
    throw e;
  }
  return cluster;
}
