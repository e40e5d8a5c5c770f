// Mismatch reports (each minimal enough to become a unit test: the request, both answers, the
// fields that differ) and the summary of one or more runs, mismatches grouped by class.
import type { DiffResult, Mismatch } from './runner';
import { show } from './show';

/** Longest answer printed on the console (the JSON report has them whole). */
const MAX_PRINTED = 6000;

const clip = (s: string): string => (s.length > MAX_PRINTED ? `${s.slice(0, MAX_PRINTED)}... (${s.length} chars)` : s);

export function formatMismatch(m: Mismatch, labels: [string, string]): string {
  const w = Math.max(labels[0].length, labels[1].length, 'request'.length) + 1;
  const pad = (s: string): string => `${s}:`.padEnd(w + 1);
  const lines = [`MISMATCH seed ${m.seed} step #${m.step} ${m.what} [${m.klass}]`, `  ${pad('request')}${clip(show(m.request))}`, `  ${pad(labels[0])}${clip(show(m.a))}`, `  ${pad(labels[1])}${clip(show(m.b))}`];
  if (m.note !== undefined) lines.push(`  note: ${m.note}`);
  for (const d of m.diffs) lines.push(`  differs at ${d.path}: ${clip(d.a)} vs ${clip(d.b)}`);
  return lines.join('\n');
}

export interface ClassSummary {
  klass: string;
  count: number;
  first: Mismatch;
}

export function byClass(results: readonly DiffResult[]): ClassSummary[] {
  const m = new Map<string, ClassSummary>();
  for (const r of results)
    for (const x of r.mismatches) {
      const c = m.get(x.klass);
      if (c === undefined) m.set(x.klass, { klass: x.klass, count: 1, first: x });
      else c.count++;
    }
  return [...m.values()].sort((x, y) => y.count - x.count);
}

export function renderSummary(results: readonly DiffResult[]): string {
  const ops = results.reduce((s, r) => s + r.ops, 0);
  const n = results.reduce((s, r) => s + r.mismatches.length, 0);
  const labels = results[0]?.labels ?? ['a', 'b'];
  const lines = [`differential ${labels[0]} vs ${labels[1]}: ${results.length} seed(s), ${ops} requests, ${n} mismatches (${ops > 0 ? ((100 * n) / ops).toFixed(2) : '0'}%)`];
  for (const r of results) lines.push(`  seed ${r.seed}: ${r.ops} requests, ${r.mismatches.length} mismatches, ${r.restarts} restarts, ${(r.durationMs / 1000).toFixed(1)} s${r.error !== undefined ? `, ABORTED: ${r.error.split('\n')[0]}` : ''}`);
  const classes = byClass(results);
  if (classes.length > 0) {
    lines.push('mismatch classes (count, class, first seen):');
    for (const c of classes) lines.push(`  ${String(c.count).padStart(5)}  ${c.klass}  (seed ${c.first.seed} step #${c.first.step})`);
  }
  return lines.join('\n');
}

/** What the reference answered, per request kind (how much of the space a run reached). */
export function renderStats(results: readonly DiffResult[]): string {
  const total: Record<string, Record<string, number>> = {};
  for (const r of results)
    for (const [kind, outcomes] of Object.entries(r.stats))
      for (const [o, n] of Object.entries(outcomes)) (total[kind] ??= {})[o] = (total[kind][o] ?? 0) + n;
  const lines = ['reference answers:'];
  for (const kind of Object.keys(total).sort()) {
    lines.push(`  ${kind}`);
    for (const [o, n] of Object.entries(total[kind]).sort((x, y) => y[1] - x[1])) lines.push(`    ${String(n).padStart(6)}  ${o}`);
  }
  return lines.join('\n');
}

/** The findings as markdown: every class once, with its first mismatch as a repro. */
export function renderFindings(results: readonly DiffResult[]): string {
  const labels = results[0]?.labels ?? ['a', 'b'];
  const out = ['# Differential findings', '', '```', renderSummary(results), '```', ''];
  for (const c of byClass(results)) {
    out.push(`## ${c.klass} (${c.count})`, '', '```', formatMismatch(c.first, labels), '```', '');
  }
  return out.join('\n');
}
