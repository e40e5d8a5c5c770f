// A size-rotated log file with lumberjack's rules (gopkg.in/natefinch/lumberjack.v2, what etcd 3.5's
// --enable-log-rotation uses): the live file keeps its name; when a write would take it past
// maxsize MB it is renamed to <name>-<2006-01-02T15-04-05.000><ext> (UTC unless localtime) and a new
// one is started; backups beyond maxbackups (0 = all) or older than maxage days (0 = forever) are
// removed, and with compress the rest are gzipped (<backup>.gz) in the background.
//
// Written here rather than taken from npm: lumberjack's naming and retention are the contract
// operators' tooling relies on, and the whole thing is one file of synchronous fs calls. Lines are
// queued and written in one batch per event-loop turn (never split across files), so a burst of
// log calls costs one write, and the queue is written synchronously at exit.
import { closeSync, createReadStream, createWriteStream, fstatSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeSync, existsSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { pipeline } from 'node:stream';
import { createGzip } from 'node:zlib';

export interface RotationConfig {
  /** Megabytes; 0 means lumberjack's default of 100. */
  maxsize: number;
  /** Days; 0 keeps backups regardless of age. */
  maxage: number;
  /** 0 keeps every backup. */
  maxbackups: number;
  localtime: boolean;
  compress: boolean;
}

const MB = 1024 * 1024;
/** Queued bytes past which a write is flushed at once instead of at the end of the turn. */
const MAX_QUEUED = 1 * MB;

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** lumberjack's backupTimeFormat, "2006-01-02T15-04-05.000". */
export function backupTimestamp(d: Date, localtime: boolean): string {
  const [y, mo, da, h, mi, s, ms] = localtime
    ? [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds()]
    : [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()];
  return `${y}-${pad(mo)}-${pad(da)}T${pad(h)}-${pad(mi)}-${pad(s)}.${pad(ms, 3)}`;
}

const TS_RE = /^(\d{4})-(\d\d)-(\d\d)T(\d\d)-(\d\d)-(\d\d)\.(\d{3})$/;

function parseTimestamp(s: string, localtime: boolean): number | undefined {
  const m = TS_RE.exec(s);
  if (!m) return undefined;
  const [y, mo, d, h, mi, sec, ms] = m.slice(1).map(Number);
  return localtime ? new Date(y, mo - 1, d, h, mi, sec, ms).getTime() : Date.UTC(y, mo - 1, d, h, mi, sec, ms);
}

export class RotatingFile {
  private fd = -1;
  private size = 0;
  private queue: string[] = [];
  private queued = 0;
  private scheduled = false;
  private readonly maxBytes: number;
  private readonly dir: string;
  private readonly prefix: string;
  private readonly ext: string;
  private compressing = Promise.resolve();
  private lastBackup = 0;
  private readonly onExit = (): void => this.flushSync();

  /** maxBytes overrides maxsize (tests rotate at a few hundred bytes rather than a megabyte). */
  constructor(
    readonly filename: string,
    private readonly cfg: RotationConfig,
    maxBytes?: number,
  ) {
    this.maxBytes = maxBytes ?? (cfg.maxsize > 0 ? cfg.maxsize : 100) * MB;
    this.dir = dirname(filename);
    this.ext = extname(filename);
    this.prefix = basename(filename, this.ext) + '-';
    // Opened now so a bad path fails at start, as zap's sink does.
    this.fd = openSync(filename, 'a', 0o600);
    this.size = fstatSync(this.fd).size;
    process.on('exit', this.onExit);
  }

  /** pino's stream interface. */
  write(line: string): boolean {
    this.queue.push(line);
    this.queued += line.length;
    if (this.queued >= MAX_QUEUED) this.flushSync();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flushSync());
    }
    return true;
  }

  flush(cb?: (err?: Error) => void): void {
    try {
      this.flushSync();
      cb?.();
    } catch (err) {
      cb?.(err as Error);
    }
  }

  flushSync(): void {
    this.scheduled = false;
    if (this.fd < 0 || this.queue.length === 0) return;
    const lines = this.queue;
    this.queue = [];
    this.queued = 0;
    let batch = '';
    let batchBytes = 0;
    for (const line of lines) {
      const n = Buffer.byteLength(line);
      if (this.size + batchBytes + n > this.maxBytes && this.size + batchBytes > 0) {
        this.writeOut(batch);
        batch = '';
        batchBytes = 0;
        this.rotate();
      }
      // A line longer than maxsize on its own goes into a file of its own (lumberjack refuses it
      // with an error instead; dropping a log line is worse).
      batch += line;
      batchBytes += n;
    }
    this.writeOut(batch);
  }

  /** Resolves when pending writes and background compression are done; the file is closed. */
  async close(): Promise<void> {
    this.flushSync();
    process.removeListener('exit', this.onExit);
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    await this.compressing;
  }

  private writeOut(s: string): void {
    if (s === '') return;
    const buf = Buffer.from(s);
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    this.size += buf.length;
  }

  private rotate(): void {
    closeSync(this.fd);
    // Two rotations in one millisecond would share lumberjack's name and the rename would lose a
    // file: backup times are kept strictly increasing (also past files already there).
    let t = Math.max(Date.now(), this.lastBackup + 1);
    let backup = this.backupPath(t);
    while (existsSync(backup) || existsSync(backup + '.gz')) backup = this.backupPath(++t);
    this.lastBackup = t;
    renameSync(this.filename, backup);
    this.fd = openSync(this.filename, 'w', 0o600);
    this.size = 0;
    this.mill();
  }

  private backupPath(t: number): string {
    return join(this.dir, this.prefix + backupTimestamp(new Date(t), this.cfg.localtime) + this.ext);
  }

  /** lumberjack's millRunOnce: drop by count and age, then compress what is left. */
  private mill(): void {
    const backups: { name: string; t: number }[] = [];
    for (const name of readdirSync(this.dir)) {
      if (!name.startsWith(this.prefix)) continue;
      const rest = name.slice(this.prefix.length);
      const stamp = rest.endsWith(this.ext + '.gz') ? rest.slice(0, rest.length - this.ext.length - 3) : rest.endsWith(this.ext) ? rest.slice(0, rest.length - this.ext.length) : undefined;
      const t = stamp === undefined ? undefined : parseTimestamp(stamp, this.cfg.localtime);
      if (t !== undefined) backups.push({ name, t });
    }
    backups.sort((a, b) => b.t - a.t);
    const remove = new Set<string>();
    if (this.cfg.maxbackups > 0) {
      // A backup and its .gz (mid-compression) count as one, as in lumberjack.
      const kept = new Set<number>();
      for (const b of backups) {
        if (kept.has(b.t)) continue;
        if (kept.size < this.cfg.maxbackups) kept.add(b.t);
        else remove.add(b.name);
      }
    }
    if (this.cfg.maxage > 0) {
      const cutoff = Date.now() - this.cfg.maxage * 24 * 3600 * 1000;
      for (const b of backups) if (b.t < cutoff) remove.add(b.name);
    }
    for (const name of remove) {
      try {
        unlinkSync(join(this.dir, name));
      } catch {
        // already gone (a compression finished meanwhile)
      }
    }
    if (!this.cfg.compress) return;
    for (const b of backups) {
      if (remove.has(b.name) || b.name.endsWith('.gz') || backups.some((x) => x.name === b.name + '.gz')) continue;
      const src = join(this.dir, b.name);
      this.compressing = this.compressing.then(() => gzipFile(src));
    }
  }
}

function gzipFile(src: string): Promise<void> {
  return new Promise((resolve) => {
    try {
      statSync(src);
    } catch {
      resolve();
      return;
    }
    pipeline(createReadStream(src), createGzip(), createWriteStream(src + '.gz', { mode: 0o600 }), (err) => {
      if (!err) {
        try {
          unlinkSync(src);
        } catch {
          // removed by retention meanwhile
        }
      }
      resolve();
    });
  });
}
