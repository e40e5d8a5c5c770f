// Command-line parsing. Produces a fully validated plan so the rest of the
// tool never has to look at raw strings.
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_PROTO_DIR } from './kv';
import { checkKeySpace } from './requests';
import { ETCD_TS_MAIN, type ServerKind } from './servers';
import type { LoadSpec } from './types';

export const USAGE = `etcd-ts load tool

Usage:
  npm run bench [-- OPTIONS]                 side-by-side: start etcd-ts and etcd, run the suite on both
  node dist/scripts/bench/main.js [suite] [OPTIONS]
  node dist/scripts/bench/main.js put   --endpoints HOST:PORT[,HOST:PORT...] [LOAD OPTIONS]
  node dist/scripts/bench/main.js range --endpoints HOST:PORT[,HOST:PORT...] [LOAD OPTIONS]
  node dist/scripts/bench/main.js watch --endpoints HOST:PORT[,HOST:PORT...] [LOAD OPTIONS]
  node dist/scripts/bench/main.js lease --endpoints HOST:PORT[,HOST:PORT...] [LOAD OPTIONS]

Suite options (default suite: put 50 clients/10 conns/25000 x 256 B,
range-s 50/10/25000 and range-l 50/10/10000 over 1000 prefilled keys, put-1c 1/1/3000,
put-3node 50/10/20000 x 256 B against a 3-member cluster of each server, started fresh
for every run, the connections spread over the three members; watch: 100 watchers on one
prefix over 10 Watch streams, then 2000 puts x 256 B from 10 clients/10 conns, every
watcher receiving every put; req/s there is events delivered/s, latency put sent -> event
received; lease-keepalive: 10,000 leases granted (TTL 60 s, untimed), then 100,000
keep-alives over 50 LeaseKeepAlive streams on 10 conns, one in flight per stream, leases
cycled round robin as in etcdbench, then revoked; req/s is keep-alives/s, and the server's
CPU seconds during the keep-alives and RSS after them are shown when the bench started it):
  --reps N                   repeat each load N times, report medians (default 1)
  --only etcd-ts|etcd        start and load only this server
  --target-endpoints LIST    start nothing; run the suite against these endpoints
  --loads LIST               subset of suite loads, e.g. put,range-s
  --etcd-bin PATH            etcd binary (default: etcd on PATH; skipped if absent)
  --etcd-ts-main PATH        etcd-ts entry script (default: dist/src/server/main.js)
  --start-timeout MS         how long a server (or cluster: until all members agree on a
                             leader and answer a linearizable Range) may take (default 30000)
  Any load option below given to the suite overrides it for every suite load.

Load options:
  --total N                  total requests
  --clients N                concurrent outstanding calls
  --conns N                  separate gRPC channels / TCP connections
  --workers N                client worker threads (default min(max(2, cpus), 8))
  --key-size N               key size in bytes (default 8)
  --val-size N               value size in bytes (default 256)
  --key-space N              keys are drawn from [0, N)
  --sequential-keys | --random-keys
  --consistency s|l          range: serializable or linearizable (default s)
  --no-prefill               range: do not write the key space first
  --timeout MS               per-call deadline (default 30000)
  --watchers N               watch: watchers on the prefix (default 100)
  --watch-streams N          watch: Watch streams / connections they share (default 10)
  --leases N                 lease: leases granted before the keep-alives (default 10000)
  --ttl S                    lease: their TTL in seconds (default 60; keep it above the run time)
  --stream-depth N           lease: keep-alives in flight per stream (default 1);
                             --clients is the number of streams there
  --proto-dir DIR            proto root (default: the repo's proto/)
`;

export type Targets =
  | { kind: 'spawn'; only: ServerKind | null; etcdBin: string; etcdTsMain: string; startTimeoutMs: number }
  | { kind: 'endpoints'; endpoints: string[] };

export interface Plan {
  loads: LoadSpec[];
  reps: number;
  workers: number;
  protoDir: string;
  callTimeoutMs: number;
  targets: Targets;
}

export type Command = { mode: 'help' } | { mode: 'run'; plan: Plan };

const BASE: Omit<LoadSpec, 'name' | 'kind'> = {
  total: 30000,
  clients: 50,
  conns: 10,
  keySize: 8,
  valSize: 256,
  keySpace: 100000,
  sequentialKeys: true,
  serializable: true,
  prefill: true,
  members: 1,
  watchers: 100,
  watchStreams: 10,
  leases: 10_000,
  leaseTtl: 60,
  streamDepth: 1,
};

