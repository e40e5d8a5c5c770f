// Which of a few known processes owns the client end of a loopback TCP connection. A TCP-level
// fault proxy needs to know the sending member to cut one link and not another, and every member
// dials from 127.0.0.1, so the address cannot tell them apart: the kernel's socket table can.
//   /proc/net/tcp{,6}: "sl local_address rem_address st ... uid timeout inode"; addresses hex
//   "0100007F:1F90" (IPv4, host byte order) — only the ports are compared here.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** The inode of the socket whose local port is `localPort` and remote port `remotePort`. */
function socketInode(localPort: number, remotePort: number): string | undefined {
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const lp = parseInt(f[1].slice(f[1].lastIndexOf(':') + 1), 16);
      const rp = parseInt(f[2].slice(f[2].lastIndexOf(':') + 1), 16);
      if (lp === localPort && rp === remotePort) return f[9];
    }
  }
  return undefined;
}

/**
 * Of `pids`, the process holding the socket that connected from `clientPort` to `serverPort`
 * (undefined when none does, e.g. it exited or the connection is from elsewhere).
 */
export function socketOwner(clientPort: number, serverPort: number, pids: number[]): number | undefined {
  const inode = socketInode(clientPort, serverPort);
  if (inode === undefined) return undefined;
  const want = `socket:[${inode}]`;
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === want) return pid;
      } catch {
        // the fd closed meanwhile
      }
    }
  }
  return undefined;
}
