// Structured logs shaped like etcd 3.5's zap production encoder (client/pkg/logutil/zap.go
// DefaultZapLoggerConfig): one JSON object a line, keys level ("info", lower-case), ts (zap's
// ISO8601TimeEncoder: local time, milliseconds, "Z" or "+0100"), caller, msg, then the fields in the
// order given (a "logger" name field goes before caller, where zap's NameKey is); or zap's console encoder (ts\tlevel\tcaller\tmsg\t{fields}) with --log-format console.
// pino stays underneath (async writes, per-level prefix cache); a logMethod hook puts caller and msg
// ahead of the fields and turns {err} into etcd's "error":"<message>" (zap.Error).
//
// caller: zap records file:line of the call site; taking a stack trace per line is too costly for
// us, so caller is a static module name: "etcd-ts" unless the logger came from withCaller(log, name)
// (main uses "etcdmain"). It is always present, so readers that expect the key find it.
//
// The outputs, format and rotation follow setupLogging in etcd 3.5's server/embed/config_logging.go,
// including its error texts; see validateLogConfig.
import { openSync } from 'node:fs';
import { format } from 'node:util';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { ServerConfig } from './config';
import { RotatingFile, type RotationConfig } from './log-rotate';

export type LogSettings = Pick<ServerConfig, 'logLevel' | 'loggerType' | 'logOutputs' | 'logFormat' | 'enableLogRotation' | 'logRotationConfigJson'>;

/** A logging configuration etcd 3.5 would refuse; message is etcd's text. */
export class LogConfigError extends Error {}

const CALLER = Symbol('etcd-ts.caller');
const DEFAULT_CALLER = 'etcd-ts';

/** A logger whose lines carry caller (a static module name instead of zap's file:line). */
export function withCaller(log: Logger, caller: string): Logger {
  const child = log.child({});
  (child as unknown as Record<symbol, string>)[CALLER] = caller;
  return child;
}

/** zap's ISO8601TimeEncoder: "2006-01-02T15:04:05.000Z0700" in local time. */
export function zapTime(d: Date): string {
  const off = -d.getTimezoneOffset();
  if (off === 0) return d.toISOString();
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  const a = Math.abs(off);
  return (
    `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}` +
    `${off < 0 ? '-' : '+'}${p(Math.floor(a / 60))}${p(a % 60)}`
  );
}

function errorText(v: unknown): unknown {
  return v instanceof Error ? v.message : v;
}

/** Rewrites every call as log(obj) with obj = {caller, msg, ...fields}, so pino writes etcd's order. */
function logMethod(this: Logger, args: unknown[], method: (...a: unknown[]) => void): void {
  const caller = (this as unknown as Record<symbol, string | undefined>)[CALLER] ?? DEFAULT_CALLER;
  const a0 = args[0];
  let fields: Record<string, unknown> | undefined;
  let msg: unknown;
  let rest: unknown[];
  if (a0 instanceof Error) {
    fields = { error: a0.message };
    msg = args.length > 1 ? args[1] : a0.message;
    rest = args.slice(2);
  } else if (typeof a0 === 'object' && a0 !== null) {
    fields = a0 as Record<string, unknown>;
    msg = args[1];
    rest = args.slice(2);
  } else {
    msg = a0;
    rest = args.slice(1);
  }
  if (msg === undefined && fields !== undefined && 'msg' in fields) msg = fields.msg;
  if (typeof msg === 'string' && rest.length > 0) msg = format(msg, ...rest);
  // zap's NameKey ("logger", a named logger such as raft's) sits between ts and caller.
  const out: Record<string, unknown> =
    fields !== undefined && typeof fields.logger === 'string' ? { logger: fields.logger, caller, msg: '' } : { caller, msg: '' };
  out.msg = msg === undefined ? '' : msg;
  if (fields !== undefined) {
    for (const k in fields) {
      if (k === 'msg' || k === 'caller' || k === 'logger') continue;
      const v = fields[k];
      if (k === 'err') out.error = errorText(v);
      else out[k] = errorText(v);
    }
  }
  method.call(this, out);
}

