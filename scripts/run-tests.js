#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with node's built-in test runner.
// Extra arguments are passed to `node --test` (e.g. --test-name-pattern).
const { readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

const root = join(__dirname, '..', 'dist', 'test');
const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const flags = process.argv.slice(2).filter((a) => a.startsWith('-'));
const files = find(root).filter((f) => only.length === 0 || only.some((o) => f.includes(o)));
// Two files at a time: most tests wait on server processes, so two overlap well on 2 cores
// (the suite takes about half as long); each test uses its own ports and data dirs.
// A test that hangs fails after 5 minutes, named, instead of holding the run until CI's limit
// (the longest test file takes ~2.5 minutes).
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=300000', ...flags, ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
