// Start-up on a large store (issue 16, "start-up at any size"): time from spawning the server to
// its first served linearizable Get, and its RSS right then, for etcd-ts and real etcd 3.4 on the
// same data. etcd rebuilds its in-memory key index from bbolt at every start; etcd-ts's index is
// on disk (LMDB), so it should not depend on the store's size.
//   npm run build && node dist/scripts/startup-large.js [--keys 1000000] [--value-bytes 100]
//     [--reps 3] [--clients 16] [--keep DIR]
// The data: --keys keys (key/0000000 ...) put into a fresh etcd-ts through Txns of 128 Puts, saved
// with `etcdctl snapshot save`, restored for etcd with `etcdctl snapshot restore`: both servers
// start on the same keys, values and revisions. Each rep starts each server (interleaved), polls a
// Get every 10 ms until one succeeds, reads VmRSS, and SIGKILLs it. Not part of the test suite.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { call, kvClient } from '../test/helpers/grpc-client';
import { freePort } from '../test/helpers/server-process';
import { fillKeys, keyOf, listening, median } from './store-fill';

const MAIN = resolve(__dirname, '../src/server/main.js');

interface Args {
  keys: number;
  valueBytes: number;
  reps: number;
  clients: number;
  keep: string | undefined;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { keys: 1_000_000, valueBytes: 100, reps: 3, clients: 16, keep: undefined };
  for (let i = 0; i < argv.length; i += 2) {
    const [name, v] = [argv[i], argv[i + 1]];
    if (v === undefined) throw new Error(`${name} needs a value`);
    if (name === '--keys') a.keys = Number(v);
    else if (name === '--value-bytes') a.valueBytes = Number(v);
    else if (name === '--reps') a.reps = Number(v);
    else if (name === '--clients') a.clients = Number(v);
    else if (name === '--keep') a.keep = v;
    else throw new Error(`unknown flag ${name}`);
  }
  return a;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});


function spawnServer(impl: 'etcd' | 'etcd-ts', dataDir: string, port: number, peerPort: number): ChildProcess {
  const url = `http://127.0.0.1:${port}`;
  const common = ['--data-dir', dataDir, '--listen-client-urls', url, '--advertise-client-urls', url];
  // Both advertise etcd's default peer URL, as the restore below names the member.
  const peer = ['--listen-peer-urls', `http://127.0.0.1:${peerPort}`, '--initial-advertise-peer-urls', 'http://localhost:2380', '--initial-cluster', 'default=http://localhost:2380'];
  const p = impl === 'etcd' ? spawn('etcd', [...common, ...peer], { stdio: 'ignore' }) : spawn(process.execPath, [MAIN, ...common, '--log-level', 'warn'], { stdio: 'ignore' });
  live.add(p);
  p.once('exit', () => live.delete(p));
  return p;
}

async function kill(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGKILL');
  await gone;
}

/** Milliseconds from spawn to the first served linearizable Get of key 0, and VmRSS (MiB) then. */
async function timeStart(impl: 'etcd' | 'etcd-ts', dataDir: string): Promise<{ ms: number; rssMiB: number }> {
  const [port, peerPort] = [await freePort(), await freePort()];
  const t0 = performance.now();
  const p = spawnServer(impl, dataDir, port, peerPort);
  // The gRPC client backs off for a second after a refused connection: dial only once the port listens.
  while (!(await listening(port))) {
    if (p.exitCode !== null) throw new Error(`${impl} exited with ${p.exitCode}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  const kv = kvClient(`127.0.0.1:${port}`);
  try {
    for (;;) {
      if (p.exitCode !== null) throw new Error(`${impl} exited with ${p.exitCode}`);
      try {
        const r = await call(kv, 'Range', { key: keyOf(0) }, 1000);
        if (r.kvs.length !== 1) throw new Error(`${impl}: key 0 is missing`);
        break;
      } catch (err) {
        if (err instanceof Error && err.message.includes('missing')) throw err;
        if (performance.now() - t0 > 600_000) throw new Error(`${impl} did not serve within 10 minutes`);
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    const ms = performance.now() - t0;
    const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'));
    return { ms, rssMiB: rss === null ? NaN : Number(rss[1]) / 1024 };
  } finally {
    kv.close();
    await kill(p);
  }
}

async function fill(a: Args, dataDir: string): Promise<void> {
  const [port, peerPort] = [await freePort(), await freePort()];
  const p = spawnServer('etcd-ts', dataDir, port, peerPort);
  const clients = Array.from({ length: a.clients }, () => kvClient(`127.0.0.1:${port}`));
  try {
    const started = performance.now();
    await fillKeys(clients, a.keys, a.valueBytes);
    process.stderr.write(`filled ${a.keys} keys in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  } finally {
    for (const c of clients) c.close();
    await kill(p);
  }
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const root = a.keep ?? mkdtempSync(join(tmpdir(), 'startup-large-'));
  const tsDir = join(root, 'etcd-ts');
  const etcdDir = join(root, 'etcd');
  const snap = join(root, 'snapshot.db');
  try {
    await fill(a, tsDir);
    // Snapshot from a running member, then restore it for etcd.
    const port = await freePort();
    const p = spawnServer('etcd-ts', tsDir, port, await freePort());
    for (let i = 0; ; i++) {
      try {
        execFileSync('etcdctl', ['--endpoints', `127.0.0.1:${port}`, 'snapshot', 'save', snap], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: 'ignore' });
        break;
      } catch (err) {
        if (i > 100) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await kill(p);
    execFileSync('etcdctl', ['snapshot', 'restore', snap, '--data-dir', etcdDir, '--name', 'default', '--initial-cluster', 'default=http://localhost:2380', '--initial-advertise-peer-urls', 'http://localhost:2380'], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: 'ignore' });
    const du = (d: string): string => execFileSync('du', ['-sh', d], { encoding: 'utf8' }).split('\t')[0];
    process.stderr.write(`data: etcd-ts ${du(tsDir)}, etcd ${du(etcdDir)}, snapshot ${du(snap)}\n`);
    const results: Record<string, { ms: number[]; rss: number[] }> = { 'etcd-ts': { ms: [], rss: [] }, etcd: { ms: [], rss: [] } };
    for (let rep = 1; rep <= a.reps; rep++) {
      for (const impl of ['etcd', 'etcd-ts'] as const) {
        const r = await timeStart(impl, impl === 'etcd' ? etcdDir : tsDir);
        results[impl].ms.push(r.ms);
        results[impl].rss.push(r.rssMiB);
        process.stderr.write(`rep ${rep} ${impl}: first Get after ${r.ms.toFixed(0)} ms, RSS ${r.rssMiB.toFixed(0)} MiB\n`);
      }
    }
    const ts = results['etcd-ts'];
    const et = results.etcd;
    process.stdout.write(
      `${a.keys} keys, medians of ${a.reps}: etcd-ts ${median(ts.ms).toFixed(0)} ms, RSS ${median(ts.rss).toFixed(0)} MiB; ` +
        `etcd ${median(et.ms).toFixed(0)} ms, RSS ${median(et.rss).toFixed(0)} MiB; time ratio ${(median(ts.ms) / median(et.ms)).toFixed(3)}×, RSS ratio ${(median(ts.rss) / median(et.rss)).toFixed(2)}×\n`,
    );
  } finally {
    if (a.keep === undefined) rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