/** zap's console encoder: ts, level, caller, msg, then the fields as one JSON object, tab-separated. */
function toConsole(line: string): string {
  const o = JSON.parse(line) as Record<string, unknown>;
  const { level, ts, logger, caller, msg, ...fields } = o;
  let s = `${String(ts)}\t${String(level)}\t${logger === undefined ? '' : `${String(logger)}\t`}${String(caller)}\t${String(msg)}`;
  if (Object.keys(fields).length > 0) s += `\t${JSON.stringify(fields)}`;
  return s + '\n';
}

function pinoLevel(level: ServerConfig['logLevel']): string {
  return level === 'panic' ? 'fatal' : level;
}

function build(level: ServerConfig['logLevel'], dest: DestinationStream, consoleFormat = false): Logger {
  return pino(
    {
      level: pinoLevel(level),
      base: undefined,
      messageKey: 'msg',
      timestamp: () => `,"ts":"${zapTime(new Date())}"`,
      formatters: { level: (label) => ({ level: label }) },
      hooks: { logMethod, ...(consoleFormat ? { streamWrite: toConsole } : {}) },
    },
    dest,
  );
}

/** JSON lines on stderr (the default output); what the embedded API uses without a logger. */
export function createLogger(level: ServerConfig['logLevel'], _name?: string): Logger {
  return build(level, pino.destination({ fd: 2, sync: false }));
}

/** Synchronous stderr logger for the last words before exit(1) (etcd's CreateDefaultZapLogger). */
export function createExitLogger(): Logger {
  return withCaller(build('info', pino.destination({ fd: 2, sync: true })), 'etcdmain');
}

export interface ResolvedLogConfig {
  /** Deduplicated and sorted as zap's MergeOutputPaths: 'stderr', 'stdout', '/dev/null' or file paths. */
  outputs: string[];
  format: 'json' | 'console';
  /** Set when --enable-log-rotation: applies to the one file output. */
  rotation?: RotationConfig;
}

const STD = new Set(['default', 'stderr', 'stdout']);
const JOURNAL = 'systemd/journal';

/** Go's %q of a []string: ["a" "b"]. */
function goQuoteList(v: string[]): string {
  return `[${v.map((s) => JSON.stringify(s)).join(' ')}]`;
}

const ROTATION_FIELDS: Record<string, { key: keyof RotationConfig | 'filename'; go: 'int' | 'bool' | 'string' }> = {
  filename: { key: 'filename', go: 'string' },
  maxsize: { key: 'maxsize', go: 'int' },
  maxage: { key: 'maxage', go: 'int' },
  maxbackups: { key: 'maxbackups', go: 'int' },
  localtime: { key: 'localtime', go: 'bool' },
  compress: { key: 'compress', go: 'bool' },
};

function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return `number ${String(v)}`;
  return typeof v; // string, object
}

/** json.Unmarshal into lumberjack.Logger, with etcd's wrapping of its errors (setupLogRotation). */
export function parseRotationConfig(json: string): RotationConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new LogConfigError(`improperly formatted log rotation config: ${(err as Error).message}`);
  }
  const cfg: RotationConfig = { maxsize: 0, maxage: 0, maxbackups: 0, localtime: false, compress: false };
  if (raw === null) return cfg;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new LogConfigError(`invalid log rotation config: json: cannot unmarshal ${jsonKind(raw).split(' ')[0]} into Go value of type embed.logRotationConfig`);
  }
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    // encoding/json matches field names case-insensitively and ignores unknown ones.
    const f = ROTATION_FIELDS[k.toLowerCase()];
    if (f === undefined || v === null) continue;
    const ok = f.go === 'int' ? typeof v === 'number' && Number.isSafeInteger(v) : f.go === 'bool' ? typeof v === 'boolean' : typeof v === 'string';
    if (!ok) {
      throw new LogConfigError(`invalid log rotation config: json: cannot unmarshal ${jsonKind(v)} into Go struct field logRotationConfig.${f.key} of type ${f.go}`);
    }
    if (f.key !== 'filename') (cfg as unknown as Record<string, unknown>)[f.key] = v;
  }
  return cfg;
}

