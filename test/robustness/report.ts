// The report of a run: what was done (ops by type and outcome, faults by kind, errors by kind,
// watchers), what the checkers said, and what to do to replay it; written next to the history.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AfterFaultCounts } from './after-fault-checks';
import type { History, Verdict } from './history';
import type { KindRecovery } from './recovery-stats';

export interface RunSummary {
  seed: number;
  /** How the harness reached the members: 'plain', 'TLS', 'plain + auth', 'TLS + auth'. */
  mode: string;
  /** With auth: Authenticate calls that returned a token, by user (refusals are in `errors`). */
  authenticated?: Record<string, number>;
  durationMs: number;
  clients: number;
  replay: string;
  history: History;
  verdicts: Verdict[];
  /** Harness findings (crashes, stuck cluster, diverged members, ...). */
  anomalies: string[];
  errors: Record<string, number>;
  watchers: { id: number; range: string; sessions: number; hops: number; compactions: number; events: number }[];
  members: { name: string; incarnations: number; errorLogs: Record<string, number> }[];
  convergence: string;
  log: string[];
  faultsDone: Record<string, number>;
  /** After a fault is lifted, every member must be live within this (2 election timeouts + 5 s). */
  livenessBoundMs: number;
  /** Members not live within the bound after a fault (each a finding: the run fails). */
  livenessFailures: string[];
  /** Per fault kind: liveness samples and the worst / mean recovery time. */
  recovery: KindRecovery[];
  afterFault: AfterFaultCounts;
}

export function passed(s: RunSummary): boolean {
  return s.verdicts.length === 3 && s.verdicts.every((v) => v.result === 'ok') && s.anomalies.length === 0 && s.livenessFailures.length === 0;
}

/** The recovery table: worst and mean ms from a fault's lifting until every member was live. */
export function renderRecovery(s: Pick<RunSummary, 'recovery' | 'livenessBoundMs' | 'faultsDone'>): string {
  const rows = [['kind', 'faults', 'samples', 'worst ms', 'mean ms', 'over bound']];
  for (const r of s.recovery) rows.push([r.kind, String(s.faultsDone[r.kind] ?? 0), String(r.samples), Number.isFinite(r.worstMs) ? String(r.worstMs) : 'never', Number.isFinite(r.meanMs) ? String(r.meanMs) : '-', String(r.failures)]);
  return `recovery (every member with the same leader and serving a linearizable read, from the moment the fault was lifted; bound ${s.livenessBoundMs} ms):\n${table(rows)}`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => '  ' + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
}

const sorted = (o: Record<string, number>): [string, number][] => Object.entries(o).sort((a, b) => b[1] - a[1]);

