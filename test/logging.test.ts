// etcd 3.5's zap-shaped logs: key order, outputs, formats, etcd's refusals, lumberjack rotation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { freePort, MAIN } from './helpers/server-process';
import { RotatingFile, backupTimestamp } from '../src/server/log-rotate';
import { parseRotationConfig, validateLogConfig, zapTime } from '../src/server/logger';
import { DEFAULT_CONFIG } from '../src/server/config';

const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d{4})$/;

interface Run {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** Runs the binary; with `ready`, waits until ready(out) says it is serving, then SIGTERMs it. */
async function run(args: string[], ready?: (r: Run) => boolean, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'etcd-ts-log-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = spawn(process.execPath, [MAIN, '--data-dir', join(dir, 'd'), '--listen-client-urls', url, '--advertise-client-urls', url, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const r: Run = { stdout: '', stderr: '', code: null };
  proc.stdout.on('data', (d: Buffer) => (r.stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (r.stderr += d.toString()));
  let done = false;
  const exited = new Promise<void>((res) => proc.once('exit', (code) => ((done = true), (r.code = code), res())));
  const kill = setTimeout(() => proc.kill('SIGKILL'), 20_000);
  try {
    if (ready) {
      while (!done && !ready(r)) await new Promise((res) => setTimeout(res, 50));
      if (!done) proc.kill('SIGTERM');
    }
    await exited;
  } finally {
    clearTimeout(kill);
    rmSync(dir, { recursive: true, force: true });
  }
  return r;
}

const serving = (s: string): boolean => s.includes('serving client requests');

function jsonLines(s: string): Record<string, unknown>[] {
  return s
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function assertZapShape(lines: Record<string, unknown>[]): void {
  assert.ok(lines.length > 0);
  for (const o of lines) {
    const keys = Object.keys(o);
    const head = keys[2] === 'logger' ? ['level', 'ts', 'logger', 'caller', 'msg'] : ['level', 'ts', 'caller', 'msg'];
    assert.deepEqual(keys.slice(0, head.length), head, JSON.stringify(o));
    assert.ok(['debug', 'info', 'warn', 'error', 'fatal'].includes(o.level as string), JSON.stringify(o));
    assert.match(o.ts as string, ISO_MS);
    assert.equal(typeof o.caller, 'string');
    assert.equal(typeof o.msg, 'string');
  }
}

test('every stderr line is zap JSON: level, ts (ISO8601), caller, msg, then fields', async () => {
  const r = await run(['--log-level', 'info'], (x) => serving(x.stderr));
  assert.equal(r.stdout, '');
  const lines = jsonLines(r.stderr);
  assertZapShape(lines);
  const running = lines.find((o) => o.msg === 'Running: ');
  assert.equal(running?.caller, 'etcdmain');
  assert.ok(Array.isArray(running?.args));
  const s = lines.find((o) => o.msg === 'serving client requests');
  assert.ok(s && Object.keys(s).indexOf('endpoints') > Object.keys(s).indexOf('msg'));
  assert.ok(lines.some((o) => o.msg === 'shutting down' && o.signal === 'SIGTERM'), 'flushed before exit');
  assert.ok(!lines.some((o) => 'name' in o && o.msg === 'Running: '), 'no pino base fields');
});

test('--log-level warn keeps a healthy start quiet', async () => {
  const t0 = Date.now();
  const r = await run(['--log-level', 'warn'], () => Date.now() - t0 > 2500);
  for (const o of jsonLines(r.stderr)) assert.notEqual(o.level, 'info', JSON.stringify(o));
});

test('--log-outputs stdout writes to stdout only', async () => {
  const r = await run(['--log-outputs', 'stdout'], (x) => serving(x.stdout));
  assert.equal(r.stderr, '');
  assertZapShape(jsonLines(r.stdout));
});

test('a file output gets the lines (appended), two outputs both', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'etcd-ts-logfile-'));
  try {
    const file = join(dir, 'etcd.log');
    writeFileSync(file, '{"existing":true}\n');
    const read = (): string => (existsSync(file) ? readFileSync(file, 'utf8') : '');
    const r = await run(['--log-outputs', file], () => serving(read()));
    assert.equal(r.stderr, '');
    const lines = jsonLines(read());
    assert.deepEqual(lines[0], { existing: true });
    assertZapShape(lines.slice(1));

    const file2 = join(dir, 'two.log');
    const read2 = (): string => (existsSync(file2) ? readFileSync(file2, 'utf8') : '');
    const r2 = await run(['--log-outputs', `stderr,${file2}`], (x) => serving(x.stderr) && serving(read2()));
    assertZapShape(jsonLines(r2.stderr));
    assertZapShape(jsonLines(read2()));
    assert.deepEqual(
      jsonLines(r2.stderr).map((o) => o.msg),
      jsonLines(read2()).map((o) => o.msg),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--log-format console: ts, level, caller, msg, {fields} tab-separated', async () => {
  const r = await run(['--log-format', 'console'], (x) => serving(x.stderr));
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.ok(lines.length > 0);
  for (const l of lines) {
    const parts = l.split('\t');
    assert.match(parts[0], ISO_MS, l);
    assert.ok(['debug', 'info', 'warn', 'error'].includes(parts[1]), l);
  }
  const s = lines.find((l) => l.includes('serving client requests'))!.split('\t');
  assert.deepEqual(s.slice(1, 4), ['info', 'etcd-ts', 'serving client requests']);
  assert.ok(Array.isArray((JSON.parse(s[4]) as { endpoints: unknown }).endpoints));
});

/** etcd 3.5 (etcdmain/etcd.go): "Running: " at info, then "failed to verify flags" at warn, exit 1. */
async function refused(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ error: string; ts: string }> {
  const r = await run(args, undefined, env);
  assert.equal(r.code, 1, r.stderr);
  const lines = jsonLines(r.stderr);
  assertZapShape(lines);
  assert.deepEqual(
    lines.map((o) => [o.level, o.msg]),
    [
      ['info', 'Running: '],
      ['warn', 'failed to verify flags'],
    ],
  );
  return { error: lines[1].error as string, ts: lines[1].ts as string };
}

test('etcd 3.5 refusals: --logger, default combined, rotation outputs, format', async () => {
  assert.equal((await refused(['--logger', 'capnslog'])).error, '--logger=capnslog is removed in v3.5');
  assert.equal((await refused(['--logger', 'logrus'])).error, 'unknown logger option "logrus"');
  assert.equal((await refused(['--log-outputs', 'default,stdout'])).error, 'multi logoutput for "default" is not supported yet');
  const rotErr = '--log-outputs requires a single file path when --log-rotate-config-json is defined';
  assert.equal((await refused(['--enable-log-rotation', '--log-outputs', 'stderr'])).error, rotErr);
  assert.equal((await refused(['--enable-log-rotation', '--log-outputs', '/tmp/a.log,/tmp/b.log'])).error, rotErr);
  assert.equal((await refused(['--log-format', 'xml'])).error, 'unsupported log format: xml');
  // zap's ISO8601TimeEncoder writes local time with its offset.
  assert.match((await refused(['--logger', 'x'], { TZ: 'Asia/Kolkata' })).ts, /\+0530$/);
});

test('validateLogConfig mirrors setupLogging', () => {
  const base = { ...DEFAULT_CONFIG };
  assert.deepEqual(validateLogConfig(base), { outputs: ['stderr'], format: 'json', rotation: undefined });
  assert.deepEqual(validateLogConfig({ ...base, logOutputs: [] }).outputs, ['stderr']);
  assert.deepEqual(validateLogConfig({ ...base, logOutputs: ['stdout', 'stderr', 'stdout'] }).outputs, ['stderr', 'stdout']);
  assert.deepEqual(validateLogConfig({ ...base, logOutputs: ['/x.log', '/dev/null'] }).outputs, ['/dev/null']);
  // Rotation with two non-file outputs passes etcd's check (it only counts file paths when there is one output).
  assert.doesNotThrow(() => validateLogConfig({ ...base, enableLogRotation: true, logOutputs: ['stderr', 'stdout'] }));
  assert.deepEqual(validateLogConfig({ ...base, enableLogRotation: true, logOutputs: ['stderr', '/a.log'] }).rotation, {
    maxsize: 100,
    maxage: 0,
    maxbackups: 0,
    localtime: false,
    compress: false,
  });
  assert.throws(
    () => validateLogConfig({ ...base, logOutputs: ['systemd/journal', 'stderr'] }),
    /^Error: running with systemd\/journal but other '--log-outputs' values \(\["systemd\/journal" "stderr"\]\) are configured with 'default'; override 'default' value with something else$/,
  );
});

test('log rotation config: lumberjack fields, etcd error wrapping', () => {
  assert.deepEqual(parseRotationConfig('{"MaxSize": 5, "maxbackups": 2, "compress": true, "other": 1}'), {
    maxsize: 5,
    maxage: 0,
    maxbackups: 2,
    localtime: false,
    compress: true,
  });
  assert.throws(() => parseRotationConfig('{"maxsize": '), /^Error: improperly formatted log rotation config: /);
  assert.throws(
    () => parseRotationConfig('{"maxsize": "1"}'),
    /^Error: invalid log rotation config: json: cannot unmarshal string into Go struct field logRotationConfig.maxsize of type int$/,
  );
  assert.throws(() => parseRotationConfig('{"compress": 1}'), /cannot unmarshal number 1 into Go struct field logRotationConfig.compress of type bool/);
});

test('zap time: milliseconds, Z in UTC', () => {
  if (new Date().getTimezoneOffset() === 0) assert.equal(zapTime(new Date(Date.UTC(2026, 11, 6, 17, 20, 1, 5))), '2026-12-06T17:20:01.005Z');
  assert.equal(backupTimestamp(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)), false), '2026-01-02T03-04-05.006');
});