/**
 * Sized so the whole side-by-side run (both 3-member clusters included) stays under three minutes on 2 cores;
 * watch adds some 10-20 s, lease-keepalive some 25-35 s (per server: 10,000 grants and revokes, untimed, take
 * 5-10 s, the 100,000 keep-alives 3-9 s).
 */
export const DEFAULT_SUITE: LoadSpec[] = [
  { ...BASE, name: 'put', kind: 'put', total: 25000 },
  { ...BASE, name: 'range-s', kind: 'range', total: 25000, keySpace: 1000, sequentialKeys: false, serializable: true },
  { ...BASE, name: 'range-l', kind: 'range', total: 10000, keySpace: 1000, sequentialKeys: false, serializable: false },
  { ...BASE, name: 'put-1c', kind: 'put', total: 3000, clients: 1, conns: 1 },
  { ...BASE, name: 'put-3node', kind: 'put', total: 20000, members: 3 },
  // 100 x 2000 = 200,000 events; a few seconds per run on either server.
  { ...BASE, name: 'watch', kind: 'watch', total: 2000, clients: 10, conns: 10 },
  // etcdbench's lease-keepalive shape (50 streams on 10 conns, one keep-alive in flight each), with the
  // issue's 10,000 leases (etcdbench's own default is 1,000).
  { ...BASE, name: 'lease-keepalive', kind: 'lease', total: 100_000 },
];

const SINGLE_DEFAULTS: Record<'put' | 'range' | 'watch' | 'lease', LoadSpec> = {
  put: { ...BASE, name: 'put', kind: 'put', total: 10000 },
  range: { ...BASE, name: 'range', kind: 'range', total: 10000, keySpace: 1000, sequentialKeys: false },
  watch: { ...BASE, name: 'watch', kind: 'watch', total: 2000, clients: 10, conns: 10 },
  lease: { ...BASE, name: 'lease-keepalive', kind: 'lease', total: 100_000 },
};

export class UsageError extends Error {}

