// Runs Debian's Patroni (with PostgreSQL) against etcd-ts through its etcd3 (HTTP/JSON gateway)
// DCS, for test/patroni.test.ts. Each node is a Patroni process with its own PostgreSQL data dir,
// REST API port and PostgreSQL port, all under one temp dir. PostgreSQL refuses to run as root,
// so when the tests run as root every Patroni runs as the `postgres` user, with the temp dir
// handed to it. Every process started is SIGKILLed at cleanup (the Patroni process group and the
// postmaster named in postmaster.pid, which Patroni starts in a session of its own).
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from './server-process';

/** The newest PostgreSQL server's bin dir Debian installed, if any. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(root, versions[0], 'bin') : undefined;
}

/** Why the Patroni tests cannot run here, or false. */
export function patroniMissing(): string | false {
  if (spawnSync('patroni', ['--version']).status !== 0) return 'patroni is not installed (apt-get install patroni)';
  if (postgresBinDir() === undefined) return 'PostgreSQL is not installed (apt-get install postgresql)';
  if (process.getuid?.() === 0 && runAs() === undefined) return 'running as root and there is no postgres user to run PostgreSQL as';
  return false;
}

/** The uid/gid to run Patroni as: `postgres` when we are root (PostgreSQL refuses root). */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (r.status !== 0 || g.status !== 0) return undefined;
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

/** Patroni's dynamic settings for the tests: short, within Patroni's rule loop_wait + 2 × retry_timeout ≤ ttl. */
export const TTL_SECONDS = 10;
const LOOP_WAIT = 1;
const RETRY_TIMEOUT = 4;

export interface PatroniNode {
  name: string;
  restPort: number;
  pgPort: number;
  dataDir: string;
  proc: ChildProcess | undefined;
  /** The last 64 KiB of the node's output. */
  output(): string;
}

export interface PatroniCluster {
  scope: string;
  nodes: PatroniNode[];
  start(name: string): Promise<void>;
  /** SIGKILL the node's Patroni and its PostgreSQL, as a machine loss would. */
  kill(name: string): Promise<void>;
  /** GET a Patroni REST path of a node: status and parsed JSON body (undefined if it did not answer). */
  rest(name: string, path: string, method?: 'GET' | 'POST', body?: unknown): Promise<{ status: number; body: unknown } | undefined>;
  /** Runs SQL on a node's PostgreSQL as the superuser; resolves to psql's unaligned output. */
  sql(name: string, query: string): Promise<string>;
  cleanup(): Promise<void>;
}

const OUTPUT_BOUND = 64 * 1024;

