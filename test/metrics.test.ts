// /metrics (issue 15, acceptance 3): a strict Prometheus text-format (0.0.4) parser reads what the
// member exports; every etcd metric the issue names is there with etcd's type; the counters move
// as requests are served; a leader's loss raises etcd_server_leader_changes_seen_total on a
// survivor. The assertions take the exposition text, whoever serves it (the member in this
// process, the HTTP routes, a --listen-metrics-urls listener, a child process's client port).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { start, type EtcdHandle } from '../src/server/embed';
import { HttpRouter } from '../src/listener/http-router';
import { parseRequestTarget } from '../src/listener/go-url';
import { installMetrics } from '../src/metrics/http';
import { startMetricsListeners } from '../src/metrics/metrics-listener';
import { b, call, kvClient } from './helpers/grpc-client';
import { WatchClient } from './helpers/watch-client';
import { freePorts } from './helpers/server-process';
import { leaderEndpoint, startCluster, until } from './helpers/cluster';

// --- A strict parser of the text format 0.0.4 --------------------------------------------------

type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: MetricType;
  help: string | undefined;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** The sample names a family of this type may have. */
function sampleNames(f: Family): string[] {
  if (f.type === 'histogram') return [`${f.name}_bucket`, `${f.name}_sum`, `${f.name}_count`];
  if (f.type === 'summary') return [f.name, `${f.name}_sum`, `${f.name}_count`];
  return [f.name];
}

/** As Prometheus reads values (Go's strconv.ParseFloat: NaN and Inf in any case, prom-client writes "Nan"). */
function parseValue(text: string, line: number): number {
  const lower = text.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  if (lower === 'nan') return NaN;
  if (!/^[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?)$/.test(text)) throw new Error(`line ${line}: bad value ${JSON.stringify(text)}`);
  return Number(text);
}

/** Reads `{a="x",b="y"}` from text at i; returns the labels and the index after "}". */
function parseLabels(text: string, i: number, line: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  i++; // "{"
  for (;;) {
    if (text[i] === '}') return [labels, i + 1];
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`line ${line}: label without "="`);
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`line ${line}: bad label name ${JSON.stringify(name)}`);
    if (name in labels) throw new Error(`line ${line}: label ${name} twice`);
    if (text[eq + 1] !== '"') throw new Error(`line ${line}: label value not quoted`);
    let value = '';
    let j = eq + 2;
    for (;; j++) {
      const c = text[j];
      if (c === undefined) throw new Error(`line ${line}: unterminated label value`);
      if (c === '"') break;
      if (c === '\\') {
        const e = text[++j];
        if (e === 'n') value += '\n';
        else if (e === '\\' || e === '"') value += e;
        else throw new Error(`line ${line}: bad escape \\${e}`);
      } else value += c;
    }
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') throw new Error(`line ${line}: expected "," or "}" after a label`);
  }
}

