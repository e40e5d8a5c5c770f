// Acceptance test: Debian's etcdctl 3.4 `lease` commands (grant, keep-alive [--once], timetolive
// [--keys], revoke, list) and `put --lease` against a real etcd-ts process.
// Every expected output was taken from real etcd 3.4.23 (default election timeout: 1000 ms, so
// the shortest TTL is 2 s) given the same commands. Lease IDs differ between servers: the ID a
// grant prints is captured and substituted into the expected text. etcd keeps a lease's keys and
// its lease list in Go maps, so the order of `attached keys(...)` and `lease list` is not fixed:
// those are compared as sets.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startServer, type ServerProcess } from './helpers/server-process';
import { ETCDCTL, etcdctl, etcdctlMissing, show, type Result } from './helpers/etcdctl';

const skip = etcdctlMissing;

/** etcdctl that must succeed with nothing on stderr. */
async function ok(endpoint: string, args: string[]): Promise<string> {
  const r = await etcdctl(endpoint, args);
  assert.equal(r.code, 0, show(args, r));
  assert.equal(r.stderr, '', show(args, r));
  return r.stdout;
}

/**
 * A unary call the server refused: etcdctl's retry interceptor logs one warn line with the gRPC
 * status (code and description), then etcdctl prints `Error: ...` and exits 1.
 */
async function refused(endpoint: string, args: string[], grpcStatus: string, message: string): Promise<void> {
  const r = await etcdctl(endpoint, args);
  assert.equal(r.code, 1, show(args, r));
  assert.equal(r.stdout, '', show(args, r));
  const lines = r.stderr.split('\n');
  assert.equal(lines.length, 3, show(args, r));
  const warn = JSON.parse(lines[0]) as Record<string, unknown>;
  assert.deepEqual([warn.level, warn.msg, warn.error], ['warn', 'retrying of unary invoker failed', `rpc error: ${grpcStatus}`], show(args, r));
  assert.deepEqual(lines.slice(1), [`Error: ${message}`, ''], show(args, r));
}

const NOT_FOUND = 'code = NotFound desc = etcdserver: requested lease not found';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Parses etcdctl's JSON; integers too large for a double (IDs) become strings. */
function parseJson(text: string): Record<string, Json> {
  const safe = text.replace(/("(?:[^"\\]|\\.)*")|(\d{16,})/g, (_m, str: string | undefined, big: string | undefined) => str ?? `"${big}"`);
  return JSON.parse(safe) as Record<string, Json>;
}

/** The first-level keys of a JSON output, and a check of its response header fields. */
function checkHeader(out: Record<string, Json>, keys: string[]): void {
  assert.deepEqual(Object.keys(out), ['cluster_id', 'member_id', 'revision', 'raft_term', ...keys], JSON.stringify(out));
  for (const f of ['cluster_id', 'member_id', 'revision', 'raft_term']) assert.ok(BigInt(out[f] as string | number) > 0n, `${f} in ${JSON.stringify(out)}`);
}

const dec = (hexId: string): string => BigInt(`0x${hexId}`).toString();
const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** `lease <id> granted with TTL(<ttl>s)`: the ID, checked for etcd's %016x format. */
async function grant(endpoint: string, ttl: number, shownTtl = ttl): Promise<string> {
  const out = await ok(endpoint, ['lease', 'grant', String(ttl)]);
  const m = /^lease ([0-9a-f]{16}) granted with TTL\((\d+)s\)\n$/.exec(out);
  assert.ok(m, `lease grant ${ttl}: ${JSON.stringify(out)}`);
  assert.equal(out, `lease ${m[1]} granted with TTL(${shownTtl}s)\n`);
  return m[1];
}

/** `lease timetolive` output: granted TTL exact, remaining within [min, max] seconds. */
function ttlLine(out: string, id: string, granted: number, min: number, max: number, keys?: string[]): void {
  const m = /^lease ([0-9a-f]{16}) granted with TTL\((\d+)s\), remaining\((\d+)s\)(?:, attached keys\(\[(.*)\]\))?\n$/.exec(out);
  assert.ok(m, `timetolive output: ${JSON.stringify(out)}`);
  assert.equal(m[1], id, out);
  assert.equal(Number(m[2]), granted, out);
  assert.ok(Number(m[3]) >= min && Number(m[3]) <= max, `remaining not in [${min}, ${max}]: ${out}`);
  if (keys === undefined) assert.equal(m[4], undefined, out);
  else assert.deepEqual(m[4] === '' ? [] : m[4].split(' ').sort(), [...keys].sort(), out);
}