export async function startPatroniCluster(etcdEndpoints: string[], names: string[]): Promise<PatroniCluster> {
  const binDir = postgresBinDir();
  if (binDir === undefined) throw new Error('no PostgreSQL');
  const owner = runAs();
  const root = mkdtempSync(join(tmpdir(), 'etcd-ts-patroni-'));
  // The postgres user must reach its files: the temp dir itself is 0700 root's otherwise.
  chmodSync(root, 0o755);
  const scope = `pg-${process.pid}-${Date.now() % 100000}`;
  const ports = await freePorts(names.length * 2);
  const outputs = new Map<string, string>(names.map((n) => [n, '']));
  const append = (name: string, s: string): void => void outputs.set(name, ((outputs.get(name) ?? '') + s).slice(-OUTPUT_BOUND));
  const nodes: PatroniNode[] = names.map((name, i) => ({
    name,
    restPort: ports[i * 2],
    pgPort: ports[i * 2 + 1],
    dataDir: join(root, name, 'data'),
    proc: undefined,
    output: () => outputs.get(name) ?? '',
  }));
  for (const n of nodes) dataDirs.add(n.dataDir);
  const byName = (name: string): PatroniNode => {
    const n = nodes.find((x) => x.name === name);
    if (n === undefined) throw new Error(`no Patroni node ${name}`);
    return n;
  };

  for (const n of nodes) {
    const dir = join(root, n.name);
    mkdirSync(dir, { recursive: true });
    // JSON is YAML, so the config needs no YAML writer.
    const config = {
      scope,
      namespace: '/service/',
      name: n.name,
      log: { level: 'INFO' },
      restapi: { listen: `127.0.0.1:${n.restPort}`, connect_address: `127.0.0.1:${n.restPort}` },
      etcd3: { hosts: etcdEndpoints },
      bootstrap: {
        dcs: {
          ttl: TTL_SECONDS,
          loop_wait: LOOP_WAIT,
          retry_timeout: RETRY_TIMEOUT,
          maximum_lag_on_failover: 1048576,
          postgresql: { use_pg_rewind: true, use_slots: true, parameters: { wal_log_hints: 'on', max_wal_senders: 5, max_replication_slots: 5 } },
        },
        initdb: [{ encoding: 'UTF8' }, { locale: 'C' }],
      },
      postgresql: {
        listen: `127.0.0.1:${n.pgPort}`,
        connect_address: `127.0.0.1:${n.pgPort}`,
        data_dir: n.dataDir,
        bin_dir: binDir,
        pgpass: join(dir, 'pgpass'),
        authentication: {
          superuser: { username: 'postgres', password: 'postgres-pw' },
          replication: { username: 'replicator', password: 'replicator-pw' },
          rewind: { username: 'rewinder', password: 'rewinder-pw' },
        },
        pg_hba: ['local all all trust', 'host all all 127.0.0.1/32 trust', 'host replication all 127.0.0.1/32 trust'],
        // Small, so that two or six of them fit beside the tests on a 2-core machine.
        parameters: { unix_socket_directories: dir, shared_buffers: '16MB', max_connections: 20, fsync: 'on' },
      },
      tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false },
    };
    writeFileSync(join(dir, 'patroni.yml'), JSON.stringify(config, null, 2));
    if (owner !== undefined) chownSync(dir, owner.uid, owner.gid);
    if (owner !== undefined) chownSync(join(dir, 'patroni.yml'), owner.uid, owner.gid);
  }

  const killNode = async (n: PatroniNode): Promise<void> => {
    const p = n.proc;
    if (p !== undefined && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise<void>((res) => p.once('exit', () => res()));
      try {
        // The whole group: Patroni and what it forked in its own group.
        if (p.pid !== undefined) process.kill(-p.pid, 'SIGKILL');
      } catch {
        p.kill('SIGKILL');
      }
      await exited;
    }
    n.proc = undefined;
    // PostgreSQL's postmaster may run in a session of its own: kill it by its pid file too, so
    // that the data dir is free and no orphan survives the test.
    const pid = killPostmaster(n.dataDir);
    if (pid !== undefined) await waitGone(pid);
  };

  const cluster: PatroniCluster = {
    scope,
    nodes,
    async start(name) {
      const n = byName(name);
      const dir = join(root, n.name);
      const proc = spawn('patroni', [join(dir, 'patroni.yml')], {
        cwd: dir,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, HOME: dir, PGHOST: dir },
        ...(owner ?? {}),
      });
      live.add(proc);
      proc.once('exit', () => live.delete(proc));
      proc.stdout?.on('data', (d: Buffer) => append(name, d.toString()));
      proc.stderr?.on('data', (d: Buffer) => append(name, d.toString()));
      n.proc = proc;
    },
    kill: (name) => killNode(byName(name)),
    async rest(name, path, method = 'GET', body) {
      const n = byName(name);
      try {
        const r = await fetch(`http://127.0.0.1:${n.restPort}${path}`, {
          method,
          body: body === undefined ? undefined : JSON.stringify(body),
          headers: body === undefined ? {} : { 'content-type': 'application/json' },
          signal: AbortSignal.timeout(5000),
        });
        const text = await r.text();
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // Patroni answers some POSTs in plain text.
        }
        return { status: r.status, body: parsed };
      } catch {
        return undefined;
      }
    },
    sql(name, query) {
      const n = byName(name);
      return new Promise((res, rej) => {
        execFile(
          join(binDir, 'psql'),
          ['-h', '127.0.0.1', '-p', String(n.pgPort), '-U', 'postgres', '-d', 'postgres', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', query],
          { timeout: 10_000, env: { ...process.env, PGPASSWORD: 'postgres-pw', PGCONNECT_TIMEOUT: '3' } },
          (err, stdout, stderr) => (err ? rej(new Error(`psql on ${name}: ${stderr || String(err)}`)) : res(stdout.trim())),
        );
      });
    },
    async cleanup() {
      for (const n of nodes) await killNode(n);
      for (const n of nodes) dataDirs.delete(n.dataDir);
      rmSync(root, { recursive: true, force: true });
    },
  };
  return cluster;
}

const live = new Set<ChildProcess>();
const dataDirs = new Set<string>();
process.on('exit', () => {
  for (const p of live) {
    try {
      if (p.pid !== undefined) process.kill(-p.pid, 'SIGKILL');
    } catch {
      p.kill('SIGKILL');
    }
  }
  for (const d of dataDirs) killPostmaster(d);
});

/** SIGKILLs the postmaster a data dir's pid file names; its pid, if there was one. */
function killPostmaster(dataDir: string): number | undefined {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  // A stale pid file may name a pid since reused by someone else's process: only a postgres.
  try {
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('postgres')) return undefined;
  } catch {
    return undefined;
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
  return pid;
}

async function waitGone(pid: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