/** etcd 3.5's setupLogging checks, in its order, with its error texts. */
export function validateLogConfig(s: LogSettings): ResolvedLogConfig {
  if (s.loggerType === 'capnslog') throw new LogConfigError('--logger=capnslog is removed in v3.5');
  if (s.loggerType !== 'zap') throw new LogConfigError(`unknown logger option ${JSON.stringify(s.loggerType)}`);
  const outputs = s.logOutputs.length === 0 ? ['default'] : s.logOutputs;
  if (outputs.length > 1 && outputs.includes('default')) throw new LogConfigError('multi logoutput for "default" is not supported yet');
  let rotation: RotationConfig | undefined;
  if (s.enableLogRotation) {
    const files = outputs.filter((v) => !STD.has(v)).length;
    if ((outputs.length === 1 && files === 0) || files > 1) {
      throw new LogConfigError('--log-outputs requires a single file path when --log-rotate-config-json is defined');
    }
    rotation = parseRotationConfig(s.logRotationConfigJson);
  }
  const journal = outputs.includes(JOURNAL);
  if (journal && outputs.length > 1) {
    throw new LogConfigError(
      `running with systemd/journal but other '--log-outputs' values (${goQuoteList(outputs)}) are configured with 'default'; override 'default' value with something else`,
    );
  }
  if (s.logFormat !== 'json' && s.logFormat !== 'console') throw new LogConfigError(`unsupported log format: ${s.logFormat}`);
  // systemd/journal: etcd-ts has no journald writer; stderr of a systemd unit lands in the journal.
  const mapped = outputs.map((v) => (v === 'default' || v === JOURNAL ? 'stderr' : v));
  let merged = [...new Set(mapped)].sort();
  if (merged.includes('/dev/null')) merged = ['/dev/null'];
  return { outputs: merged, format: s.logFormat, rotation };
}

class Tee implements DestinationStream {
  constructor(private readonly dests: DestinationStream[]) {}
  write(s: string): void {
    for (const d of this.dests) d.write(s);
  }
  flush(cb?: (err?: Error) => void): void {
    let left = this.dests.length;
    const done = (): void => {
      if (--left === 0) cb?.();
    };
    for (const d of this.dests) {
      const f = (d as { flush?: (cb: () => void) => void }).flush;
      if (f) f.call(d, done);
      else done();
    }
  }
  flushSync(): void {
    for (const d of this.dests) (d as { flushSync?: () => void }).flushSync?.();
  }
}

const discard: DestinationStream = { write: () => undefined };

function openOutput(out: string, rotation: RotationConfig | undefined): DestinationStream {
  if (out === 'stderr') return pino.destination({ fd: 2, sync: false });
  if (out === 'stdout') return pino.destination({ fd: 1, sync: false });
  if (out === '/dev/null') return discard;
  try {
    if (rotation) return new RotatingFile(out, rotation);
    // Opened here so a bad path fails at start (zap: O_WRONLY|O_APPEND|O_CREATE, 0666).
    return pino.destination({ fd: openSync(out, 'a', 0o666), sync: false });
  } catch (err) {
    throw new LogConfigError(`couldn't open sink ${JSON.stringify(out)}: ${(err as Error).message}`);
  }
}

/** The member's logger from --logger, --log-level, --log-outputs, --log-format and rotation. */
export function createLoggerFromConfig(s: LogSettings): Logger {
  const r = validateLogConfig(s);
  const dests = r.outputs.map((o) => openOutput(o, r.rotation));
  const dest = dests.length === 1 ? dests[0] : new Tee(dests);
  return build(s.logLevel, dest, r.format === 'console');
}
