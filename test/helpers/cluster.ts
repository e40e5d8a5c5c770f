// Starts a cluster of real etcd-ts processes on loopback (free ports, temp data dirs) and kills
// every member when the test ends.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memberId } from '../../src/server/ids';
import { PeerProxy } from './peer-proxy';
import { TcpFaultProxy, type LinkFault } from './tcp-fault-proxy';
import { freePorts, PORT_RACE_ATTEMPTS, startServer, type ClientTls, type ServerProcess } from './server-process';
import { call, maintenanceClient, type Msg } from './grpc-client';

const TOKEN = 'test-cluster';

export interface ClusterMember {
  name: string;
  /** Member ID (decimal), as etcd derives it. */
  id: string;
  clientPort: number;
  /** The peer port the member listens on. */
  peerPort: number;
  /** The peer URL others use: the proxy's when the cluster has proxies. */
  advertisedPeerUrl: string;
  dataDir: string;
  process: ServerProcess | undefined;
  proxy: PeerProxy | TcpFaultProxy | undefined;
}

export interface Cluster {
  members: ClusterMember[];
  endpoints(): string[];
  /** Starts (or restarts) member i with its data dir. */
  start(i: number): Promise<ServerProcess>;
  kill(i: number): Promise<void>;
  /** Stops member i cleanly (SIGTERM; see ServerProcess.stop). */
  stop(i: number): Promise<void>;
  /** With proxies: cuts every link between the members in `side` and the others. */
  partition(side: number[]): void;
  /** With TCP proxies: every byte between the members in `side` and the others vanishes, both
   * ways, while the connections stay open. */
  blackhole(side: number[]): void;
  /** With TCP proxies: the fault on every link between the members in `side` and the others. */
  linkFault(side: number[], fault: LinkFault): void;
  heal(): void;
  cleanup(): Promise<void>;
}

export interface ClusterOptions {
  /** Route peer traffic through proxies: PeerProxy (true: HTTP/2 streams cut) or TcpFaultProxy
   * ('tcp': blackholes and delays at the TCP level, as a network makes them). */
  proxies?: boolean | 'tcp';
  /** Peer URLs' scheme (default http); https needs the peer TLS flags in extraArgs or memberArgs. */
  peerScheme?: 'http' | 'https';
  /** Client URLs' scheme (default http), and how the readiness probe reaches an https one. */
  clientScheme?: 'http' | 'https';
  clientTls?: ClientTls;
  /** Flags for member i only (after extraArgs), e.g. its own certificate. */
  memberArgs?: (i: number) => string[];
}

export async function startCluster(size = 3, extraArgs: string[] = [], options: ClusterOptions = {}): Promise<Cluster> {
  // The free ports are probed before the members bind them; in between, any process on the
  // machine may take one (an outgoing connection's source port, say). Then the whole cluster is
  // started again on other ports: they are in every member's --initial-cluster.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startClusterOnce(size, extraArgs, options);
    } catch (err) {
      if (attempt >= PORT_RACE_ATTEMPTS || !/EADDRINUSE/.test(String(err))) throw err;
    }
  }
}