function int(name: string, raw: string | undefined, min: number, max = 2 ** 31 - 2): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer in [${min}, ${max}], got "${raw}"`);
  }
  return n;
}

function list(raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  const items = raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  return items.length > 0 ? items : undefined;
}

function defaultWorkers(): number {
  return Math.min(Math.max(2, os.cpus().length), 8);
}

export function parseCommand(argv: string[]): Command {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      reps: { type: 'string' },
      only: { type: 'string' },
      'target-endpoints': { type: 'string' },
      endpoints: { type: 'string' },
      loads: { type: 'string' },
      'etcd-bin': { type: 'string' },
      'etcd-ts-main': { type: 'string' },
      'start-timeout': { type: 'string' },
      total: { type: 'string' },
      clients: { type: 'string' },
      conns: { type: 'string' },
      workers: { type: 'string' },
      'key-size': { type: 'string' },
      'val-size': { type: 'string' },
      'key-space': { type: 'string' },
      'sequential-keys': { type: 'boolean' },
      'random-keys': { type: 'boolean' },
      consistency: { type: 'string' },
      'no-prefill': { type: 'boolean' },
      timeout: { type: 'string' },
      'proto-dir': { type: 'string' },
      watchers: { type: 'string' },
      'watch-streams': { type: 'string' },
      leases: { type: 'string' },
      ttl: { type: 'string' },
      'stream-depth': { type: 'string' },
    },
  });
  if (values.help) return { mode: 'help' };
  if (positionals.length > 1) throw new UsageError(`unexpected arguments: ${positionals.slice(1).join(' ')}`);
  const cmd = positionals[0] ?? 'suite';
  if (cmd !== 'suite' && cmd !== 'put' && cmd !== 'range' && cmd !== 'watch' && cmd !== 'lease') {
    throw new UsageError(`unknown command "${cmd}" (expected suite, put, range, watch or lease)`);
  }
  if (values['sequential-keys'] && values['random-keys']) {
    throw new UsageError('--sequential-keys and --random-keys are exclusive');
  }
  const consistency = values.consistency;
  if (consistency !== undefined && consistency !== 's' && consistency !== 'l') {
    throw new UsageError('--consistency must be s or l');
  }

  // Knobs given on the command line; undefined means "keep the load's default".
  const overrides: Partial<LoadSpec> = {};
  const set = <K extends keyof LoadSpec>(k: K, v: LoadSpec[K] | undefined): void => {
    if (v !== undefined) overrides[k] = v;
  };
  set('total', int('total', values.total, 1));
  set('clients', int('clients', values.clients, 1));
  set('conns', int('conns', values.conns, 1));
  set('keySize', int('key-size', values['key-size'], 1, 1 << 20));
  set('valSize', int('val-size', values['val-size'], 0, 1 << 24));
  set('keySpace', int('key-space', values['key-space'], 1));
  if (values['sequential-keys']) overrides.sequentialKeys = true;
  if (values['random-keys']) overrides.sequentialKeys = false;
  if (consistency !== undefined) overrides.serializable = consistency === 's';
  if (values['no-prefill']) overrides.prefill = false;
  set('watchers', int('watchers', values.watchers, 1, 100_000));
  set('watchStreams', int('watch-streams', values['watch-streams'], 1, 10_000));
  set('leases', int('leases', values.leases, 1, 10_000_000));
  set('leaseTtl', int('ttl', values.ttl, 1));
  set('streamDepth', int('stream-depth', values['stream-depth'], 1, 10_000));

  let loads: LoadSpec[];
  if (cmd === 'suite') {
    const wanted = list(values.loads);
    const unknown = (wanted ?? []).filter((n) => !DEFAULT_SUITE.some((l) => l.name === n));
    if (unknown.length > 0) {
      throw new UsageError(`unknown load(s) ${unknown.join(',')}; suite has ${DEFAULT_SUITE.map((l) => l.name).join(',')}`);
    }
    loads = DEFAULT_SUITE.filter((l) => !wanted || wanted.includes(l.name)).map((l) => ({ ...l, ...overrides }));
  } else {
    const base = SINGLE_DEFAULTS[cmd];
    const spec = { ...base, ...overrides };
    if (cmd === 'range') spec.name = spec.serializable ? 'range-s' : 'range-l';
    loads = [spec];
  }
  for (const l of loads) {
    // Channels beyond the number of clients would just sit idle.
    l.conns = Math.min(l.conns, l.clients);
    // Watch keys are the put indexes under a prefix, so every put index must fit.
    const bad = l.kind === 'lease' ? null : checkKeySpace(l.kind === 'watch' ? l.total : l.keySpace, l.keySize);
    if (bad) throw new UsageError(`${l.name}: ${bad}`);
    // The watch load carries each put's send time in the value's first 8 bytes.
    if (l.kind === 'watch' && l.valSize < 8) throw new UsageError(`${l.name}: --val-size must be at least 8`);
    // Latencies are kept per (watcher, put) pair.
    if (l.kind === 'watch' && l.watchers * l.total > 50_000_000) throw new UsageError(`${l.name}: watchers x total must stay within 50,000,000`);
  }

  const only = values.only;
  if (only !== undefined && only !== 'etcd-ts' && only !== 'etcd') {
    throw new UsageError('--only must be etcd-ts or etcd');
  }
  const endpoints = list(values['target-endpoints']) ?? list(values.endpoints);
  let targets: Targets;
  if (endpoints) {
    targets = { kind: 'endpoints', endpoints };
  } else if (cmd !== 'suite') {
    throw new UsageError(`${cmd} needs --endpoints HOST:PORT`);
  } else {
    targets = {
      kind: 'spawn',
      only: only ?? null,
      etcdBin: values['etcd-bin'] ?? 'etcd',
      etcdTsMain: path.resolve(values['etcd-ts-main'] ?? ETCD_TS_MAIN),
      startTimeoutMs: int('start-timeout', values['start-timeout'], 100) ?? 30000,
    };
  }

  return {
    mode: 'run',
    plan: {
      loads,
      reps: int('reps', values.reps, 1, 1000) ?? 1,
      workers: int('workers', values.workers, 1, 256) ?? defaultWorkers(),
      protoDir: values['proto-dir'] ?? DEFAULT_PROTO_DIR,
      callTimeoutMs: int('timeout', values.timeout, 1) ?? 30000,
      targets,
    },
  };
}