/** Parses an exposition; throws on anything the format does not allow. */
export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  let current: Family | undefined;
  const seen = new Set<string>();
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const lines = text.split('\n');
  lines.pop();
  const family = (name: string, line: number): Family => {
    let f = families.get(name);
    if (f === undefined) {
      if (!NAME.test(name)) throw new Error(`line ${line}: bad metric name ${JSON.stringify(name)}`);
      f = { name, type: 'untyped', help: undefined, samples: [] };
      families.set(name, f);
    } else if (f !== current) {
      throw new Error(`line ${line}: metric family ${name} is not contiguous`);
    }
    current = f;
    return f;
  };
  lines.forEach((raw, idx) => {
    const line = idx + 1;
    if (raw === '') return;
    if (raw.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw);
      if (m === null) return; // a comment
      const [, kind, name, rest] = m;
      const f = family(name, line);
      if (kind === 'HELP') {
        if (f.help !== undefined) throw new Error(`line ${line}: second HELP for ${name}`);
        f.help = rest.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      } else {
        if (!TYPES.has(rest)) throw new Error(`line ${line}: bad type ${rest}`);
        if (f.samples.length > 0) throw new Error(`line ${line}: TYPE of ${name} after its samples`);
        f.type = rest as MetricType;
      }
      return;
    }
    const nameEnd = raw.search(/[{ ]/);
    if (nameEnd <= 0) throw new Error(`line ${line}: no value`);
    const name = raw.slice(0, nameEnd);
    let labels: Record<string, string> = {};
    let i = nameEnd;
    if (raw[i] === '{') [labels, i] = parseLabels(raw, i, line);
    if (raw[i] !== ' ') throw new Error(`line ${line}: expected a space before the value`);
    const parts = raw.slice(i + 1).split(' ');
    if (parts.length > 2) throw new Error(`line ${line}: trailing text`);
    const value = parseValue(parts[0], line);
    if (parts.length === 2 && !/^-?\d+$/.test(parts[1])) throw new Error(`line ${line}: bad timestamp`);
    // The family: the current one if the name is one of its sample names, else its own.
    const f = current !== undefined && sampleNames(current).includes(name) ? current : family(name, line);
    if (!sampleNames(f).includes(name)) throw new Error(`line ${line}: sample ${name} in family ${f.name} of type ${f.type}`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`line ${line}: series ${key} twice`);
    seen.add(key);
    f.samples.push({ name, labels, value });
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

/** Buckets cumulative, a +Inf bucket equal to _count, for every label set. */
function checkHistogram(f: Family): void {
  const series = new Map<string, { buckets: [number, number][]; count?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const e = series.get(key) ?? { buckets: [] };
    series.set(key, e);
    if (s.name.endsWith('_bucket')) {
      if (le === undefined) throw new Error(`${f.name}: bucket without le`);
      e.buckets.push([parseValue(le, 0), s.value]);
    } else if (s.name.endsWith('_count')) e.count = s.value;
  }
  for (const [key, e] of series) {
    e.buckets.sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < e.buckets.length; i++) if (e.buckets[i][1] < e.buckets[i - 1][1]) throw new Error(`${f.name}${key}: buckets not cumulative`);
    const inf = e.buckets[e.buckets.length - 1];
    if (inf === undefined || inf[0] !== Infinity) throw new Error(`${f.name}${key}: no +Inf bucket`);
    if (inf[1] !== e.count) throw new Error(`${f.name}${key}: +Inf bucket ${inf[1]} != count ${e.count}`);
  }
}

/** The sum of a family's samples named `sample` whose labels include `labels`. */
export function valueOf(families: Map<string, Family>, sample: string, labels: Record<string, string> = {}): number {
  const f = [...families.values()].find((x) => sampleNames(x).includes(sample));
  if (f === undefined) throw new Error(`no metric ${sample}`);
  let sum = 0;
  for (const s of f.samples) if (s.name === sample && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  return sum;
}

// --- What etcd exports -------------------------------------------------------------------------

/** The metrics issue 15 names, with the type etcd 3.5.17 gives them. */
const ETCD_METRICS: ReadonlyArray<readonly [string, MetricType]> = [
  ['etcd_server_has_leader', 'gauge'],
  ['etcd_server_is_leader', 'gauge'],
  ['etcd_server_leader_changes_seen_total', 'counter'],
  // Gauges in etcd, despite the suffix.
  ['etcd_server_proposals_committed_total', 'gauge'],
  ['etcd_server_proposals_applied_total', 'gauge'],
  ['etcd_server_proposals_pending', 'gauge'],
  ['etcd_server_proposals_failed_total', 'counter'],
  ['etcd_server_slow_apply_total', 'counter'],
  ['etcd_disk_wal_fsync_duration_seconds', 'histogram'],
  ['etcd_disk_backend_commit_duration_seconds', 'histogram'],
  ['etcd_server_apply_duration_seconds', 'histogram'],
  ['etcd_mvcc_db_total_size_in_bytes', 'gauge'],
  ['etcd_mvcc_db_total_size_in_use_in_bytes', 'gauge'],
  ['etcd_server_quota_backend_bytes', 'gauge'],
  ['etcd_mvcc_put_total', 'counter'],
  ['etcd_mvcc_range_total', 'counter'],
  ['etcd_mvcc_delete_total', 'counter'],
  ['etcd_mvcc_txn_total', 'counter'],
  ['etcd_debugging_mvcc_keys_total', 'gauge'],
  ['etcd_debugging_mvcc_watcher_total', 'gauge'],
  ['etcd_network_peer_round_trip_time_seconds', 'histogram'],
  ['etcd_network_peer_sent_failures_total', 'counter'],
  ['etcd_network_client_grpc_sent_bytes_total', 'counter'],
  ['etcd_network_client_grpc_received_bytes_total', 'counter'],
  ['grpc_server_started_total', 'counter'],
  ['grpc_server_handled_total', 'counter'],
  ['process_cpu_seconds_total', 'counter'],
  ['process_resident_memory_bytes', 'gauge'],
  ['process_start_time_seconds', 'gauge'],
  ['nodejs_eventloop_lag_seconds', 'gauge'],
  ['nodejs_heap_size_used_bytes', 'gauge'],
];

const PUT_OK = { grpc_type: 'unary', grpc_service: 'etcdserverpb.KV', grpc_method: 'Put', grpc_code: 'OK' };

const dir = mkdtempSync(join(tmpdir(), 'etcd-ts-metrics-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const quiet = pino({ level: 'silent' });

function httpGet(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string | undefined; body: string; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers: { origin: 'http://example.com' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the text-format parser', () => {
  test('reads samples, labels with escapes and histograms', () => {
    const text = [
      '# HELP a_total A counter.',
      '# TYPE a_total counter',
      'a_total{x="q\\"uo\\\\te",y="2"} 3',
      '# TYPE h histogram',
      'h_bucket{le="1"} 1',
      'h_bucket{le="+Inf"} 2',
      'h_sum 4.5',
      'h_count 2',
      '',
    ].join('\n');
    const f = parseExposition(text);
    assert.equal(f.get('a_total')?.type, 'counter');
    assert.equal(f.get('a_total')?.samples[0].labels.x, 'q"uo\\te');
    assert.equal(valueOf(f, 'h_count'), 2);
  });

  test('refuses what the format does not allow', () => {
    assert.throws(() => parseExposition('a 1'), /newline/);
    assert.throws(() => parseExposition('a{x=1} 1\n'), /quoted/);
    assert.throws(() => parseExposition('a one\n'), /bad value/);
    assert.throws(() => parseExposition('# TYPE a counter\na 1\na 2\n'), /twice/);
    assert.throws(() => parseExposition('# TYPE a counter\na 1\n# TYPE b gauge\nb 1\na{x="1"} 2\n'), /contiguous/);
    assert.throws(() => parseExposition('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n'), /cumulative/);
    assert.throws(() => parseExposition('# TYPE a wrong\n'), /bad type/);
  });
});

describe('/metrics of one member', () => {
  let h: EtcdHandle;

  test('every etcd metric is there with its type; counters move as requests are served', async () => {
    h = await start({ dataDir: join(dir, 'one'), listenClientUrls: ['http://127.0.0.1:0'], logger: quiet });
    const kv = kvClient(h.endpoints[0]);
    const watch = new WatchClient(h.endpoints[0]);
    try {
      await until('a leader', async () => ((await h.server.metricsText()).includes('etcd_server_has_leader 1') ? true : undefined));
      const before = parseExposition(await h.server.metricsText());
      for (const [name, type] of ETCD_METRICS) {
        assert.equal(before.get(name)?.type, type, `${name} should be a ${type}`);
        assert.ok(before.get(name)?.help, `${name} has a help text`);
      }
      assert.equal(before.has('grpc_server_handling_seconds'), false, 'only with --metrics extensive');
      assert.equal(valueOf(before, 'etcd_server_is_leader'), 1);
      assert.equal(valueOf(before, 'etcd_server_quota_backend_bytes'), 2 * 1024 ** 3);
      // go-grpc-prometheus pre-registers every method with every code at 0.
      assert.equal(valueOf(before, 'grpc_server_handled_total', { grpc_method: 'Compact', grpc_code: 'Unavailable' }), 0);
      assert.equal(before.get('grpc_server_handled_total')?.samples.filter((s) => s.labels.grpc_method === 'Put').length, 17);

      for (let i = 0; i < 10; i++) await call(kv, 'Put', { key: b(`k${i}`), value: b('v') });
      await call(kv, 'Range', { key: b('k0'), serializable: true });
      await call(kv, 'Txn', { compare: [{ key: b('k0'), target: 'VERSION', result: 'EQUAL', version: 1 }], success: [{ request_put: { key: b('k0'), value: b('w') } }] });
      await call(kv, 'DeleteRange', { key: b('k9') });
      watch.create({ key: b('k'), range_end: b('l') });
      await watch.next();
      const after1 = parseExposition(await h.server.metricsText());
      const moved = (name: string, labels: Record<string, string> = {}): number => valueOf(after1, name, labels) - valueOf(before, name, labels);
      assert.equal(moved('etcd_mvcc_put_total'), 11);
      assert.equal(moved('grpc_server_handled_total', PUT_OK), 10);
      assert.equal(moved('grpc_server_started_total', { grpc_type: 'unary', grpc_service: 'etcdserverpb.KV', grpc_method: 'Put' }), 10);
      assert.equal(moved('grpc_server_handled_total', { grpc_method: 'Txn', grpc_code: 'OK' }), 1);
      assert.equal(moved('etcd_mvcc_range_total'), 2, 'the Range and the Txn compare');
      assert.equal(moved('etcd_mvcc_txn_total'), 1);
      assert.equal(moved('etcd_mvcc_delete_total'), 1);
      assert.equal(valueOf(after1, 'etcd_debugging_mvcc_keys_total'), 9);
      assert.equal(moved('etcd_debugging_mvcc_watcher_total'), 1);
      assert.equal(moved('grpc_server_started_total', { grpc_type: 'bidi_stream', grpc_method: 'Watch' }), 1);
      assert.ok(moved('etcd_server_proposals_committed_total') >= 12);
      assert.ok(moved('etcd_server_proposals_applied_total') >= 12);
      assert.ok(moved('etcd_disk_wal_fsync_duration_seconds_count') >= 1);
      // The store commits at its next checkpoint: when the member goes idle, at the latest a second on.
      await until('a backend commit', async () => (valueOf(parseExposition(await h.server.metricsText()), 'etcd_disk_backend_commit_duration_seconds_count') > valueOf(before, 'etcd_disk_backend_commit_duration_seconds_count') ? true : undefined));
      // Every applied request, labelled as etcd labels it.
      const applied = (op: string): number => moved('etcd_server_apply_duration_seconds_count', { version: 'v3', op, success: 'true' });
      assert.deepEqual([applied('Put'), applied('Txn'), applied('DeleteRange')], [10, 1, 1]);
      assert.ok(valueOf(after1, 'etcd_server_apply_duration_seconds_sum', { op: 'Put' }) > 0);
      assert.equal(valueOf(after1, 'etcd_server_apply_duration_seconds_count', { success: 'false' }), 0);
      assert.ok(moved('etcd_network_client_grpc_received_bytes_total') > 10 * 10);
      assert.ok(moved('etcd_network_client_grpc_sent_bytes_total') > 10 * 10);
      assert.ok(valueOf(after1, 'etcd_mvcc_db_total_size_in_bytes') >= valueOf(after1, 'etcd_mvcc_db_total_size_in_use_in_bytes'));
      assert.ok(valueOf(after1, 'etcd_mvcc_db_total_size_in_use_in_bytes') > 0);
      assert.equal(valueOf(after1, 'etcd_server_leader_changes_seen_total'), 1);
      // A refused call is handled with its code.
      await assert.rejects(call(kv, 'Range', { key: b('') }));
      const after2 = parseExposition(await h.server.metricsText());
      assert.equal(valueOf(after2, 'grpc_server_handled_total', { grpc_method: 'Range', grpc_code: 'InvalidArgument' }) - valueOf(after1, 'grpc_server_handled_total', { grpc_method: 'Range', grpc_code: 'InvalidArgument' }), 1);
    } finally {
      kv.close();
      watch.close();
    }
  });

  test('installMetrics serves it on a router with the text format content type', async () => {
    const router = new HttpRouter(quiet);
    installMetrics(router, h.server);
    const target = parseRequestTarget('/metrics');
    assert.ok(target !== undefined);
    const reply = await router.answer('GET', target, false);
    assert.equal(reply.status, 200);
    assert.ok(reply.header.some(([k, v]) => k === 'Content-Type' && v === 'text/plain; version=0.0.4; charset=utf-8'));
    assert.ok(parseExposition(reply.body).has('etcd_mvcc_put_total'));
  });

  test('--listen-metrics-urls listeners serve /metrics and /health', async () => {
    const health = { hasLeader: () => true, alarms: () => [], read: async () => undefined };
    const member = Object.assign(health, { metricsText: () => h.server.metricsText(), metricsContentType: h.server.metricsContentType });
    const l = await startMetricsListeners(['http://127.0.0.1:0'], member, quiet);
    try {
      const m = await httpGet(l.ports[0], '/metrics');
      assert.equal(m.status, 200);
      assert.equal(m.type, 'text/plain; version=0.0.4; charset=utf-8');
      assert.ok(parseExposition(m.body).has('etcd_server_has_leader'));
      const hl = await httpGet(l.ports[0], '/health');
      assert.equal(hl.status, 200);
      assert.match(hl.body, /"health":"true"/);
      assert.equal((await httpGet(l.ports[0], '/version')).status, 404);
      // A bare mux, as etcd's serveMetrics: no CORS headers, and OPTIONS reaches /health (405 Allow: GET).
      assert.equal(m.headers['access-control-allow-origin'], undefined);
      const opt = await httpGet(l.ports[0], '/health', 'OPTIONS');
      assert.deepEqual([opt.status, opt.headers.allow, opt.headers['access-control-allow-origin']], [405, 'GET', undefined]);
    } finally {
      await l.close();
      await h.close();
    }
  });

  test('--metrics extensive adds grpc_server_handling_seconds', async () => {
    const x = await start({ dataDir: join(dir, 'extensive'), listenClientUrls: ['http://127.0.0.1:0'], logger: quiet, metrics: 'extensive' });
    const kv = kvClient(x.endpoints[0]);
    try {
      await until('a leader', async () => (x.server.hasLeader() ? true : undefined));
      await call(kv, 'Put', { key: b('a'), value: b('1') });
      const f = parseExposition(await x.server.metricsText());
      assert.equal(f.get('grpc_server_handling_seconds')?.type, 'histogram');
      assert.equal(valueOf(f, 'grpc_server_handling_seconds_count', { grpc_method: 'Put' }), 1);
      assert.equal(valueOf(f, 'grpc_server_handling_seconds_count', { grpc_method: 'Range' }), 0);
    } finally {
      kv.close();
      await x.close();
    }
  });
});

describe('leader changes', () => {
  test('a 3-member cluster: the leader stops, a survivor counts the change; peers have round trips', async () => {
    const ports = await freePorts(3);
    const names = ['m1', 'm2', 'm3'];
    const initialCluster = names.map((n, i) => `${n}=http://127.0.0.1:${ports[i]}`).join(',');
    const members = await Promise.all(
      names.map((name, i) =>
        start({
          name,
          dataDir: join(dir, `cluster-${name}`),
          listenClientUrls: ['http://127.0.0.1:0'],
          listenPeerUrls: [`http://127.0.0.1:${ports[i]}`],
          initialAdvertisePeerUrls: [`http://127.0.0.1:${ports[i]}`],
          initialCluster,
          initialClusterToken: 'metrics-test',
          logger: quiet,
        }),
      ),
    );
    const text = async (m: EtcdHandle): Promise<Map<string, Family>> => parseExposition(await m.server.metricsText());
    try {
      const leader = await until('a leader', async () => {
        for (const m of members) if (valueOf(await text(m), 'etcd_server_is_leader') === 1) return m;
        return undefined;
      });
      const survivors = members.filter((m) => m !== leader);
      const before = valueOf(await text(survivors[0]), 'etcd_server_leader_changes_seen_total');
      assert.ok(before >= 1);
      await until('round trips measured', async () => (valueOf(await text(leader), 'etcd_network_peer_round_trip_time_seconds_count') > 0 ? true : undefined));
      await leader.close();
      await until('a new leader counted by a survivor', async () => {
        const f = await text(survivors[0]);
        return valueOf(f, 'etcd_server_has_leader') === 1 && valueOf(f, 'etcd_server_leader_changes_seen_total') > before ? true : undefined;
      }, 20_000);
    } finally {
      await Promise.all(members.map((m) => m.close()));
    }
  });

  test('a SIGKILLed leader of a 3-member cluster of processes (over HTTP /metrics)', async () => {
    const cluster = await startCluster(3);
    try {
      const port = (i: number): number => cluster.members[i].clientPort;
      const probe = await httpGet(port(0), '/metrics');
      assert.equal(probe.status, 200, 'the client port serves /metrics');
      const leader = cluster.endpoints().indexOf(await leaderEndpoint(cluster.endpoints()));
      assert.ok(leader >= 0);
      const survivor = (leader + 1) % 3;
      const changes = async (): Promise<number> => valueOf(parseExposition((await httpGet(port(survivor), '/metrics')).body), 'etcd_server_leader_changes_seen_total');
      const before = await changes();
      await cluster.kill(leader);
      await until('a survivor counts the new leader', async () => ((await changes()) > before ? true : undefined), 20_000);
      // Messages to the killed member cannot be sent: the new leader (whose heartbeats go to every
      // member; a follower sends only to the leader) counts them, labelled by the member's ID in hex.
      const survivors = cluster.endpoints().filter((_, i) => i !== leader);
      const newLeader = cluster.endpoints().indexOf(await leaderEndpoint(survivors));
      const killedId = BigInt(cluster.members[leader].id).toString(16);
      await until('send failures to the killed member', async () => {
        const f = parseExposition((await httpGet(port(newLeader), '/metrics')).body);
        return valueOf(f, 'etcd_network_peer_sent_failures_total', { To: killedId }) > 0 ? true : undefined;
      }, 20_000);
    } finally {
      await cluster.cleanup();
    }
  });
});
