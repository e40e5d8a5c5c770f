// Differential testing against real etcd 3.4: starts etcd and etcd-ts (single members, default
// flags, fresh temp data dirs, free ports), sends both the same seeded random sequence of KV, lease
// and watch requests (valid and invalid ones), and compares every answer field by field; etcd's
// answer is the spec. Mismatches are printed with the request and both answers as they are found;
// the summary groups them by class. Exits 1 if there was any mismatch, 2 if a run could not go on.
//
//   npm run differential -- [--seed N | --seeds A..B] [--ops K] [--against etcd-ts|etcd] [--stop-at-first]
//                           [--trace] [--quiet] [--stats] [--out FILE.json] [--findings FILE.md]
//
// e.g. npm run differential -- --seed 7 --ops 2000
//      npm run differential -- --seeds 1..10 --ops 2000 --quiet --findings /tmp/findings.md
//      npm run differential -- --against etcd --seeds 1..3   (the tool itself: must be clean)
import { writeFileSync } from 'node:fs';
import { parseArgs } from './options';
import { renderFindings, renderStats, renderSummary } from './report';
import { cleanupAll, runDifferential, type DiffResult } from './runner';
import { show } from './show';

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      void cleanupAll().finally(() => process.exit(130));
    });
  const results: DiffResult[] = [];
  for (const seed of o.seeds) {
    process.stdout.write(`seed ${seed}: ${o.ops} requests, etcd vs ${o.against}\n`);
    const r = await runDifferential({ seed, ops: o.ops, against: o.against, stopAtFirst: o.stopAtFirst, trace: o.trace, log: (l) => (o.quiet && l.startsWith('MISMATCH') ? undefined : process.stdout.write(`${l}\n`)) });
    results.push(r);
    process.stdout.write(`seed ${seed}: ${r.mismatches.length} mismatches, ${r.restarts} restarts, ${(r.durationMs / 1000).toFixed(1)} s\n`);
    if (o.stopAtFirst && r.mismatches.length > 0) break;
  }
  if (o.stats) process.stdout.write(`${renderStats(results)}\n`);
  process.stdout.write(`${renderSummary(results)}\n`);
  if (o.out !== undefined) writeFileSync(o.out, show(results.flatMap((r) => r.mismatches), 1));
  if (o.findings !== undefined) writeFileSync(o.findings, renderFindings(results));
  if (results.some((r) => r.error !== undefined)) return 2;
  return results.some((r) => r.mismatches.length > 0) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  async (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    await cleanupAll();
    process.exit(2);
  },
);
