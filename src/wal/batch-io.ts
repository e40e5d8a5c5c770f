// The I/O steps a WAL batch is made of, and their two executors: blocking (the idle fast path,
// lowest latency: no hand-off to the threadpool and back) and libuv threadpool (under load, so
// the event loop keeps serving while the disk works). wal.ts decides the order once, as a list
// of steps; these only carry them out. Segment files are opened O_DSYNC, so a write step is
// durable when it completes: there is no separate sync step.
import { close, closeSync, rename, renameSync } from 'node:fs';
import { callback, fsyncDir, fsyncDirSync, writeAll, writeAllSync, type SparePool, type SpareFile } from './segment-files';

export type IoStep =
  | { op: 'write'; fd: number; buf: Buffer; len: number; pos: number }
  /** A preallocated file of at least `size` bytes, handed to `use`. */
  | { op: 'take-spare'; size: number; use: (spare: SpareFile) => void }
  | { op: 'rename'; from: string; to: string }
  | { op: 'fsync-dir' }
  | { op: 'close'; fd: number };

export interface IoCounters {
  /** Durable writes to segment files. */
  syncs: number;
  writes: number;
  bytesWritten: number;
}

export interface IoContext {
  dir: string;
  spares: SparePool;
  counters: IoCounters;
}

export function execSync(step: IoStep, ctx: IoContext): void {
  switch (step.op) {
    case 'write':
      writeAllSync(step.fd, step.buf, step.len, step.pos);
      return countWrite(ctx.counters, step.len);
    case 'take-spare':
      return step.use(ctx.spares.takeSync(step.size));
    case 'rename':
      return renameSync(step.from, step.to);
    case 'fsync-dir':
      return fsyncDirSync(ctx.dir);
    case 'close':
      return closeSync(step.fd);
  }
}

export async function execAsync(step: IoStep, ctx: IoContext): Promise<void> {
  switch (step.op) {
    case 'write':
      await writeAll(step.fd, step.buf, step.len, step.pos);
      return countWrite(ctx.counters, step.len);
    case 'take-spare':
      return step.use(await ctx.spares.take(step.size));
    case 'rename':
      return callback((cb) => rename(step.from, step.to, cb));
    case 'fsync-dir':
      return fsyncDir(ctx.dir);
    case 'close':
      return callback((cb) => close(step.fd, cb));
  }
}

function countWrite(counters: IoCounters, bytes: number): void {
  counters.writes++;
  counters.syncs++;
  counters.bytesWritten += bytes;
}