export function renderReport(s: RunSummary): string {
  const h = s.history;
  const out: string[] = [];
  out.push(`etcd-ts robustness run: seed ${s.seed}, ${s.mode}, ${(s.durationMs / 1000).toFixed(0)} s, ${s.clients} clients`);
  out.push(`result: ${passed(s) ? 'PASS' : 'FAIL'}`);
  out.push('');

  const byType = new Map<string, { ok: number; fail: number; unknown: number }>();
  for (const c of h.calls) {
    const t = c.op.type === 'get' ? (c.op.serializable ? 'get (serializable)' : 'get (linearizable)') : c.op.type === 'put' && c.op.lease !== undefined ? 'put (with lease)' : c.op.type === 'txn' ? 'txn (compare mod_revision)' : c.op.type;
    const e = byType.get(t) ?? { ok: 0, fail: 0, unknown: 0 };
    e[c.outcome]++;
    byType.set(t, e);
  }
  const totals = { ok: 0, fail: 0, unknown: 0 };
  const rows = [['op', 'ok', 'fail', 'unknown']];
  for (const [t, e] of [...byType].sort()) {
    rows.push([t, String(e.ok), String(e.fail), String(e.unknown)]);
    totals.ok += e.ok;
    totals.fail += e.fail;
    totals.unknown += e.unknown;
  }
  rows.push(['total', String(totals.ok), String(totals.fail), String(totals.unknown)]);
  const txnOk = h.calls.filter((c) => c.op.type === 'txn' && c.outcome === 'ok');
  out.push(`operations: ${h.calls.length} (${(h.calls.length / (s.durationMs / 1000)).toFixed(0)}/s); final revision ${h.finalRevision}, ${Object.keys(h.finalState).length} keys`);
  out.push(table(rows));
  out.push(`  txn compares held: ${txnOk.filter((c) => c.result?.succeeded === true).length} of ${txnOk.length}`);
  out.push('');

  const kinds: Record<string, number> = {};
  for (const f of h.faults) kinds[f.kind] = (kinds[f.kind] ?? 0) + 1;
  out.push(`faults: ${h.faults.length} (${sorted(kinds).map(([k, n]) => `${k} ${n}`).join(', ')})`);
  const t0 = h.calls[0]?.invokeMs ?? 0;
  for (const f of h.faults) out.push(`  +${((f.startMs - t0) / 1000).toFixed(1)}s ${f.kind} ${f.target}: ${f.detail ?? ''}${f.endMs !== undefined ? ` [${((f.endMs - f.startMs) / 1000).toFixed(1)} s]` : ''}`);
  out.push('');

  out.push(renderRecovery(s));
  const a = s.afterFault;
  out.push(`after-fault checks: HashKV compared ${a.hashChecks} times (${a.hashUndecided} undecided); lease audits ${a.leaseAudits}: ${a.leasesVerified} leases over with their keys gone, ${a.leaseFindings} with keys left${a.leasesUntracked > 0 ? `, ${a.leasesUntracked} dropped unaudited` : ''}`);
  if (s.authenticated !== undefined) out.push(`auth: Authenticate calls that returned a token: ${sorted(s.authenticated).map(([u, n]) => `${u} ${n}`).join(', ')} (token refusals under errors, 'auth: ...')`);
  out.push('');

  out.push('errors by kind:');
  const errs = sorted(s.errors);
  for (const [k, n] of errs.slice(0, 40)) out.push(`  ${String(n).padStart(6)}  ${k}`);
  if (errs.length > 40) out.push(`  ... ${errs.length - 40} more kinds`);
  out.push('');

  out.push(`watchers: ${h.watches.length} sessions`);
  for (const w of s.watchers) out.push(`  watcher ${w.id} ${w.range}: ${w.sessions} sessions (${w.hops} deliberate moves), ${w.compactions} compaction cancels, ${w.events} events`);
  out.push(`  finalEvents: ${h.finalEvents.length}`);
  out.push('');
  out.push(`convergence: ${s.convergence}`);
  for (const m of s.members) {
    const logs = sorted(m.errorLogs);
    out.push(`  ${m.name}: ${m.incarnations} process(es)${logs.length > 0 ? `; error logs: ${logs.slice(0, 5).map(([k, n]) => `${n}x ${k}`).join(' | ')}` : ''}`);
  }
  out.push('');

  out.push('verdicts:');
  for (const v of s.verdicts) {
    out.push(`  ${v.checker}: ${v.result}${v.message !== undefined ? ` — ${v.message}` : ''}`);
    if (v.result !== 'ok' && v.evidence !== undefined) {
      const ev = JSON.stringify(v.evidence, null, 2) ?? '';
      out.push(ev.length > 20_000 ? `${ev.slice(0, 20_000)}\n  ... (evidence truncated; full in report.json)` : ev.split('\n').map((l) => `    ${l}`).join('\n'));
    }
  }
  if (s.livenessFailures.length > 0) {
    out.push('');
    out.push(`liveness failures (not live within ${s.livenessBoundMs} ms of the fault being lifted): ${s.livenessFailures.length}`);
    for (const l of s.livenessFailures) out.push(`  - ${l}`);
  }
  if (s.anomalies.length > 0) {
    out.push('');
    out.push('anomalies (harness findings):');
    for (const a of s.anomalies) out.push(`  - ${a}`);
  }
  if (!passed(s)) {
    out.push('');
    out.push(`replay: ${s.replay}`);
  }
  return out.join('\n') + '\n';
}

export function writeOutputs(dir: string, s: RunSummary, memberLogs: { file: string; text: string }[]): string {
  mkdirSync(join(dir, 'members'), { recursive: true });
  writeFileSync(join(dir, 'history.json'), JSON.stringify(s.history));
  const report = renderReport(s);
  writeFileSync(join(dir, 'report.txt'), report);
  const { history: _h, ...rest } = s;
  writeFileSync(join(dir, 'report.json'), JSON.stringify(rest, null, 1));
  for (const l of memberLogs) writeFileSync(join(dir, 'members', l.file), l.text);
  return report;
}
