// The etcd-ts command: etcd's flags and ETCD_* variables in, a serving member out.
// First: every module required after this one compiles through the code cache.
import { saveSoon } from './code-cache';
import { FlagError, parseCommand, USAGE } from './flags';
import { start } from './embed';
import { createExitLogger, createLoggerFromConfig, LogConfigError, withCaller } from './logger';
import { ETCD_TS_VERSION, ETCD_VERSION, CLUSTER_VERSION } from './version';

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
    // Loaded only here: the server itself never needs the snapshot file tools.
    const { runSnapshotCommand } = await import('../snapshot/command');
    process.exitCode = await runSnapshotCommand(cmd);
    return;
  }
  const { config } = cmd;
  // etcd 3.5 (etcdmain/etcd.go startEtcdOrProxyV2): a logging configuration it refuses is reported
  // by a default stderr logger as "Running: " then "failed to verify flags", and the exit code is 1.
  const args = process.argv.slice(1);
  let root;
  try {
    root = createLoggerFromConfig(config);
  } catch (err) {
    if (!(err instanceof LogConfigError)) throw err;
    const lg = createExitLogger();
    lg.info({ args }, 'Running: ');
    lg.warn({ error: err.message }, 'failed to verify flags');
    process.exit(1);
  }
  const log = withCaller(root, 'etcdmain');
  log.info({ args }, 'Running: ');
  for (const w of cmd.warnings) log.warn(w);
  for (const name of cmd.notImplemented) log.warn({ flag: `--${name}` }, `flag --${name} is not implemented yet by etcd-ts; ignored`);
  const handle = await start({ ...config, logger: root });
  saveSoon((stats) => log.debug({ ...stats }, 'wrote the code cache of the modules compiled from source'));
  const shutdown = (signal: string): void => {
    log.info({ signal }, 'shutting down');
    // Pending async log writes go out before the exit.
    const exit = (code: number): void => {
      setTimeout(() => process.exit(code), 1000).unref();
      try {
        root.flush(() => process.exit(code));
      } catch {
        process.exit(code);
      }
    };
    handle.close().then(
      () => exit(0),
      () => exit(1),
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`etcd-ts: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
