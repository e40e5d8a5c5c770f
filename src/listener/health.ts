// etcd 3.5's health endpoints, as server/etcdserver/api/etcdhttp/health.go (v3.5.17) serves them:
//  /health  {"health":"true","reason":""} (200; Go sniffs its type: text/plain). Checks, first
//           failure wins: an alarm not named in ?exclude= ("ALARM NOSPACE", "ALARM CORRUPT",
//           "ALARM UNKNOWN"); no leader, unless ?serializable=true ("RAFT NO LEADER"); a Range,
//           local when serializable ("RANGE ERROR:<error>"). A failure is 503 through http.Error:
//           the same JSON, plain text, nosniff, a trailing newline.
//  /livez   serializable_read;  /readyz  data_corruption, serializable_read, linearizable_read.
//           Each check also alone at /livez/<name>, /readyz/<name>. ?exclude=<name> (root only;
//           an unknown name is logged, not refused). 200 "ok\n", preceded with ?verbose by one
//           line per check ("[+]<name> ok"); 503 with every line ("[-]<name> failed: <error>")
//           and http.Error's newline. etcd runs the checks in Go map order (random); we run them
//           in the order etcd registers them, one of the orders etcd can print.
// 3.4 has neither /livez nor /readyz, and its /health JSON has no "reason"; we answer as 3.5.
// etcd 3.5.19+ adds a non_learner check to /readyz; the 3.5.17 we report has none.
//
// The reads are shared: while one of a kind (serializable or not) is in flight, every probe that
// arrives waits for it rather than starting another, so probes cannot queue unbounded reads on a
// member that has lost its quorum. This module knows nothing of Raft or the store: the member
// is seen through HealthMember.
import type { Logger } from 'pino';
import { goJsonString, httpError, methodNotAllowed, type Reply } from './go-reply';
import type { HttpRouter, RouteRequest } from './http-router';

export interface HealthMember {
  /** Whether this member knows a leader (etcd: Leader() != raft.None). */
  hasLeader(): boolean;
  /** Active alarms as etcd names their type (pb.AlarmType.String()): "NOSPACE", "CORRUPT". */
  alarms(): string[];
  /** A one-key Range, local when serializable; rejects with the member's error, whose message is shown. */
  read(serializable: boolean): Promise<void>;
}

/** A check's error text (what etcd formats with %v), or undefined when it passed. */
type Check = () => Promise<string | undefined>;

export function installHealth(router: HttpRouter, member: HealthMember, log: Logger): void {
  const reads = new SharedReads(member);
  const readCheck =
    (serializable: boolean): Check =>
    async () => {
      try {
        await reads.read(serializable);
        return undefined;
      } catch (err) {
        return errorText(err);
      }
    };
  const alarmCheck =
    (alarm: string): Check =>
    () =>
      Promise.resolve(member.alarms().includes(alarm) ? `alarm activated: ${alarm}` : undefined);

  router.handle('/health', (r) => health(r, member, reads, log));
  installChecks(router, 'livez', [['serializable_read', readCheck(true)]], log);
  installChecks(router, 'readyz', [
    ['data_corruption', alarmCheck('CORRUPT')],
    // serializable_read tells a broken local store from a missing quorum (linearizable_read).
    ['serializable_read', readCheck(true)],
    ['linearizable_read', readCheck(false)],
  ], log);
}

async function health(r: RouteRequest, member: HealthMember, reads: SharedReads, log: Logger): Promise<Reply> {
  if (r.method !== 'GET') {
    log.warn({ 'status-code': 405 }, '/health error');
    return methodNotAllowed();
  }
  const excluded = querySet(r.query, 'exclude');
  // Only the first value counts (Go's Query().Get).
  const serializable = r.query.get('serializable')?.[0] === 'true';
  let reason = '';
  const alarm = member.alarms().find((a) => !excluded.has(a));
  if (alarm !== undefined) {
    reason = alarm === 'NOSPACE' || alarm === 'CORRUPT' ? `ALARM ${alarm}` : 'ALARM UNKNOWN';
    log.warn({ alarm }, 'serving /health false due to an alarm');
  } else if (!serializable && !member.hasLeader()) {
    reason = 'RAFT NO LEADER';
    log.warn('serving /health false; no leader');
  } else {
    try {
      await reads.read(serializable);
    } catch (err) {
      reason = `RANGE ERROR:${errorText(err)}`;
      log.warn({ err }, 'serving /health false; Range fails');
    }
  }
  const body = `{"health":${goJsonString(reason === '' ? 'true' : 'false')},"reason":${goJsonString(reason)}}`;
  if (reason === '') return { status: 200, header: [], body };
  log.warn({ output: body, 'status-code': 503 }, '/health error');
  return httpError(body, 503);
}

/** etcd's CheckRegistry.InstallHttpEndpoints: the root path and one path per check. */
function installChecks(router: HttpRouter, kind: string, checks: [string, Check][], log: Logger): void {
  const root = `/${kind}`;
  router.handle(root, (r) => {
    const excluded = querySet(r.query, 'exclude');
    const run = checks.filter(([name]) => !excluded.has(name));
    const missing = [...excluded].filter((name) => !checks.some(([n]) => n === name));
    // For compatibility between versions an unknown name is not an error.
    if (missing.length > 0) log.warn({ 'missing-health-checks': missing.map((m) => JSON.stringify(m)).join(',') }, 'some health checks cannot be excluded');
    return runChecks(r, root, run, log);
  });
  for (const check of checks) router.handle(`${root}/${check[0]}`, (r) => runChecks(r, `${root}/${check[0]}`, [check], log));
}

async function runChecks(r: RouteRequest, path: string, checks: [string, Check][], log: Logger): Promise<Reply> {
  if (r.method !== 'GET') {
    log.warn({ path, 'status-code': 405 }, 'Health request error');
    return methodNotAllowed();
  }
  let failed = false;
  let reason = '';
  // One after another, as etcd runs them.
  for (const [name, check] of checks) {
    const err = await check();
    if (err === undefined) reason += `[+]${name} ok\n`;
    else {
      failed = true;
      reason += `[-]${name} failed: ${err}\n`;
    }
  }
  // A failure always shows every check; a success only with ?verbose (any value).
  if (failed) {
    log.error({ path, reason, 'status-code': 503 }, 'Health check error');
    return httpError(reason, 503);
  }
  const body = (r.query.has('verbose') ? reason : '') + 'ok\n';
  return { status: 200, header: [['Content-Type', 'text/plain; charset=utf-8'], ['X-Content-Type-Options', 'nosniff']], body };
}

/** etcd's getQuerySet: the parameter's non-empty values. */
function querySet(query: Map<string, string[]>, name: string): Set<string> {
  return new Set((query.get(name) ?? []).filter((v) => v !== ''));
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** At most one read of each kind in flight; probes arriving meanwhile share its outcome. */
class SharedReads {
  private readonly inFlight = new Map<boolean, Promise<void>>();

  constructor(private readonly member: HealthMember) {}

  read(serializable: boolean): Promise<void> {
    const pending = this.inFlight.get(serializable);
    if (pending !== undefined) return pending;
    const started = this.start(serializable).finally(() => this.inFlight.delete(serializable));
    this.inFlight.set(serializable, started);
    return started;
  }

  private start(serializable: boolean): Promise<void> {
    try {
      return this.member.read(serializable);
    } catch (err) {
      // A member that throws instead of rejecting still answers the probe.
      return Promise.reject(err);
    }
  }
}
