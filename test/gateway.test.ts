// The HTTP/JSON gateway (src/gateway/) on a client listener: the same requests, with curl and
// node's http, against etcd-ts and real etcd 3.4; bodies compared after parsing (3.4's gateway
// writes an error's "message" before "code", 3.5's and ours after) with the raft term and, where
// named, IDs blanked. Covers KV (put, range, deleterange, txn, compaction), leases (grant,
// keep-alive stream, timetolive, leases, revoke), member list, status, auth (authenticate, the
// Authorization header, permission denied, invalid token), a watch stream fed by puts, errors
// (bad JSON, compacted and future revisions, unknown route, wrong method) and /v3beta.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer, type ServerProcess } from './helpers/server-process';
import { b64, curl, normalize, openStream } from './helpers/gateway-client';

const etcdMissing = spawnSync('etcd', ['--version']).status === 0 ? false : 'etcd is not installed';
const curlMissing = spawnSync('curl', ['--version']).status === 0 ? false : 'curl is not installed';

type Step = [path: string, body?: string, headers?: Record<string, string>];

describe('gRPC gateway, etcd-ts against etcd 3.4', { skip: etcdMissing || curlMissing }, () => {
  let ours: ServerProcess;
  let etcd: ServerProcess;
  const streams: Array<{ close(): void }> = [];
  before(async () => {
    [ours, etcd] = await Promise.all([startServer({ impl: 'etcd-ts' }), startServer({ impl: 'etcd' })]);
  });
  after(async () => {
    for (const s of streams) s.close();
    await Promise.all([ours?.cleanup(), etcd?.cleanup()]);
  });

  /** Runs the steps on one server; each reply as "status content-type" and its body. */
  async function run(endpoint: string, steps: Step[]): Promise<Array<{ status: number; contentType: string; body: string }>> {
    const out = [];
    for (const [path, body, headers] of steps) out.push(await curl(endpoint, path, body, headers));
    return out;
  }

  async function same(steps: Step[], blank: string[] = []): Promise<Array<{ status: number; body: string }>> {
    const [a, e] = await Promise.all([run(ours.endpoint, steps), run(etcd.endpoint, steps)]);
    for (let i = 0; i < steps.length; i++) {
      const what = `${steps[i][0]} ${steps[i][1] ?? ''}`;
      assert.equal(a[i].status, e[i].status, `status of ${what}: ${a[i].body} vs ${e[i].body}`);
      assert.equal(a[i].contentType, e[i].contentType, `content type of ${what}`);
      if (e[i].contentType === 'application/json') assert.deepEqual(normalize(a[i].body, blank), normalize(e[i].body, blank), what);
      else assert.equal(a[i].body, e[i].body, what);
    }
    return a;
  }

  test('KV: put, range, txn, deleterange, compaction, errors of revisions', async () => {
    const a = await same([
      ['/v3/kv/put', JSON.stringify({ key: b64('foo'), value: b64('bar') })],
      ['/v3/kv/put', JSON.stringify({ key: b64('foo2'), value: b64('baz'), prev_kv: true })],
      ['/v3/kv/put', JSON.stringify({ key: b64('foo'), value: b64('bar2'), prev_kv: true })],
      ['/v3/kv/range', JSON.stringify({ key: b64('foo') })],
      ['/v3/kv/range', JSON.stringify({ key: b64('foo'), range_end: b64('fop'), sort_order: 'DESCEND', sort_target: 'KEY', limit: 1 })],
      ['/v3/kv/range', JSON.stringify({ key: b64('foo'), range_end: b64('fop'), count_only: true })],
      ['/v3/kv/range', JSON.stringify({ key: b64('foo'), revision: '100' })],
      [
        '/v3/kv/txn',
        JSON.stringify({
          compare: [{ key: b64('foo'), target: 'VALUE', result: 'EQUAL', value: b64('bar2') }],
          success: [{ request_range: { key: b64('foo2') } }, { request_put: { key: b64('t'), value: b64('1') } }],
          failure: [{ request_delete_range: { key: b64('foo') } }],
        }),
      ],
      ['/v3/kv/txn', JSON.stringify({ compare: [{ key: b64('foo'), target: 'VERSION', result: 'GREATER', version: 5 }], failure: [{ request_range: { key: b64('t'), keys_only: true } }] })],
      ['/v3/kv/deleterange', JSON.stringify({ key: b64('foo2'), prev_kv: true })],
      ['/v3/kv/compaction', JSON.stringify({ revision: 3, physical: true })],
      ['/v3/kv/range', JSON.stringify({ key: b64('foo'), revision: 2 })],
      ['/v3beta/kv/range', JSON.stringify({ key: b64('t') })],
      ['/v3/kv/range', '{}'],
      ['/v3/kv/put', JSON.stringify({ key: b64('x') })],
    ]);
    assert.equal(a[6].status, 400);
    assert.equal(JSON.parse(a[11].body).code, 11);
    assert.match(a[11].body, /required revision has been compacted/);
  });

  test('errors: bad JSON, unknown route, wrong method, v3alpha', async () => {
    await same([
      ['/v3/kv/range', '{"key":"Zm9v"'],
      ['/v3/kv/range', 'xx'],
      ['/v3/kv/range', ''],
      ['/v3/kv/rangex', '{}'],
      ['/v3alpha/kv/range', '{}'],
      ['/v3/kv/put', '{"key":"Zm9v","value":"YmFy","unknown_field":1}'],
      ['/v3/kv/range', '{"key":"Zm9v","limit":"x"}'],
      // A stream's first message that does not decode fails the call (code Unknown, 500); a
      // later one only half-closes it.
      ['/v3/watch', 'xx'],
      ['/v3/lease/keepalive', '{"ID":"x"}'],
      ['/v3/lease/keepalive', '{"ID":"12"}\nxx'],
    ]);
    const [a, e] = await Promise.all([curl(ours.endpoint, '/v3/kv/range', undefined, {}, 'GET'), curl(etcd.endpoint, '/v3/kv/range', undefined, {}, 'GET')]);
    assert.deepEqual(a, e);
    assert.equal(a.status, 405);
  });

  test('lease: grant, keep-alive stream, timetolive, leases, revoke', async () => {
    const grant = async (endpoint: string): Promise<string> => JSON.parse((await curl(endpoint, '/v3/lease/grant', '{"TTL":60}')).body).ID as string;
    const [idA, idE] = await Promise.all([grant(ours.endpoint), grant(etcd.endpoint)]);
    const withId = async (endpoint: string, id: string): Promise<string[]> => {
      const out: string[] = [];
      out.push((await curl(endpoint, '/v3/kv/put', JSON.stringify({ key: b64('leased'), value: b64('v'), lease: id }))).body);
      // Keep-alive: several messages in one body (the ID as a number and as a string), NDJSON out.
      const ka = await curl(endpoint, '/v3/lease/keepalive', `{"ID":${id}}\n{"ID":"${id}"}\n{"ID":"12"}\n`);
      out.push(`${ka.status}`, ka.body);
      out.push((await curl(endpoint, '/v3/lease/timetolive', JSON.stringify({ ID: id, keys: true }))).body);
      out.push((await curl(endpoint, '/v3/kv/lease/timetolive', JSON.stringify({ ID: '12' }))).body);
      out.push((await curl(endpoint, '/v3/lease/leases', '{}')).body);
      out.push((await curl(endpoint, '/v3/lease/revoke', JSON.stringify({ ID: id }))).body);
      out.push((await curl(endpoint, '/v3/kv/lease/revoke', JSON.stringify({ ID: id }))).body);
      out.push((await curl(endpoint, '/v3/kv/range', JSON.stringify({ key: b64('leased') }))).body);
      return out.map((s) => s.split(id).join('<ID>'));
    };
    const [a, e] = await Promise.all([withId(ours.endpoint, idA), withId(etcd.endpoint, idE)]);
    assert.equal(a[1], '200');
    assert.equal(a[2].trim().split('\n').length, 3);
    // TTL left differs by the second it was asked in.
    assert.deepEqual(a.map((s) => normalize(s, ['TTL'])), e.map((s) => normalize(s, ['TTL'])));
  });

  test('watch over /v3/watch: events as NDJSON while puts happen', async () => {
    // etcd's Go HTTP/1 server reads no body once it replies: the request is sent whole (as curl
    // -d sends it), and the watch stays open after the client's half-close, on both.
    const watchOn = async (endpoint: string): Promise<string[]> => {
      const w = openStream(endpoint, '/v3/watch');
      streams.push(w);
      w.send({ create_request: { key: b64('w/'), range_end: b64('w0'), prev_kv: true } });
      w.end();
      assert.equal(await w.status, 200);
      await w.waitLines(1);
      await curl(endpoint, '/v3/kv/put', JSON.stringify({ key: b64('w/a'), value: b64('1') }));
      await curl(endpoint, '/v3/kv/put', JSON.stringify({ key: b64('w/a'), value: b64('2') }));
      await curl(endpoint, '/v3/kv/deleterange', JSON.stringify({ key: b64('w/a') }));
      const lines = await w.waitLines(4);
      w.close();
      return lines;
    };
    const [a, e] = await Promise.all([watchOn(ours.endpoint), watchOn(etcd.endpoint)]);
    assert.deepEqual(normalize(a.join('\n')), normalize(e.join('\n')));
    assert.equal(JSON.parse(a[3]).result.events[0].type, 'DELETE');
  });

  test('member list, status, hash; auth: authenticate, Authorization header, permission denied', async () => {
    await same(
      [
        ['/v3/cluster/member/list', '{}'],
        ['/v3/maintenance/status', '{}'],
      ],
      ['clientURLs', 'version', 'dbSize', 'dbSizeInUse', 'raftIndex', 'raftAppliedIndex'],
    );
    // Alarm GET: etcd 3.4 answers without a header, 3.5 (and etcd-ts) with one; not compared.
    const alarm = await curl(ours.endpoint, '/v3/maintenance/alarm', '{"action":"GET"}');
    assert.equal(alarm.status, 200);
    const token = async (endpoint: string, name: string): Promise<string> => JSON.parse((await curl(endpoint, '/v3/auth/authenticate', JSON.stringify({ name, password: 'pw' }))).body).token as string;
    await same([
      ['/v3/auth/user/add', '{"name":"root","password":"pw"}'],
      ['/v3/auth/user/grant', '{"user":"root","role":"root"}'],
      ['/v3/auth/user/add', '{"name":"u","password":"pw"}'],
      ['/v3/auth/role/add', '{"name":"r"}'],
      ['/v3/auth/role/grant', JSON.stringify({ name: 'r', perm: { permType: 'READWRITE', key: b64('u/'), range_end: b64('u0') } })],
      ['/v3/auth/user/grant', '{"user":"u","role":"r"}'],
      ['/v3/auth/enable', '{}'],
      ['/v3/kv/put', JSON.stringify({ key: b64('a'), value: b64('b') })],
      ['/v3/kv/put', JSON.stringify({ key: b64('a'), value: b64('b') }), { Authorization: 'bad' }],
      ['/v3/auth/authenticate', '{"name":"u","password":"px"}'],
    ]);
    const [rootA, rootE, uA, uE] = await Promise.all([token(ours.endpoint, 'root'), token(etcd.endpoint, 'root'), token(ours.endpoint, 'u'), token(etcd.endpoint, 'u')]);
    const asUser = async (endpoint: string, root: string, u: string): Promise<Array<{ status: number; body: string }>> =>
      run(endpoint, [
        ['/v3/kv/put', JSON.stringify({ key: b64('u/k'), value: b64('v') }), { Authorization: u }],
        ['/v3/kv/put', JSON.stringify({ key: b64('a'), value: b64('b') }), { Authorization: u }],
        ['/v3/kv/range', JSON.stringify({ key: b64('u/'), range_end: b64('u0') }), { Authorization: u }],
        ['/v3/auth/role/get', '{"role":"r"}', { Authorization: root }],
        ['/v3/auth/user/list', '{}', { Authorization: root }],
        ['/v3/auth/disable', '{}', { Authorization: root }],
      ]);
    const [a, e] = await Promise.all([asUser(ours.endpoint, rootA, uA), asUser(etcd.endpoint, rootE, uE)]);
    assert.equal(a[1].status, 403);
    assert.match(a[1].body, /permission denied/);
    // AuthStatus is 3.5's (3.4's gateway has no route for it).
    const status = await curl(ours.endpoint, '/v3/auth/status', '{}');
    assert.equal(JSON.parse(status.body).enabled, undefined, status.body);
    assert.deepEqual(
      a.map((r) => [r.status, normalize(r.body)]),
      e.map((r) => [r.status, normalize(r.body)]),
    );
  });

  test('watch over /v3/watch on etcd-ts: a body kept open carries a cancel', async () => {
    const w = openStream(ours.endpoint, '/v3/watch');
    streams.push(w);
    w.send({ create_request: { key: b64('v'), watch_id: 7 } });
    await w.waitLines(1);
    await curl(ours.endpoint, '/v3/kv/put', JSON.stringify({ key: b64('v'), value: b64('1') }));
    await w.waitLines(2);
    w.send({ cancel_request: { watch_id: 7 } });
    const lines = await w.waitLines(3);
    w.close();
    assert.deepEqual(
      lines.map((l) => Object.keys(JSON.parse(l).result)),
      [['header', 'watch_id', 'created'], ['header', 'watch_id', 'events'], ['header', 'watch_id', 'canceled']],
    );
  });
});
