// 3-member clusters side by side (issue 16, acceptance 2): a 3-member etcd-ts cluster and a
// 3-member etcd 3.4 cluster on this machine, each loaded by etcdbench (the load tool we are judged
// by, shared/tools/etcdbench) with the shape of run-baseline.sh's cluster phase: puts of 256-byte
// values to sequential keys, through all three members' endpoints. As in run-baseline.sh, each
// cluster is started once and the reps run on it, alternating the two servers; the table gives
// medians, and the first rep (a fresh process: V8 still compiling the hot paths) is also shown on
// its own. --fresh starts both clusters anew for every rep instead.
//   npm run build && node dist/scripts/cluster-bench.js [--reps 3] [--scale 0.1] [--clients 50,200] [--fresh]
// Needs etcd (Debian's etcd-server) and etcdbench (ETCDBENCH_BIN, or /tmp/etcdbench/etcdbench
// as built by shared/tools/etcdbench/build.sh). Not part of the test suite.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { PROTO_DIR } from '../src/pb/load';
import { ETCD_TS_MAIN, findOnPath, installCleanupHandlers, startServer, stopServer, type ServerHandle, type ServerKind } from './bench/servers';
import { median } from './store-fill';

interface Args {
  reps: number;
  scale: number;
  clients: number[];
  fresh: boolean;
}

interface Run {
  rps: number;
  p99: number;
  errors: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { reps: 3, scale: 0.1, clients: [50, 200], fresh: false };
  for (let i = 0; i < argv.length; i += 2) {
    const [name, v] = [argv[i], argv[i + 1]];
    if (name === '--fresh') {
      a.fresh = true;
      i--;
      continue;
    }
    if (v === undefined) throw new Error(`${name} needs a value`);
    if (name === '--reps') a.reps = Number(v);
    else if (name === '--scale') a.scale = Number(v);
    else if (name === '--clients') a.clients = v.split(',').map(Number);
    else throw new Error(`unknown flag ${name}`);
  }
  if (!(a.reps >= 1) || !(a.scale > 0) || a.clients.some((c) => !(c >= 1))) throw new Error('--reps, --scale and --clients must be positive');
  return a;
}

/** run-baseline.sh's cluster put: 150,000 puts at scale 1, sequential keys, one key each. */
function etcdbenchPut(bin: string, endpoints: string[], clients: number, total: number): Run {
  const conns = clients >= 200 ? 20 : Math.min(clients, 10);
  const out = execFileSync(bin, ['put', '--endpoints', endpoints.join(','), '--clients', String(clients), '--conns', String(conns), '--total', String(total), '--val-size', '256', '--key-size', '8', '--sequential-keys', '--key-space-size', String(total)], { encoding: 'utf8', timeout: 600_000 });
  const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { rps?: number; p99_ms?: number; errors?: number };
  if (typeof r.rps !== 'number' || typeof r.p99_ms !== 'number') throw new Error(`etcdbench said: ${out}`);
  return { rps: r.rps, p99: r.p99_ms, errors: r.errors ?? 0 };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const bench = process.env['ETCDBENCH_BIN'] ?? '/tmp/etcdbench/etcdbench';
  if (!existsSync(bench)) throw new Error(`no etcdbench at ${bench}: build it with shared/tools/etcdbench/build.sh or set ETCDBENCH_BIN`);
  const etcd = findOnPath('etcd');
  if (etcd === null) throw new Error('no etcd on PATH: apt-get install etcd-server');
  installCleanupHandlers();
  const total = Math.max(1000, Math.round(150_000 * args.scale));
  const servers: { kind: ServerKind; command: string }[] = [
    { kind: 'etcd-ts', command: ETCD_TS_MAIN },
    { kind: 'etcd', command: etcd },
  ];
  const runs = new Map<string, Run[]>();
  const started = new Map<ServerKind, ServerHandle>();
  const start = async (s: (typeof servers)[number]): Promise<ServerHandle> => {
    const h = started.get(s.kind) ?? (await startServer({ kind: s.kind, command: s.command, protoDir: PROTO_DIR, startTimeoutMs: 60_000, members: 3 }));
    started.set(s.kind, h);
    return h;
  };
  try {
    for (let rep = 1; rep <= args.reps; rep++) {
      for (const s of rep % 2 === 1 ? servers : [...servers].reverse()) {
        const h = await start(s);
        for (const clients of args.clients) {
          const r = etcdbenchPut(bench, h.endpoints, clients, total);
          process.stderr.write(`rep ${rep} ${s.kind} put c${clients}: ${r.rps.toFixed(0)} req/s, p99 ${r.p99.toFixed(2)} ms, ${r.errors} errors\n`);
          const key = `${s.kind} c${clients}`;
          runs.set(key, [...(runs.get(key) ?? []), r]);
        }
        if (args.fresh) {
          started.delete(s.kind);
          await stopServer(h);
        }
      }
    }
  } finally {
    for (const h of started.values()) await stopServer(h);
  }
  const shape = args.fresh ? 'clusters started anew for each rep' : 'one cluster each for all reps';
  console.log(`\n3-member clusters, etcdbench put (${total} puts of 256 B, sequential keys), ${args.reps} reps (${shape}), medians\n`);
  console.log('| clients | etcd-ts req/s | etcd 3.4 req/s | ratio | etcd-ts p99 ms | etcd p99 ms | p99 ratio | errors |');
  console.log('|---|---|---|---|---|---|---|---|');
  const rows: [string, (rs: Run[]) => Run[]][] = [['', (rs) => rs]];
  if (!args.fresh && args.reps > 1) rows.push([' (first rep)', (rs) => rs.slice(0, 1)]);
  for (const [label, pick] of rows) {
    for (const clients of args.clients) {
      const ts = pick(runs.get(`etcd-ts c${clients}`) ?? []);
      const et = pick(runs.get(`etcd c${clients}`) ?? []);
      const [tr, er] = [median(ts.map((r) => r.rps)), median(et.map((r) => r.rps))];
      const [tp, ep] = [median(ts.map((r) => r.p99)), median(et.map((r) => r.p99))];
      const errors = [...ts, ...et].reduce((n, r) => n + r.errors, 0);
      console.log(`| ${clients}${label} | ${tr.toFixed(0)} | ${er.toFixed(0)} | ${(tr / er).toFixed(2)}x | ${tp.toFixed(1)} | ${ep.toFixed(1)} | ${(tp / ep).toFixed(2)}x | ${errors} |`);
    }
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
