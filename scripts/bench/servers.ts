// Starting, probing and stopping the servers compared in side-by-side mode.
// Cleanup is registered globally so servers and temp dirs go away on normal
// completion, on errors and on SIGINT/SIGTERM alike.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadKvMethods, loadStatusMethod, makeChannel, statusLeader, unaryCall } from './kv';
import { keyFor } from './requests';

export type ServerKind = 'etcd-ts' | 'etcd';

/** One process of a started server. */
export interface MemberHandle {
  name: string;
  endpoint: string;
  child: ChildProcess;
  logTail(): string;
  /** Why the process is gone (exit code, signal or spawn error), or null while it runs. */
  gone(): string | null;
}

/** A started server: a single member or a cluster of several members of one kind. */
export interface ServerHandle {
  kind: ServerKind;
  members: MemberHandle[];
  /** Client endpoints (host:port), one per member, in member order. */
  endpoints: string[];
  /** Temp dir holding every member's data dir; removed by stopServer. */
  dir: string;
}

/** dist/scripts/bench -> dist/src/server/main.js */
export const ETCD_TS_MAIN = path.resolve(__dirname, '../../src/server/main.js');

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();

/** Last-resort synchronous cleanup: usable from 'exit' and signal handlers. */
function cleanupSync(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  live.clear();
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

let handlersInstalled = false;
export function installCleanupHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', cleanupSync);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\n[bench] ${sig}: stopping servers and removing temp dirs\n`);
      cleanupSync();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

export function makeTempDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

export function removeTempDir(d: string): void {
  fs.rmSync(d, { recursive: true, force: true });
  tempDirs.delete(d);
}

/**
 * n distinct free TCP ports on 127.0.0.1. All listeners are held open until
 * every port is known, so the kernel cannot hand out the same port twice.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) {
      const srv = net.createServer();
      servers.push(srv);
      await new Promise<void>((res, rej) => {
        srv.once('error', rej);
        srv.listen(0, '127.0.0.1', () => res());
      });
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') throw new Error('unexpected listen address');
      ports.push(addr.port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((res) => s.close(() => res()))));
  }
}

export function findOnPath(bin: string): string | null {
  if (bin.includes('/')) return fs.existsSync(bin) ? bin : null;
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, bin);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // not here; keep looking
    }
  }
  return null;
}

interface MemberSpec {
  name: string;
  dataDir: string;
  clientPort: number;
  peerPort: number;
}

const url = (port: number): string => `http://127.0.0.1:${port}`;

/** Flags shared by both servers (etcd's flag names) for one member of a new cluster. */
function memberFlags(m: MemberSpec, all: MemberSpec[]): string[] {
  return [
    '--name', m.name,
    '--data-dir', m.dataDir,
    '--listen-client-urls', url(m.clientPort),
    '--advertise-client-urls', url(m.clientPort),
    '--listen-peer-urls', url(m.peerPort),
    '--initial-advertise-peer-urls', url(m.peerPort),
    '--initial-cluster', all.map((x) => `${x.name}=${url(x.peerPort)}`).join(','),
    '--initial-cluster-token', `bench-${all.length}`,
    '--initial-cluster-state', 'new',
    '--log-level', 'error',
  ];
}

export interface StartOptions {
  kind: ServerKind;
  /** etcd binary, or the etcd-ts entry script (run with this node). */
  command: string;
  protoDir: string;
  startTimeoutMs: number;
  /** Cluster size (default 1). */
  members?: number;
}

function spawnMember(opts: StartOptions, m: MemberSpec, all: MemberSpec[]): MemberHandle {
  const flags = memberFlags(m, all);
  const [cmd, args] =
    opts.kind === 'etcd-ts'
      ? [process.execPath, [opts.command, ...flags]]
      // etcd 3.4 defaults to capnslog, which ignores --log-level; zap honours it.
      : [opts.command, [...flags, '--logger', 'zap']];

  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  // Keep only the tail of the output: enough to explain a failed start, and
  // draining the pipes stops a chatty server from blocking on a full pipe.
  let tail = '';
  let spawnError: string | null = null;
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('error', (err) => {
    spawnError = err.message;
  });
  return {
    name: m.name,
    endpoint: `127.0.0.1:${m.clientPort}`,
    child,
    logTail: () => tail,
    gone: () => spawnError ?? (child.exitCode !== null || child.signalCode !== null ? `exited (${child.exitCode ?? child.signalCode})` : null),
  };
}

/**
 * Starts a server of opts.members members (each with its own data dir under
 * one temp dir) and waits until it serves. Stops it again if it does not.
 */
export async function startServer(opts: StartOptions): Promise<ServerHandle> {
  const n = opts.members ?? 1;
  const ports = await freePorts(2 * n);
  const dir = makeTempDir(`etcd-ts-bench-${opts.kind}-${n}-`);
  const specs: MemberSpec[] = Array.from({ length: n }, (_, i) => {
    const name = n === 1 ? 'bench' : `m${i + 1}`;
    const clientPort = ports[2 * i];
    const peerPort = ports[2 * i + 1];
    if (clientPort === undefined || peerPort === undefined) throw new Error('could not find free ports');
    return { name, dataDir: path.join(dir, name), clientPort, peerPort };
  });
  const handle: ServerHandle = { kind: opts.kind, members: [], endpoints: specs.map((m) => `127.0.0.1:${m.clientPort}`), dir };
  try {
    for (const m of specs) handle.members.push(spawnMember(opts, m, specs));
    await waitUntilServing(handle, opts.protoDir, opts.startTimeoutMs);
  } catch (err) {
    await stopServer(handle);
    throw err;
  }
  return handle;
}

function describe(h: ServerHandle): string {
  return h.members.length === 1 ? h.kind : `${h.kind} ${h.members.length}-member cluster`;
}

function outputs(h: ServerHandle): string {
  // Keep a failure message readable when several members have output.
  const per = h.members.length === 1 ? 4000 : 1500;
  return h.members.map((m) => `--- ${m.name} output ---\n${m.logTail().slice(-per)}`).join('\n');
}

/**
 * Polls until the server can serve writes from every member: for a cluster,
 * every member must report the same non-zero leader in Maintenance.Status;
 * then (for a single member too) a linearizable Range, which needs a leader,
 * must succeed on every member.
 */
async function waitUntilServing(h: ServerHandle, protoDir: string, timeoutMs: number): Promise<void> {
  const { range } = loadKvMethods(protoDir);
  const status = loadStatusMethod(protoDir);
  const clients = h.members.map((m, i) => makeChannel(m.endpoint, -1 - i));
  const deadline = Date.now() + timeoutMs;
  let lastErr = 'no attempt';
  const errMsg = (err: unknown, i: number): string =>
    `${h.members[i]?.name ?? '?'}: ${err instanceof Error ? err.message : String(err)}`;
  try {
    for (;;) {
      for (const m of h.members) {
        const why = m.gone();
        if (why !== null) throw new Error(`${describe(h)}: member ${m.name} ${why} before serving.\n${outputs(h)}`);
      }
      try {
        if (h.members.length > 1) {
          const leaders = await Promise.all(clients.map((c, i) => statusLeader(c, status, 1000).catch((err: unknown) => Promise.reject(new Error(errMsg(err, i))))));
          const first = leaders[0] ?? '0';
          if (first === '0' || leaders.some((l) => l !== first)) throw new Error(`no agreed leader yet (members report ${leaders.join(', ')})`);
        }
        await Promise.all(
          clients.map((c, i) =>
            unaryCall(c, range, { key: keyFor(0, 1), serializable: false }, 1000).catch((err: unknown) => Promise.reject(new Error(errMsg(err, i)))),
          ),
        );
        return;
      } catch (err) {
        lastErr = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() > deadline) {
        throw new Error(`${describe(h)} was not serving within ${timeoutMs} ms (${lastErr}).\n${outputs(h)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    for (const c of clients) c.close();
  }
}

/**
 * SIGTERM each member in turn (SIGKILL after a grace period); removes the
 * server's temp dir. One at a time because an etcd leader hands leadership
 * to a live follower on SIGTERM: with its peers going down at the same time
 * that hand-over waits for its timeout and the grace period runs out.
 */
export async function stopServer(h: ServerHandle): Promise<void> {
  for (const { child } of h.members) {
    // No pid: the spawn itself failed, so there is nothing to wait for.
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((res) => child.once('exit', () => res()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    live.delete(child);
  }
  removeTempDir(h.dir);
}