describe('etcdctl lease against etcd-ts', { skip }, () => {
  let server: ServerProcess | undefined;
  let ep = '';
  before(async () => {
    if (skip) return;
    server = await startServer();
    ep = server.endpoint;
  });
  after(async () => {
    await server?.cleanup();
  });

  let id60 = '';
  let id30 = '';

  test('lease grant prints the ID (%016x) and TTL; -w json', async () => {
    id60 = await grant(ep, 60);
    const json = parseJson(await ok(ep, ['lease', 'grant', '30', '-w', 'json']));
    checkHeader(json, ['ID', 'TTL', 'Error']);
    assert.equal(json.TTL, 30);
    assert.equal(json.Error, '');
    id30 = BigInt(json.ID as string | number).toString(16).padStart(16, '0');
    assert.notEqual(id30, id60);
    // the ID is a positive int64 (etcdctl parses it back with ParseInt)
    assert.ok(BigInt(`0x${id60}`) < 1n << 63n && BigInt(`0x${id30}`) < 1n << 63n);
  });

  test('lease list shows every live lease, -w json', async () => {
    const out = await ok(ep, ['lease', 'list']);
    const lines = out.split('\n');
    assert.equal(lines[0], 'found 2 leases', out);
    assert.deepEqual(lines.slice(1).sort(), ['', id30, id60].sort(), out);
    const json = parseJson(await ok(ep, ['lease', 'list', '-w', 'json']));
    checkHeader(json, ['leases']);
    const ids = (json.leases as { id: string | number }[]).map((l) => BigInt(l.id).toString()).sort();
    assert.deepEqual(ids, [dec(id30), dec(id60)].sort());
    assert.deepEqual(Object.keys((json.leases as Json[])[0] as object), ['id']);
  });

  test('put --lease attaches keys; get -w json shows the lease', async () => {
    assert.equal(await ok(ep, ['put', `--lease=${id60}`, 'k1', 'v1']), 'OK\n');
    assert.equal(await ok(ep, ['put', `--lease=${id60}`, 'k2', 'v2']), 'OK\n');
    assert.equal(await ok(ep, ['put', 'k3', 'v3']), 'OK\n');
    const kv = ((parseJson(await ok(ep, ['get', 'k1', '-w', 'json'])).kvs as Json[])[0] as Record<string, Json>);
    assert.deepEqual(Object.keys(kv), ['key', 'create_revision', 'mod_revision', 'version', 'value', 'lease']);
    assert.equal(BigInt(kv.lease as string | number).toString(), dec(id60));
    const plain = ((parseJson(await ok(ep, ['get', 'k3', '-w', 'json'])).kvs as Json[])[0] as Record<string, Json>);
    assert.deepEqual(Object.keys(plain), ['key', 'create_revision', 'mod_revision', 'version', 'value'], 'no lease field without a lease');
  });

  test('lease timetolive, with --keys and -w json', async () => {
    ttlLine(await ok(ep, ['lease', 'timetolive', id60]), id60, 60, 55, 59);
    ttlLine(await ok(ep, ['lease', 'timetolive', id60, '--keys']), id60, 60, 55, 59, ['k1', 'k2']);
    ttlLine(await ok(ep, ['lease', 'timetolive', id30, '--keys']), id30, 30, 25, 29, []);
    const json = parseJson(await ok(ep, ['lease', 'timetolive', id60, '-w', 'json']));
    checkHeader(json, ['id', 'ttl', 'granted-ttl', 'keys']);
    assert.equal(BigInt(json.id as string).toString(), dec(id60));
    assert.ok((json.ttl as number) >= 55 && (json.ttl as number) <= 59, JSON.stringify(json));
    assert.deepEqual([json['granted-ttl'], json.keys], [60, null]);
    const withKeys = parseJson(await ok(ep, ['lease', 'timetolive', id60, '--keys', '-w', 'json']));
    assert.deepEqual((withKeys.keys as string[]).sort(), [b64('k1'), b64('k2')].sort());
  });

  test('lease keep-alive --once renews to the full TTL, -w json', async () => {
    assert.equal(await ok(ep, ['lease', 'keep-alive', '--once', id60]), `lease ${id60} keepalived with TTL(60)\n`);
    const json = parseJson(await ok(ep, ['lease', 'keep-alive', '--once', id60, '-w', 'json']));
    checkHeader(json, ['ID', 'TTL']);
    assert.deepEqual([BigInt(json.ID as string | number).toString(), json.TTL], [dec(id60), 60]);
    // renewed: remaining is back near 60
    ttlLine(await ok(ep, ['lease', 'timetolive', id60]), id60, 60, 57, 59);
  });

  test('put --lease with an unknown lease is refused and writes nothing', async () => {
    await refused(ep, ['put', '--lease=123abc', 'k4', 'v'], NOT_FOUND, 'etcdserver: requested lease not found');
    assert.equal(await ok(ep, ['get', 'k4']), '');
  });

  test('lease revoke deletes the attached keys; revoke, keep-alive and timetolive of an unknown lease', async () => {
    assert.equal(await ok(ep, ['lease', 'revoke', id60]), `lease ${id60} revoked\n`);
    assert.equal(await ok(ep, ['get', 'k', '--prefix']), 'k3\nv3\n');
    for (const id of [id60, '123abc']) {
      const shown = id.padStart(16, '0');
      await refused(ep, ['lease', 'revoke', id], NOT_FOUND, 'failed to revoke lease (etcdserver: requested lease not found)');
      // --once: the error on stderr, exit code 2 (etcdctl's ExitBadConnection), no warn line
      const once = await etcdctl(ep, ['lease', 'keep-alive', '--once', id]);
      assert.deepEqual([once.code, once.stdout, once.stderr], [2, '', 'Error: etcdserver: requested lease not found\n'], show(['keep-alive', '--once', id], once));
      // without --once: the stream answers TTL 0, etcdctl says so and exits 0
      assert.equal(await ok(ep, ['lease', 'keep-alive', id]), `lease ${shown} expired or revoked.\n`);
      assert.equal(await ok(ep, ['lease', 'timetolive', id]), `lease ${shown} already expired\n`);
      assert.equal(await ok(ep, ['lease', 'timetolive', id, '--keys']), `lease ${shown} already expired\n`);
      const json = parseJson(await ok(ep, ['lease', 'timetolive', id, '-w', 'json']));
      checkHeader(json, ['id', 'ttl', 'granted-ttl', 'keys']);
      assert.deepEqual([BigInt(json.id as string | number).toString(), json.ttl, json['granted-ttl'], json.keys], [dec(id), -1, 0, null]);
    }
    await refused(ep, ['put', `--lease=${id60}`, 'k5', 'v'], NOT_FOUND, 'etcdserver: requested lease not found');
    const list = await ok(ep, ['lease', 'list']);
    assert.equal(list, `found 1 leases\n${id30}\n`);
  });

  test('lease grant with a too-large TTL is refused (OutOfRange); the largest TTL is granted', async () => {
    await refused(ep, ['lease', 'grant', '9000000001'], 'code = OutOfRange desc = etcdserver: too large lease TTL', 'failed to grant lease (etcdserver: too large lease TTL)');
    const id = await grant(ep, 9_000_000_000);
    ttlLine(await ok(ep, ['lease', 'timetolive', id]), id, 9_000_000_000, 8_999_999_990, 8_999_999_999);
    assert.equal(await ok(ep, ['lease', 'keep-alive', '--once', id]), `lease ${id} keepalived with TTL(9000000000)\n`);
    assert.equal(await ok(ep, ['lease', 'revoke', id]), `lease ${id} revoked\n`);
  });

  test('lease keep-alive prints a line per renewal and keeps the lease alive past its TTL until revoked', async () => {
    const id = await grant(ep, 3);
    const granted = Date.now();
    assert.equal(await ok(ep, ['put', `--lease=${id}`, 'alive', 'yes']), 'OK\n');
    const child = spawn(ETCDCTL, [`--endpoints=${ep}`, '--dial-timeout=5s', 'lease', 'keep-alive', id], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    try {
      // etcdctl renews every TTL/3 (1 s): wait until the lease has outlived its TTL by 1.5 s
      await new Promise((r) => setTimeout(r, Math.max(0, granted + 4500 - Date.now())));
      assert.equal(await ok(ep, ['get', 'alive', '--print-value-only']), 'yes\n', 'the key expired although kept alive');
      ttlLine(await ok(ep, ['lease', 'timetolive', id]), id, 3, 1, 3);
      const lines = out.split('\n');
      assert.equal(lines.pop(), '', `partial line: ${out}`);
      assert.ok(lines.length >= 3, `only ${lines.length} keepalived lines in 4.5 s: ${out} ${err}`);
      for (const l of lines) assert.equal(l, `lease ${id} keepalived with TTL(3)`, out);
      assert.equal(await ok(ep, ['lease', 'revoke', id]), `lease ${id} revoked\n`);
      const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running 6 s after the revoke'), 6000))]);
      assert.equal(code, 0, `${out}\n${err}`);
      assert.match(out, new RegExp(`^(lease ${id} keepalived with TTL\\(3\\)\\n)+lease ${id} expired or revoked\\.\\n$`));
      assert.equal(err, '');
      assert.equal(await ok(ep, ['get', 'alive']), '');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
  });

  test('lease grant 1 (and 0) is raised to the minimum TTL, 2 s with the default election timeout', async () => {
    const one = await grant(ep, 1, 2);
    const zero = await grant(ep, 0, 2);
    ttlLine(await ok(ep, ['lease', 'timetolive', one]), one, 2, 0, 2);
    ttlLine(await ok(ep, ['lease', 'timetolive', zero]), zero, 2, 0, 2);
  });
});
