// The etcd-ts command: etcd's flags and ETCD_* variables in, a serving member out.
import { FlagError, parseCommand, USAGE } from './flags';
import { start } from './embed';
import { createLogger } from './logger';
import { ETCD_TS_VERSION, ETCD_VERSION, CLUSTER_VERSION } from './version';
import { runSnapshotCommand } from '../snapshot/command';

async function main(): Promise<void> {
  let cmd;
  try {
    cmd = parseCommand(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof FlagError || err instanceof Error) {
      process.stderr.write(`etcd-ts: ${err.message}\n\n${USAGE}`);
      process.exit(2);
    }
    throw err;
  }
  if (cmd.action === 'version') {
    process.stdout.write(`etcd-ts Version: ${ETCD_TS_VERSION}\netcd API Version: ${ETCD_VERSION}\nCluster Version: ${CLUSTER_VERSION}\nNode Version: ${process.version}\n`);
    return;
  }
  if (cmd.action === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  if (cmd.action === 'snapshot-restore' || cmd.action === 'snapshot-status') {
    process.exitCode = await runSnapshotCommand(cmd);
    return;
  }
  const { config } = cmd;
  const log = createLogger(config.logLevel, config.name);
  for (const w of cmd.warnings) log.warn(w);
  for (const name of cmd.notImplemented) log.warn({ flag: `--${name}` }, `flag --${name} is not implemented yet by etcd-ts; ignored`);
  const handle = await start({ ...config, logger: log });
  const shutdown = (signal: string): void => {
    log.info({ signal }, 'shutting down');
    handle.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`etcd-ts: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