async function startClusterOnce(size: number, extraArgs: string[], options: ClusterOptions): Promise<Cluster> {
  const root = mkdtempSync(join(tmpdir(), 'etcd-ts-cluster-'));
  const members: ClusterMember[] = [];
  // Which process runs which member, for the TCP proxies to tell the senders apart.
  const senders = new Map<number, string>();
  const ports = await freePorts(size * 3);
  for (let i = 0; i < size; i++) {
    const [clientPort, peerPort, proxyPort] = ports.slice(i * 3, i * 3 + 3);
    let proxy: PeerProxy | TcpFaultProxy | undefined;
    if (options.proxies === true) proxy = new PeerProxy(`http://127.0.0.1:${peerPort}`);
    else if (options.proxies === 'tcp') proxy = new TcpFaultProxy(peerPort, () => senders);
    await proxy?.start(proxyPort);
    const peerScheme = options.peerScheme ?? 'http';
    const advertisedPeerUrl = `${peerScheme}://127.0.0.1:${proxy !== undefined ? proxyPort : peerPort}`;
    const id = memberId([advertisedPeerUrl], TOKEN).toString();
    members.push({ name: `m${i + 1}`, id, clientPort, peerPort, advertisedPeerUrl, dataDir: join(root, `m${i + 1}`), process: undefined, proxy });
  }
  const initialCluster = members.map((m) => `${m.name}=${m.advertisedPeerUrl}`).join(',');
  const cluster: Cluster = {
    members,
    endpoints: () => members.map((m) => `127.0.0.1:${m.clientPort}`),
    async start(i) {
      const m = members[i];
      // Listen and advertised peer URLs differ when a proxy sits between them, as etcd allows.
      m.process = await startServer({
        dataDir: m.dataDir,
        port: m.clientPort,
        scheme: options.clientScheme,
        clientTls: options.clientTls,
        args: [
          '--name', m.name, '--listen-peer-urls', `${options.peerScheme ?? 'http'}://127.0.0.1:${m.peerPort}`, '--initial-advertise-peer-urls', m.advertisedPeerUrl,
          '--initial-cluster', initialCluster, '--initial-cluster-token', TOKEN, ...extraArgs, ...(options.memberArgs?.(i) ?? []),
        ],
        // A member of a cluster without quorum cannot serve the readiness probe's read; the
        // probe is serializable, so it only needs the member up.
      });
      const pid = m.process.proc.pid;
      if (pid !== undefined) senders.set(pid, m.id);
      return m.process;
    },
    async kill(i) {
      await members[i].process?.kill();
      members[i].process = undefined;
    },
    async stop(i) {
      await members[i].process?.stop();
      members[i].process = undefined;
    },
    partition(side) {
      const inside = new Set(side);
      for (const [i, m] of members.entries()) {
        const other = members.filter((_, j) => inside.has(j) !== inside.has(i)).map((x) => x.id);
        m.proxy?.block(other);
      }
    },
    blackhole(side) {
      cluster.linkFault(side, { kind: 'blackhole' });
    },
    linkFault(side, fault) {
      const inside = new Set(side);
      for (const [i, m] of members.entries()) {
        const other = members.filter((_, j) => inside.has(j) !== inside.has(i)).map((x) => x.id);
        if (!(m.proxy instanceof TcpFaultProxy)) throw new Error('link faults need the TCP proxies');
        m.proxy.set(other, fault);
      }
    },
    heal() {
      for (const m of members) m.proxy?.heal();
    },
    async cleanup() {
      for (const m of members) await m.process?.kill();
      for (const m of members) await m.proxy?.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
  // Every start is waited for, failed or not: cleaning up while another member's start is still
  // pending would leave that member running, unknown to cleanup (and holding the test process).
  const started = await Promise.allSettled(members.map((_, i) => cluster.start(i)));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) {
    await cluster.cleanup();
    throw failed.reason;
  }
  return cluster;
}

/** Maintenance.Status of one endpoint, or undefined when it does not answer. */
export async function statusOf(endpoint: string): Promise<Msg | undefined> {
  const m = maintenanceClient(endpoint);
  try {
    return await call(m, 'Status', {}, 2000);
  } catch {
    return undefined;
  } finally {
    m.close();
  }
}

/** Polls fn until it returns a value (not undefined). */
export async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The leader's member ID once every endpoint agrees on one (and it is not `not`). */
export function waitForLeader(endpoints: string[], timeoutMs = 15_000, not?: string): Promise<string> {
  return until(
    'an agreed leader',
    async () => {
      const st = await Promise.all(endpoints.map(statusOf));
      const leaders = new Set(st.map((s) => String(s?.leader ?? '0')));
      return leaders.size === 1 && !leaders.has('0') && !leaders.has(not ?? '0') ? [...leaders][0] : undefined;
    },
    timeoutMs,
  );
}

/** The endpoint of the member that leads. */
export async function leaderEndpoint(endpoints: string[], timeoutMs = 15_000): Promise<string> {
  return until(
    'a leader',
    async () => {
      for (const ep of endpoints) {
        const st = await statusOf(ep);
        if (st !== undefined && String(st.leader) === String(st.header.member_id)) return ep;
      }
      return undefined;
    },
    timeoutMs,
  );
}
