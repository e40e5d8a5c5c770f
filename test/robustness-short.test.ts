// The CI robustness run (about 3-4 minutes on 2 cores): a 3-member cluster under the robustness
// workload and the lease stress traffic, every fault kind injected once (in random order, with
// hold times at 70% to fit), then the linearizability, watch and durability checkers. After every
// fault the members must be live (same leader, linearizable reads) within 2 election timeouts +
// 5 s of the fault being lifted, HashKV must agree on every member, and leases that are over must
// have lost their keys. The seed is in the test name; a failure prints the command that replays
// it and the output dir (history.json, report.txt, member logs). ROBUSTNESS_SEED=<seed> picks it.
// The seed also picks the mode, so that CI covers both over its runs at one run's cost: an even
// seed runs plaintext without auth, an odd one over TLS (client and peer certificates) with auth
// enabled (clients with tokens). ROBUSTNESS_TLS=0|1 and ROBUSTNESS_AUTH=0|1 override it; the mode
// is in the test name.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { FAULT_KINDS } from './robustness/faults';
import { cleanupAll, runRobustness, type RunResult } from './robustness/run';

const SEED = process.env.ROBUSTNESS_SEED !== undefined ? Number(process.env.ROBUSTNESS_SEED) : Math.floor(Math.random() * 2 ** 31);
const SECURED = SEED % 2 === 1;
const TLS = process.env.ROBUSTNESS_TLS !== undefined ? process.env.ROBUSTNESS_TLS === '1' : SECURED;
const AUTH = process.env.ROBUSTNESS_AUTH !== undefined ? process.env.ROBUSTNESS_AUTH === '1' : SECURED;
const MODE = `${TLS ? 'TLS' : 'plain'}${AUTH ? ' + auth' : ''}`;

describe('robustness (short)', () => {
  after(async () => {
    // Normally the run has stopped every member already; this covers a harness that threw.
    await cleanupAll();
  });

  test(`every fault kind, live after each, all checkers ok (${MODE}, seed ${SEED})`, { timeout: 6 * 60_000 }, async () => {
    const r: RunResult = await runRobustness({
      seed: SEED,
      tls: TLS,
      auth: AUTH,
      // With everyKindFirst the run lasts until every kind ran (about 150 s); this is the least.
      durationMs: 60_000,
      everyKindFirst: true,
      clients: 4,
      rate: 150,
      leaseRate: 80,
      holdScale: 0.7,
      faultGapMs: [1000, 2500],
      // A smaller log retention: the snapshot-catch-up fault needs 4x it in entries.
      memberArgs: ['--snapshot-count', '500'],
      checkTimeMs: 30_000,
      verbose: false,
    });
    const s = r.summary;
    const where = `seed ${SEED}, output ${r.outDir}; replay: ${s.replay}`;
    process.stdout.write(`${r.report}output: ${r.outDir}\n`);
    assert.deepEqual(s.anomalies, [], `no crashes, stuck cluster, HashKV mismatch, leases' keys left or diverged members (${where})`);
    assert.deepEqual(s.livenessFailures, [], `every member live within ${s.livenessBoundMs} ms after every fault (${where})`);
    for (const v of s.verdicts) assert.equal(v.result, 'ok', `${v.checker}: ${v.message ?? ''} (${where})`);
    assert.equal(s.verdicts.length, 3);
    for (const kind of FAULT_KINDS) {
      assert.ok((s.faultsDone[kind] ?? 0) >= 1, `fault ${kind} ran (${where}); done: ${JSON.stringify(s.faultsDone)}`);
      const rec = s.recovery.find((x) => x.kind === kind);
      assert.ok(rec !== undefined && rec.samples >= 1 && rec.worstMs <= s.livenessBoundMs, `fault ${kind}: recovery measured and within the bound (${JSON.stringify(rec)}; ${where})`);
    }
    assert.ok(s.afterFault.hashChecks >= FAULT_KINDS.length, `HashKV compared after every fault (${s.afterFault.hashChecks})`);
    assert.ok(s.afterFault.leasesVerified > 0, `the lease audit saw leases over with their keys gone (${JSON.stringify(s.afterFault)})`);
    assert.ok(s.history.calls.length > 1000, `enough operations (${s.history.calls.length})`);
    // Passed: the output (a few MB of history) is only worth keeping for a failure.
    rmSync(r.outDir, { recursive: true, force: true });
  });
});
