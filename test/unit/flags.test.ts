import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommand, FlagError } from '../../src/server/flags';
import { clusterId, idHex, memberId } from '../../src/server/ids';

const run = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const cmd = parseCommand(argv, env);
  assert.equal(cmd.action, 'run');
  if (cmd.action !== 'run') throw new Error('unreachable');
  return cmd;
};

describe('flags', () => {
  test("etcd's defaults", () => {
    const { config } = run([]);
    assert.equal(config.name, 'default');
    assert.equal(config.dataDir, 'default.etcd');
    assert.deepEqual(config.listenClientUrls, ['http://localhost:2379']);
    assert.equal(config.initialCluster, 'default=http://localhost:2380');
    assert.equal(config.maxRequestBytes, 1572864);
    assert.equal(config.maxTxnOps, 128);
  });

  test('--flag value, --flag=value, single dash', () => {
    const { config } = run(['--name', 'n1', '--data-dir=/d', '-max-txn-ops', '7', '-initial-cluster-state=existing']);
    assert.equal(config.name, 'n1');
    assert.equal(config.dataDir, '/d');
    assert.equal(config.maxTxnOps, 7);
    assert.equal(config.initialClusterState, 'existing');
    assert.equal(run(['--name', 'n2']).config.dataDir, 'n2.etcd', 'data dir follows the name');
  });

  test('booleans as --flag or --flag=true|false', () => {
    assert.equal(run(['--debug']).config.logLevel, 'debug');
    assert.equal(run(['--debug=false']).config.logLevel, 'info');
    assert.throws(() => run(['--debug', 'false']), /'false' is not a valid flag/);
  });

  test('unknown flags and bad values are refused', () => {
    assert.throws(() => parseCommand(['--no-such-flag'], {}), (e) => e instanceof FlagError && /flag provided but not defined: -no-such-flag/.test(e.message));
    assert.throws(() => parseCommand(['--max-txn-ops', 'x'], {}), FlagError);
    assert.throws(() => parseCommand(['--name'], {}), /flag needs an argument/);
    assert.throws(() => parseCommand(['--initial-cluster-state', 'maybe'], {}), FlagError);
    assert.throws(() => parseCommand(['--listen-client-urls', 'ftp://x:1'], {}), /scheme/);
  });

  test('etcd flags not implemented yet are accepted and named', () => {
    const cmd = run(['--max-wals', '1', '--strict-reconfig-check', '--enable-v2']);
    assert.deepEqual(cmd.notImplemented.sort(), ['enable-v2', 'max-wals', 'strict-reconfig-check']);
  });

  test('auto-compaction and compaction batch flags', () => {
    const d = run([]).config;
    assert.deepEqual([d.autoCompactionMode, d.autoCompactionRetention, d.compactionBatchLimit, d.compactionSleepIntervalMs], ['periodic', '0', 1000, 10]);
    const c = run(['--auto-compaction-mode', 'revision', '--auto-compaction-retention=100', '--experimental-compaction-batch-limit', '50', '--experimental-compaction-sleep-interval', '1ms']);
    assert.deepEqual(c.notImplemented, []);
    assert.deepEqual([c.config.autoCompactionMode, c.config.autoCompactionRetention, c.config.compactionBatchLimit, c.config.compactionSleepIntervalMs], ['revision', '100', 50, 1]);
    assert.equal(run([], { ETCD_AUTO_COMPACTION_RETENTION: '30m' }).config.autoCompactionRetention, '30m');
    assert.throws(() => parseCommand(['--auto-compaction-mode', 'hourly'], {}), /unknown auto-compaction-mode "hourly"/);
    assert.throws(() => parseCommand(['--auto-compaction-retention', '-1'], {}), /error parsing CompactionRetention: time: invalid duration "-1"/);
    assert.throws(() => parseCommand(['--auto-compaction-retention', '1x'], {}), /error parsing CompactionRetention/);
  });

  test('--pre-vote: on by default (as etcd 3.5), --pre-vote=false turns it off', () => {
    assert.equal(run([]).config.preVote, true);
    assert.equal(run(['--pre-vote']).config.preVote, true);
    assert.equal(run(['--pre-vote=false']).config.preVote, false);
    assert.equal(run([], { ETCD_PRE_VOTE: 'false' }).config.preVote, false);
  });

  test('ETCD_* environment variables; flags win', () => {
    const cmd = run(['--name', 'flag'], { ETCD_NAME: 'env', ETCD_DATA_DIR: '/from-env', ETCD_BOGUS: '1', ETCDCTL_API: '3', ETCD_TS_CODE_CACHE: 'off' });
    assert.equal(cmd.config.name, 'flag');
    assert.equal(cmd.config.dataDir, '/from-env');
    assert.ok(cmd.warnings.some((w) => w.includes('ETCD_BOGUS')));
    assert.ok(cmd.warnings.some((w) => w.includes('ETCD_NAME')));
    assert.ok(!cmd.warnings.some((w) => w.includes('ETCDCTL_API')));
    assert.ok(!cmd.warnings.some((w) => w.includes('ETCD_TS_')), 'etcd-ts\'s own switches are not flags');
  });

  test('--version and --help', () => {
    assert.equal(parseCommand(['--version'], {}).action, 'version');
    assert.equal(parseCommand(['-h'], {}).action, 'help');
  });
});

describe('member and cluster IDs', () => {
  test("match etcd's for the default single member", () => {
    const id = memberId(['http://localhost:2380'], 'etcd-cluster');
    assert.equal(idHex(id), '8e9e05c52164694d');
    assert.equal(idHex(clusterId([id])), 'cdf818194e3a8c32');
  });

  test('depend on sorted peer URLs and the token only', () => {
    const a = memberId(['http://b:2380', 'http://a:2380'], 't');
    assert.equal(a, memberId(['http://a:2380', 'http://b:2380'], 't'));
    assert.notEqual(a, memberId(['http://a:2380', 'http://b:2380'], 'u'));
    assert.equal(clusterId([1n, 2n]), clusterId([2n, 1n]));
  });
});
