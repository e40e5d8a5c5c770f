// The `etcd-ts snapshot ...` commands' output: etcdctl's words on stdout/stderr and its exit codes
// (0, or 1 with "Error: ..." on stderr). The work is in restore.ts and status.ts.
import type { SnapshotCommand } from '../server/flags';
import { restoreSnapshot } from './restore';
import { formatStatus, snapshotStatus } from './status';

export async function runSnapshotCommand(cmd: SnapshotCommand): Promise<number> {
  try {
    if (cmd.action === 'snapshot-status') {
      process.stdout.write(formatStatus(snapshotStatus(cmd.file), cmd.format));
      return 0;
    }
    const r = await restoreSnapshot(cmd);
    process.stderr.write(`${JSON.stringify({ level: 'info', msg: 'restored snapshot', path: cmd.snapshotPath, 'data-dir': cmd.dataDir, revision: r.revision, 'compact-revision': r.compacted, versions: r.versions, leases: r.leases })}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
