// How long a big compaction stalls a member (issue 13, acceptance 6): writes --versions key
// versions over --keys small keys through gRPC from several connections (one Put = one revision
// each, or with --puts-per-txn N, txns of N puts), then runs
// a writer (puts, one at a time) and a reader (serializable gets) while Compact(head, physical)
// removes almost all of that history, and reports their latencies before and during it, and
// the history rows left afterwards (read from the data dir once the server is stopped).
//   npm run build && node dist/scripts/compaction-stall.js [--versions 1000000] [--keys 10000] [--puts-per-txn 1]
//     [--server dist/src/server/main.js] [--connections 8] [--in-flight 128] [--baseline-ms 3000]
//     [-- extra server flags]
// --server points at another build's main.js to measure it the same way (e.g. a worktree of
// the commit before compaction ran in batches).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Backend } from '../src/backend/backend';
import { call, kvClient } from '../test/helpers/grpc-client';
import { freePort } from '../test/helpers/server-process';
import { loadRevisions, measureCompaction, type LatencyStats } from '../test/helpers/compaction-load';

interface Args {
  versions: number;
  putsPerTxn: number;
  keys: number;
  server: string;
  connections: number;
  inFlight: number;
  baselineMs: number;
  serverArgs: string[];
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    versions: 1_000_000,
    putsPerTxn: 1,
    keys: 10_000,
    server: resolve(__dirname, '../src/server/main.js'),
    connections: 8,
    inFlight: 128,
    baselineMs: 3000,
    serverArgs: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    if (name === '--') {
      a.serverArgs = argv.slice(i + 1);
      break;
    }
    const v = argv[++i];
    if (v === undefined) throw new Error(`${name} needs a value`);
    if (name === '--versions') a.versions = Number(v);
    else if (name === '--puts-per-txn') a.putsPerTxn = Number(v);
    else if (name === '--keys') a.keys = Number(v);
    else if (name === '--server') a.server = resolve(v);
    else if (name === '--connections') a.connections = Number(v);
    else if (name === '--in-flight') a.inFlight = Number(v);
    else if (name === '--baseline-ms') a.baselineMs = Number(v);
    else throw new Error(`unknown flag ${name}`);
  }
  return a;
}

async function waitReady(endpoint: string, exited: () => boolean): Promise<void> {
  const c = kvClient(endpoint);
  try {
    // Bounded: 30 s of probes.
    for (let i = 0; i < 600; i++) {
      if (exited()) throw new Error('server exited');
      try {
        await call(c, 'Range', { key: Buffer.from('probe'), serializable: true }, 1000);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error('server did not become ready');
  } finally {
    c.close();
  }
}

const fmt = (s: LatencyStats): string => `n=${s.count} p50=${s.p50Ms.toFixed(1)}ms p99=${s.p99Ms.toFixed(1)}ms max=${s.maxMs.toFixed(1)}ms`;

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const dataDir = mkdtempSync(join(tmpdir(), 'compaction-stall-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const endpoint = `127.0.0.1:${port}`;
  const proc = spawn(process.execPath, [a.server, '--data-dir', dataDir, '--listen-client-urls', url, '--advertise-client-urls', url, '--log-level', 'warn', ...a.serverArgs], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let exited = false;
  const gone = new Promise<void>((r) => proc.once('exit', () => ((exited = true), r())));
  try {
    await waitReady(endpoint, () => exited);
    const log = (m: string): void => void process.stderr.write(`[compaction-stall] ${m}\n`);
    log(`server ${a.server}, writing ${a.versions} key versions over ${a.keys} keys, ${a.putsPerTxn} per request`);
    const t0 = Date.now();
    const head = await loadRevisions(endpoint, { versions: a.versions, putsPerTxn: a.putsPerTxn, keys: a.keys, connections: a.connections, inFlightPerConnection: a.inFlight });
    log(`wrote ${a.versions} key versions (head revision ${head}) in ${((Date.now() - t0) / 1000).toFixed(1)} s; compacting at ${head}`);
    const r = await measureCompaction(endpoint, head, a.baselineMs);
    proc.kill('SIGTERM');
    await gone;
    const backend = new Backend({ dir: join(dataDir, 'member', 'lmdb') });
    const history = backend.orderedTable<Buffer, [number, number]>('mvcc-history', { keys: 'ordered-binary', values: 'binary' });
    const left = history.getKeysCount({});
    await backend.close();
    console.log(`compact(${r.compactRevision}, physical) took ${r.compactMs.toFixed(0)} ms; history rows left: ${left}`);
    console.log(`writer before:  ${fmt(r.writerBefore)}`);
    console.log(`writer during:  ${fmt(r.writerDuring)}${r.writerErrors > 0 ? ` (${r.writerErrors} errors)` : ''}`);
    console.log(`reader before:  ${fmt(r.readerBefore)}`);
    console.log(`reader during:  ${fmt(r.readerDuring)}`);
    console.log(JSON.stringify({ server: a.server, versions: a.versions, putsPerTxn: a.putsPerTxn, keys: a.keys, ...r, historyRowsLeft: left }));
  } finally {
    if (!exited) proc.kill('SIGKILL');
    await gone;
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
