// CPU time and RSS of a local process from /proc, read the same way as
// etcdbench's --server-pid so the figures compare. Linux only; null elsewhere
// or when the process is gone.
import * as fs from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times: USER_HZ, 100 on every Linux ABI Node runs on. */
const USER_HZ = 100;

export interface ProcSample {
  /** utime + stime of all the process's threads, in seconds. */
  cpuSeconds: number;
  rssMb: number;
}

export function readProc(pid: number): ProcSample | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) may contain spaces; count fields after its closing ")".
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    const ticks = Number(f[11]) + Number(f[12]);
    const status = fs.readFileSync(`/proc/${pid}/status`, 'latin1');
    const rssKb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? NaN);
    if (!Number.isFinite(ticks) || !Number.isFinite(rssKb)) return null;
    return { cpuSeconds: ticks / USER_HZ, rssMb: rssKb / 1024 };
  } catch {
    return null;
  }
}
