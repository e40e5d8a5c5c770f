// Starting, probing and stopping the servers compared in side-by-side mode.
// Cleanup is registered globally so servers and temp dirs go away on normal
// completion, on errors and on SIGINT/SIGTERM alike.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadKvMethods, makeChannel, unaryCall } from './kv';
import { keyFor } from './requests';

export type ServerKind = 'etcd-ts' | 'etcd';

export interface ServerHandle {
  kind: ServerKind;
  endpoint: string;
  child: ChildProcess;
  dataDir: string;
  logTail(): string;
}

/** dist/scripts/bench -> dist/src/server/main.js */
export const ETCD_TS_MAIN = path.resolve(__dirname, '../../src/server/main.js');

const live = new Set<ServerHandle>();
const tempDirs = new Set<string>();

/** Last-resort synchronous cleanup: usable from 'exit' and signal handlers. */
function cleanupSync(): void {
  for (const s of live) {
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
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

/** Flags shared by both servers: a one-member cluster on the given ports. */
function clusterFlags(dataDir: string, clientPort: number, peerPort: number): string[] {
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return [
    '--name', 'bench',
    '--data-dir', dataDir,
    '--listen-client-urls', client,
    '--advertise-client-urls', client,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `bench=${peer}`,
    '--log-level', 'error',
  ];
}

export interface StartOptions {
  kind: ServerKind;
  /** etcd binary, or the etcd-ts entry script (run with this node). */
  command: string;
  protoDir: string;
  startTimeoutMs: number;
}

export async function startServer(opts: StartOptions): Promise<ServerHandle> {
  const [clientPort, peerPort] = await freePorts(2);
  if (clientPort === undefined || peerPort === undefined) throw new Error('could not find free ports');
  const dataDir = path.join(makeTempDir(`etcd-ts-bench-${opts.kind}-`), 'data');
  const flags = clusterFlags(dataDir, clientPort, peerPort);
  const [cmd, args] =
    opts.kind === 'etcd-ts'
      ? [process.execPath, [opts.command, ...flags]]
      // etcd 3.4 defaults to capnslog, which ignores --log-level; zap honours it.
      : [opts.command, [...flags, '--logger', 'zap']];

  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // Keep only the tail of the output: enough to explain a failed start, and
  // draining the pipes stops a chatty server from blocking on a full pipe.
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const handle: ServerHandle = {
    kind: opts.kind,
    endpoint: `127.0.0.1:${clientPort}`,
    child,
    dataDir: path.dirname(dataDir),
    logTail: () => tail,
  };
  live.add(handle);

  try {
    await waitUntilServing(handle, opts.protoDir, opts.startTimeoutMs);
  } catch (err) {
    await stopServer(handle);
    throw err;
  }
  return handle;
}

/** Polls with a linearizable Range (needs an elected leader) until it succeeds. */
async function waitUntilServing(h: ServerHandle, protoDir: string, timeoutMs: number): Promise<void> {
  const { range } = loadKvMethods(protoDir);
  const client = makeChannel(h.endpoint, -1);
  const deadline = Date.now() + timeoutMs;
  let lastErr = 'no attempt';
  try {
    for (;;) {
      if (h.child.exitCode !== null || h.child.signalCode !== null) {
        throw new Error(
          `${h.kind} exited (${h.child.exitCode ?? h.child.signalCode}) before serving.\n--- output ---\n${h.logTail()}`,
        );
      }
      try {
        await unaryCall(client, range, { key: keyFor(0, 1), serializable: false }, 1000);
        return;
      } catch (err) {
        lastErr = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() > deadline) {
        throw new Error(`${h.kind} did not answer a Range within ${timeoutMs} ms (${lastErr}).\n--- output ---\n${h.logTail()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    client.close();
  }
}

/** SIGTERM, then SIGKILL after a grace period; removes the server's temp dir. */
export async function stopServer(h: ServerHandle): Promise<void> {
  const { child } = h;
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
  live.delete(h);
  removeTempDir(h.dataDir);
}
