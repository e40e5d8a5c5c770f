// Which member each running member process is, by pid, for the TCP fault proxies (they tell the
// member that dialed by the pid owning the connecting socket, test/helpers/socket-owner.ts).
// A member dials its peers before startServer returns (it returns once the member serves reads),
// so a pid registered only then would leave the first connections of every start unplaced — and
// an unplaced connection passes every fault for as long as it stays open. While a start is under
// way, children of this process not registered yet are therefore found in /proc and placed by the
// --name on their command line.
import { readFileSync, readdirSync } from 'node:fs';

export class MemberPids {
  private readonly byPid = new Map<number, string>();
  /** Starts under way (spawned, pid not registered yet). */
  private starting = 0;

  /** @param idByName the member ID of the member now running under this name (undefined: none) */
  constructor(private readonly idByName: (name: string) => string | undefined) {}

  /** The proxies' `senders` callback: pid -> member ID. */
  readonly senders = (): Map<number, string> => {
    if (this.starting === 0) return this.byPid;
    const all = new Map(this.byPid);
    for (const pid of unregisteredChildren(this.byPid)) {
      const name = nameArg(pid);
      const id = name === undefined ? undefined : this.idByName(name);
      if (id !== undefined) all.set(pid, id);
    }
    return all;
  };

  /** Brackets a start: fn spawns the member; its pid is registered once fn returns it. */
  async whileStarting<T>(fn: () => Promise<T>): Promise<T> {
    this.starting++;
    try {
      return await fn();
    } finally {
      this.starting--;
    }
  }

  register(pid: number | undefined, id: string): void {
    if (pid !== undefined) this.byPid.set(pid, id);
  }

  unregister(pid: number | undefined): void {
    if (pid !== undefined) this.byPid.delete(pid);
  }
}

/** Child processes of this one that `known` does not hold (from /proc/<pid>/stat). */
function unregisteredChildren(known: Map<number, string>): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (known.has(pid)) continue;
    try {
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) out.push(pid);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function nameArg(pid: number): string | undefined {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const i = args.indexOf('--name');
    return i >= 0 ? args[i + 1] : undefined;
  } catch {
    return undefined;
  }
}
