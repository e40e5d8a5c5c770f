// Peak memory of one large Range (issue 16, Memory bullet): --keys keys of --value-bytes bytes
// (100,000 × 300 B ≈ 30 MB by default) in a fresh etcd-ts and a fresh etcd 3.4, then a Range
// of all of them in one response. Reported per server: RSS before, the peak RSS during the Range
// (VmHWM, reset just before it through /proc/PID/clear_refs), the growth, and how long the Range
// took; --reps Ranges per server, medians.
//   npm run build && node dist/scripts/range-memory.js [--keys 100000] [--value-bytes 300] [--reps 3]
// Not part of the test suite.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { call, kvClient } from '../test/helpers/grpc-client';
import { freePort } from '../test/helpers/server-process';
import { fillKeys, listening, median } from './store-fill';

const MAIN = resolve(__dirname, '../src/server/main.js');

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
}

const statusKiB = (pid: number, field: string): number => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);

async function measure(impl: 'etcd' | 'etcd-ts', keys: number, valueBytes: number, reps: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'range-memory-'));
  const [port, peerPort] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${port}`;
  const common = ['--data-dir', dir, '--listen-client-urls', url, '--advertise-client-urls', url];
  const p =
    impl === 'etcd'
      ? spawn('etcd', [...common, '--listen-peer-urls', `http://127.0.0.1:${peerPort}`, '--initial-advertise-peer-urls', 'http://localhost:2380', '--initial-cluster', 'default=http://localhost:2380'], { stdio: 'ignore' })
      : spawn(process.execPath, [MAIN, ...common, '--log-level', 'warn'], { stdio: 'ignore' });
  live.add(p);
  const pid = p.pid ?? 0;
  const clients = Array.from({ length: 8 }, () => kvClient(`127.0.0.1:${port}`));
  try {
    while (!(await listening(port))) await new Promise((r) => setTimeout(r, 10));
    await fillKeys(clients, keys, valueBytes);
    const before: number[] = [];
    const growth: number[] = [];
    const ms: number[] = [];
    let bytes = 0;
    for (let rep = 0; rep < reps; rep++) {
      await new Promise((r) => setTimeout(r, 1000));
      const rss = statusKiB(pid, 'VmRSS');
      // "5" resets the peak RSS (VmHWM) to the current RSS.
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
      const t0 = performance.now();
      const r = await call(clients[0], 'Range', { key: Buffer.from('key/'), range_end: Buffer.from('key0') }, 120_000);
      ms.push(performance.now() - t0);
      if (r.kvs.length !== keys) throw new Error(`${impl}: ${r.kvs.length} keys, want ${keys}`);
      bytes = r.kvs.reduce((n: number, kv: { key: Buffer; value: Buffer }) => n + kv.key.length + kv.value.length, 0);
      before.push(rss / 1024);
      growth.push((statusKiB(pid, 'VmHWM') - rss) / 1024);
    }
    return `${impl}: Range of ${keys} keys (${(bytes / 1048576).toFixed(1)} MiB of keys and values): RSS before ${median(before).toFixed(0)} MiB, peak growth ${median(growth).toFixed(0)} MiB (${growth.map((g) => g.toFixed(0)).join(', ')}), ${median(ms).toFixed(0)} ms`;
  } finally {
    for (const c of clients) c.close();
    p.kill('SIGKILL');
    await new Promise((r) => p.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const keys = arg('--keys', 100_000);
  const valueBytes = arg('--value-bytes', 300);
  const reps = arg('--reps', 3);
  for (const impl of ['etcd', 'etcd-ts'] as const) process.stdout.write(`${await measure(impl, keys, valueBytes, reps)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
