// The V8 code cache of the server's modules (src/server/code-cache.ts) on real server processes:
// written ~2 s after a start, used by the next start, and entries V8 rejects cost only the gain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { b, call, kvClient } from './helpers/grpc-client';
import { startServer, type ServerProcess } from './helpers/server-process';

interface CacheStats {
  fromCache: number;
  compiled: number;
  rejected: number;
  resolutionsFromCache: number;
  resolutionsSearched: number;
}

const RESOLUTIONS = 'resolutions.json';

const SAVED = 'wrote the code cache of the modules compiled from source';

/** The stats of the server's code cache save, once it has logged them. */
async function savedStats(s: ServerProcess): Promise<CacheStats> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    for (const line of s.stderr().split('\n')) {
      if (!line.includes(SAVED)) continue;
      const j = JSON.parse(line) as CacheStats;
      return { fromCache: j.fromCache, compiled: j.compiled, rejected: j.rejected, resolutionsFromCache: j.resolutionsFromCache, resolutionsSearched: j.resolutionsSearched };
    }
    if (Date.now() > deadline) throw new Error(`no "${SAVED}" log line; stderr:\n${s.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function putGet(s: ServerProcess, value: string): Promise<string> {
  const kv = kvClient(s.endpoint);
  try {
    await call(kv, 'Put', { key: b('cc'), value: b(value) });
    const r = await call(kv, 'Range', { key: b('cc') });
    return Buffer.from(r.kvs[0].value as Buffer).toString();
  } finally {
    kv.close();
  }
}

test('code cache: written after a start, used by the next; rejected entries are compiled and written anew', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'etcd-ts-code-cache-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const options = { env: { ETCD_TS_CODE_CACHE_DIR: dir }, args: ['--log-level', 'debug'] };

  let s = await startServer(options);
  t.after(() => s.cleanup());
  const first = await savedStats(s);
  assert.equal(first.fromCache, 0, 'an empty cache serves nothing');
  assert.ok(first.compiled > 100, `the server's modules were compiled (${first.compiled})`);
  assert.equal(first.resolutionsFromCache, 0);
  assert.ok(first.resolutionsSearched > 100, `requires resolved: ${first.resolutionsSearched}`);
  const entries = readdirSync(dir).filter((f) => f !== RESOLUTIONS);
  assert.equal(entries.length, first.compiled, 'one entry per module compiled');
  assert.ok(readdirSync(dir).includes(RESOLUTIONS), 'the resolutions were saved');

  s = await s.restart();
  const second = await savedStats(s);
  assert.deepEqual(
    second,
    { fromCache: first.compiled, compiled: 0, rejected: 0, resolutionsFromCache: first.resolutionsSearched, resolutionsSearched: 0 },
    'the next start compiles nothing and searches for no module',
  );
  assert.equal(await putGet(s, 'one'), 'one');

  // Data that is not V8's (or of another Node version): rejected, compiled from source, replaced.
  const junk = Buffer.from('not a V8 code cache');
  for (const f of entries) writeFileSync(join(dir, f), junk);
  s = await s.restart();
  const third = await savedStats(s);
  assert.deepEqual(
    { fromCache: third.fromCache, compiled: third.compiled, rejected: third.rejected },
    { fromCache: 0, compiled: first.compiled, rejected: first.compiled },
  );
  assert.equal(await putGet(s, 'two'), 'two');
  for (const f of entries) assert.notDeepEqual(readFileSync(join(dir, f)), junk, `${f} was written anew`);
});

test('code cache: a module that uses import() still can after a start from the cache; no warnings', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'etcd-ts-code-cache-import-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'plain.js'), 'module.exports = () => "plain";\n');
  writeFileSync(join(dir, 'dynamic.js'), 'module.exports = () => import("node:path").then((m) => typeof m.join);\n');
  // What main.ts does: load the cache first, then the modules, then save once serving.
  const script = [
    `const cc = require(${JSON.stringify(resolve(__dirname, '../src/server/code-cache.js'))});`,
    `const plain = require(${JSON.stringify(join(dir, 'plain.js'))});`,
    `const dynamic = require(${JSON.stringify(join(dir, 'dynamic.js'))});`,
    'dynamic().then((r) => { process.stdout.write(`${plain()} ${r}\\n`); cc.saveSoon((s) => process.stdout.write(`${s.fromCache} ${s.compiled}\\n`)); setTimeout(() => {}, 3000); });',
  ].join('\n');
  const run = (): { out: string[]; err: string } => {
    const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, ETCD_TS_CODE_CACHE_DIR: join(dir, 'cache') }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return { out: r.stdout.trim().split('\n'), err: r.stderr };
  };
  assert.deepEqual(run(), { out: ['plain function', '0 1'], err: '' }, 'the plain module compiled; the import() one left to Node');
  assert.deepEqual(run(), { out: ['plain function', '1 0'], err: '' }, 'the plain module from the cache; import() works');
});

test('resolve cache: a require answered from the last start until a file added beside it could change the answer', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'etcd-ts-resolve-cache-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // './b' is the directory module b/index.js until a b.js appears, which Node then prefers.
  mkdirSync(join(dir, 'b'));
  writeFileSync(join(dir, 'b', 'index.js'), 'module.exports = "b/index.js";\n');
  writeFileSync(join(dir, 'a.js'), 'module.exports = require("./b");\n');
  const script = [
    `const cc = require(${JSON.stringify(resolve(__dirname, '../src/server/code-cache.js'))});`,
    `const found = require(${JSON.stringify(join(dir, 'a.js'))});`,
    'cc.saveSoon((s) => process.stdout.write(`${found} ${s.resolutionsFromCache} ${s.resolutionsSearched}\\n`));',
    'setTimeout(() => {}, 2500);',
  ].join('\n');
  const run = (): string => {
    const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, ETCD_TS_CODE_CACHE_DIR: join(dir, 'cache') }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  };
  assert.equal(run(), 'b/index.js 0 2', 'a.js and ./b searched for');
  assert.equal(run(), 'b/index.js 2 0', 'both from the saved resolutions');
  writeFileSync(join(dir, 'b.js'), 'module.exports = "b.js";\n');
  assert.equal(run(), 'b.js 0 2', 'the directory changed: the saved resolutions are dropped');
  // A stale saved file (its target gone, its stamps faked equal) is never taken for granted
  // without its directory's stamp: removing a file changes the stamp too.
  rmSync(join(dir, 'b.js'));
  assert.equal(run(), 'b/index.js 0 2');
});