test('rotation: tiny maxsize rotates at line boundaries and keeps maxbackups files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'etcd-ts-rot-'));
  try {
    const file = join(dir, 'etcd.log');
    const f = new RotatingFile(file, { maxsize: 1, maxage: 0, maxbackups: 3, localtime: false, compress: false }, 200);
    const all: string[] = [];
    for (let i = 0; i < 100; i++) {
      const line = `{"level":"info","n":${i},"pad":"${'x'.repeat(30)}"}\n`;
      all.push(line);
      f.write(line);
      if (i % 7 === 0) await new Promise((res) => setImmediate(res));
    }
    await f.close();
    const names = readdirSync(dir).sort();
    assert.ok(names.includes('etcd.log'));
    const backups = names.filter((n) => n !== 'etcd.log');
    assert.equal(backups.length, 3, names.join(' '));
    for (const b of backups) assert.match(b, /^etcd-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}\.log$/);
    const kept = [...backups, 'etcd.log'].map((n) => readFileSync(join(dir, n), 'utf8'));
    for (const k of kept) {
      assert.ok(Buffer.byteLength(k) <= 200, `file within maxsize: ${Buffer.byteLength(k)}`);
      assert.ok(k.endsWith('\n') && k.split('\n').every((l) => l === '' || JSON.parse(l)), 'whole lines only');
    }
    // The newest lines survive, in order, across the kept files.
    assert.equal(kept.join(''), all.slice(all.length - kept.join('').split('\n').length + 1).join(''));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('rotation: compress gzips backups; the server writes a rotated file output', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'etcd-ts-rotz-'));
  try {
    const file = join(dir, 'z.log');
    const f = new RotatingFile(file, { maxsize: 1, maxage: 0, maxbackups: 0, localtime: true, compress: true }, 100);
    for (let i = 0; i < 10; i++) f.write(`${'y'.repeat(60)}${i}\n`);
    await f.close();
    const gz = readdirSync(dir).filter((n) => n.endsWith('.log.gz'));
    assert.ok(gz.length >= 4, readdirSync(dir).join(' '));
    assert.match(gunzipSync(readFileSync(join(dir, gz[0]))).toString(), /^y{60}\d\n$/);
    assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('z-') && n.endsWith('.log')), [], 'originals removed after compression');

    const out = join(dir, 'server.log');
    const read = (): string => (existsSync(out) ? readFileSync(out, 'utf8') : '');
    const r = await run(['--enable-log-rotation', '--log-rotation-config-json', '{"maxsize": 1, "maxbackups": 2}', '--log-outputs', out], () => serving(read()));
    assert.equal(r.stderr, '');
    assertZapShape(jsonLines(read()));
    assert.ok(jsonLines(read()).some((o) => o.msg === 'shutting down'), 'queued lines written at exit');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
