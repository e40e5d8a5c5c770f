// Builds the History of a run (history.ts) as it happens: calls with invoke / complete times,
// watch sessions, faults; plus the harness's own notes (errors by kind, anomalies seen live).
import { performance } from 'node:perf_hooks';
import type { Call, Fault, History, Op, Result, WatchSession } from './history';

export const now = (): number => performance.now();

export class Recorder {
  readonly calls: Call[] = [];
  readonly watches: WatchSession[] = [];
  readonly faults: Fault[] = [];
  /** Errors the clients got, by kind (see rpc.errorKind), for the report. */
  readonly errors: Record<string, number> = {};
  /** Things the harness saw that look like server bugs (crashes, stuck cluster, ...). */
  readonly anomalies: string[] = [];
  /** Members not live (leader agreed, linearizable reads served) within the bound after a fault. */
  readonly livenessFailures: string[] = [];
  /** Log of harness events (faults, recoveries), with times, for the report. */
  readonly log: string[] = [];
  private nextId = 0;

  constructor(readonly seed: number) {}

  invoke(client: number, endpoint: string, op: Op): Call {
    const c: Call = { id: this.nextId++, client, endpoint, op, invokeMs: now(), outcome: 'unknown' };
    this.calls.push(c);
    return c;
  }

  ok(c: Call, result: Result): void {
    c.completeMs = now();
    c.outcome = 'ok';
    c.result = result;
  }

  /** An error answer: fail if it certainly did not happen, else unknown (complete time kept:
   *  the call did return, only its effect is unknown). */
  failed(c: Call, outcome: 'fail' | 'unknown', error: string, kind: string): void {
    c.completeMs = now();
    c.outcome = outcome;
    c.error = error;
    this.countError(kind);
  }

  countError(kind: string, n = 1): void {
    this.errors[kind] = (this.errors[kind] ?? 0) + n;
  }

  fault(kind: Fault['kind'], target: string, detail?: string): Fault {
    const f: Fault = { kind, target, startMs: now(), detail };
    this.faults.push(f);
    this.note(`fault ${kind} on ${target}${detail !== undefined ? ` (${detail})` : ''}`);
    return f;
  }

  endFault(f: Fault, detail?: string): void {
    f.endMs = now();
    if (detail !== undefined) f.detail = f.detail !== undefined ? `${f.detail}; ${detail}` : detail;
    this.note(`fault ${f.kind} on ${f.target} over (${Math.round(f.endMs - f.startMs)} ms)`);
  }

  note(s: string): void {
    this.log.push(`${(now() / 1000).toFixed(3)}s ${s}`);
  }

  anomaly(s: string): void {
    this.anomalies.push(s);
    this.note(`ANOMALY ${s}`);
  }

  livenessFailure(s: string): void {
    this.livenessFailures.push(s);
    this.note(`LIVENESS FAILURE ${s}`);
  }

  history(finalEvents: History['finalEvents'], finalState: History['finalState'], finalRevision: number): History {
    return { seed: this.seed, calls: this.calls, watches: this.watches, faults: this.faults, finalEvents, finalState, finalRevision };
  }
}
