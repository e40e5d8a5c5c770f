// The CI robustness run (about 3 minutes): a 3-member cluster under the robustness workload, with
// every fault kind injected at least once (each once in random order, then random ones), then the
// linearizability, watch and durability checkers. The seed is in the test name; a failure prints
// the command that replays it (`npm run robustness -- --seconds 100 --seed <seed> --clients 4
// --rate 150 --every-kind-first`) and the output dir (history.json, report.txt, member logs).
// ROBUSTNESS_SEED=<seed> picks the seed.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { FAULT_KINDS } from './robustness/faults';
import { cleanupAll, runRobustness, type RunResult } from './robustness/run';

const SEED = process.env.ROBUSTNESS_SEED !== undefined ? Number(process.env.ROBUSTNESS_SEED) : Math.floor(Math.random() * 2 ** 31);

describe('robustness (short)', () => {
  after(async () => {
    // Normally the run has stopped every member already; this covers a harness that threw.
    await cleanupAll();
  });

  test(`every fault kind, all checkers ok (seed ${SEED})`, { timeout: 6 * 60_000 }, async () => {
    const r: RunResult = await runRobustness({
      seed: SEED,
      durationMs: 100_000,
      everyKindFirst: true,
      clients: 4,
      rate: 150,
      checkTimeMs: 30_000,
      verbose: false,
    });
    const s = r.summary;
    process.stdout.write(`${r.report}output: ${r.outDir}\n`);
    assert.deepEqual(s.anomalies, [], `no crashes, stuck cluster or diverged members (seed ${SEED}, output ${r.outDir})`);
    for (const v of s.verdicts) assert.equal(v.result, 'ok', `${v.checker}: ${v.message ?? ''} (seed ${SEED}, output ${r.outDir})`);
    assert.equal(s.verdicts.length, 3);
    for (const kind of FAULT_KINDS) assert.ok((s.faultsDone[kind] ?? 0) >= 1, `fault ${kind} ran (seed ${SEED}); done: ${JSON.stringify(s.faultsDone)}`);
    assert.ok(s.history.calls.length > 1000, `enough operations (${s.history.calls.length})`);
    // Passed: the output (a few MB of history) is only worth keeping for a failure.
    rmSync(r.outDir, { recursive: true, force: true });
  });
});
