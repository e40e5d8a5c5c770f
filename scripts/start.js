#!/usr/bin/env node
// `npm start`: compiles only when a source changed since the last build, then runs the server in
// this process. A full `tsc` takes about 10 s on a small machine; etcd is up in half a second, and
// so should a restart be when nothing changed. Staleness is by modification time: any .ts file
// under src/, test/ or scripts/, tsconfig.json or package.json newer than dist/.build-stamp; the
// web dashboard (ui/, built by scripts/build-ui.ts) has its own stamp, dist/ui/.build-stamp.
const { existsSync, readdirSync, statSync, utimesSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');

const root = join(__dirname, '..');
const stamp = join(root, 'dist', '.build-stamp');

/** The newest modification time (ms) of the files under dir whose names end with one of `exts`. */
function newestTs(dir, exts = ['.ts']) {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestTs(p, exts));
    else if (exts.some((e) => entry.name.endsWith(e))) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function stale() {
  if (!existsSync(stamp) || !existsSync(join(root, 'dist', 'src', 'server', 'main.js'))) return true;
  const built = statSync(stamp).mtimeMs;
  const inputs = [newestTs(join(root, 'src')), newestTs(join(root, 'test')), newestTs(join(root, 'scripts'))];
  for (const f of ['tsconfig.json', 'package.json']) inputs.push(statSync(join(root, f)).mtimeMs);
  return Math.max(...inputs) >= built;
}

const uiStamp = join(root, 'dist', 'ui', '.build-stamp');

function uiStale() {
  if (!existsSync(uiStamp)) return true;
  const inputs = [newestTs(join(root, 'ui'), ['.ts', '.tsx', '.json', '.html', '.css', '.svg']), statSync(join(root, 'package.json')).mtimeMs, statSync(join(root, 'scripts', 'build-ui.ts')).mtimeMs];
  return Math.max(...inputs) >= statSync(uiStamp).mtimeMs;
}

if (stale()) {
  // The stamp's time is taken before compiling: a file saved during the build is seen next time.
  const startedAt = new Date();
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
  // The proto descriptor the server loads (without it, it parses proto/ at every start).
  const d = spawnSync(process.execPath, [join(root, 'dist', 'scripts', 'proto-descriptor.js')], { stdio: 'ignore' });
  if (d.status !== 0) process.exit(d.status ?? 1);
  writeFileSync(stamp, `${startedAt.toISOString()}\n`);
  utimesSync(stamp, startedAt, startedAt);
}

// The dashboard's build script (dist/scripts/build-ui.js) is compiled with the server, above.
if (uiStale()) {
  const startedAt = new Date();
  const u = spawnSync(process.execPath, [join(root, 'dist', 'scripts', 'build-ui.js')], { stdio: 'inherit' });
  if (u.status !== 0) process.exit(u.status ?? 1);
  utimesSync(uiStamp, startedAt, startedAt);
}

require(join(root, 'dist', 'src', 'server', 'main.js'));
