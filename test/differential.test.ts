// A short differential run against real etcd 3.4 (test/differential/): one seeded sequence of
// ~300 KV, lease and watch requests, valid and invalid, sent to etcd and to etcd-ts; every answer
// must be etcd's, field by field (header IDs and server-chosen lease IDs aside). A failure prints
// each mismatch with its request and both answers; `npm run differential -- --seed <seed> --ops
// 300` replays it. DIFFERENTIAL_SEED=<n> picks another seed. Skipped without etcd on PATH.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cleanupAll, runDifferential } from './differential/runner';
import { renderSummary } from './differential/report';

const SEED = process.env.DIFFERENTIAL_SEED !== undefined ? Number(process.env.DIFFERENTIAL_SEED) : 1;
const OPS = 300;

function etcdMissing(): string | undefined {
  const r = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
  if (r.error !== undefined) return r.error.message;
  return r.status === 0 ? undefined : `etcd --version exited with ${String(r.status)}`;
}

after(async () => {
  await cleanupAll();
});

test(`differential: etcd-ts answers ${OPS} requests as etcd 3.4 does (seed ${SEED})`, { timeout: 120_000 }, async (t) => {
  const missing = etcdMissing();
  if (missing !== undefined) {
    t.skip(`etcd not installed: ${missing}`);
    return;
  }
  const lines: string[] = [];
  const r = await runDifferential({ seed: SEED, ops: OPS, against: 'etcd-ts', stopAtFirst: false, log: (l) => lines.push(l) });
  const report = `${lines.join('\n')}\n${renderSummary([r])}\nreplay: npm run differential -- --seed ${SEED} --ops ${OPS}`;
  assert.equal(r.error, undefined, 'the run went through');
  assert.equal(r.ops, OPS, 'every request was sent');
  assert.equal(r.mismatches.length, 0, `no mismatches (seed ${SEED}):\n${report}`);
});
