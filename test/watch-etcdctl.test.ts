// Acceptance test: `etcdctl watch` (Debian's etcdctl 3.4, v3 API) against a real etcd-ts process.
//   single key, --prefix, --rev replaying history (put, delete, txn), --prev-kv, -w json, a watch
//   from a compacted revision, and interactive mode (-i) with watch / progress / cancel commands.
// Every expected output below was taken from real etcd 3.4.23 given the same commands
// (TEST_AGAINST_ETCD=1 checks that it still is). Only the IDs and raft term in -w json headers
// legitimately differ between servers; they are checked for shape instead.
//
// `etcdctl watch` runs until killed: each one is spawned, its output polled until the expected text
// has arrived (or something else has), and it is killed after each test, also when the test fails.
// Every scripted sequence ends with a write of a sentinel event, so output that should not be there
// shows up before the sentinel instead of going unnoticed.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { startServer, type ServerProcess } from './helpers/server-process';
import { ETCDCTL, etcdctl, etcdctlMissing, etcdctlOk as ok, show } from './helpers/etcdctl';

const skip = etcdctlMissing;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));


const put = async (ep: string, key: string, value: string): Promise<void> => assert.equal(await ok(ep, ['put', key, value]), 'OK\n');

/** etcdctl's simple output of one watch event: type, [prev key, prev value,] key, value. */
const PUT = (key: string, value: string, prev?: [string, string]): string => `PUT\n${prev ? `${prev[0]}\n${prev[1]}\n` : ''}${key}\n${value}\n`;
/** A delete event: the key with an empty value (after the previous pair with --prev-kv). */
const DELETE = (key: string, prevValue?: string): string => `DELETE\n${prevValue !== undefined ? `${key}\n${prevValue}\n` : ''}${key}\n\n`;

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** The store's current revision, from the header of a range response. */
async function currentRev(ep: string): Promise<number> {
  const m = /"revision":(\d+)/.exec(await ok(ep, ['get', 'any', '-w', 'json']));
  assert.ok(m, 'no revision in get -w json');
  return Number(m[1]);
}

// ---------------------------------------------------------------------------------------------
// Spawned `etcdctl watch` processes

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

class Watch {
  out = '';
  err = '';
  code: number | null = null;
  signal: NodeJS.Signals | null = null;
  done = false;
  readonly exited: Promise<void>;
  private readonly proc: ChildProcess;

  constructor(
    endpoint: string,
    readonly args: string[],
  ) {
    const env: NodeJS.ProcessEnv = { ...process.env, ETCDCTL_API: '3' };
    delete env.ETCDCTL_WATCH_KEY;
    delete env.ETCDCTL_WATCH_RANGE_END;
    this.proc = spawn(ETCDCTL, [`--endpoints=${endpoint}`, '--dial-timeout=5s', 'watch', ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(this.proc);
    this.proc.stdout?.on('data', (d: Buffer) => (this.out += d.toString()));
    this.proc.stderr?.on('data', (d: Buffer) => (this.err += d.toString()));
    this.proc.stdin?.on('error', () => {}); // writing after etcdctl died must not crash the test run
    this.exited = new Promise((res) =>
      this.proc.once('close', (code, signal) => {
        this.code = code;
        this.signal = signal;
        this.done = true;
        live.delete(this.proc);
        res();
      }),
    );
  }

  describe(): string {
    return `etcdctl watch ${this.args.join(' ')}${this.done ? ` (exited ${this.code ?? this.signal})` : ''}\nstdout: ${JSON.stringify(this.out)}\nstderr: ${JSON.stringify(this.err)}`;
  }

  /** Writes lines to stdin (interactive mode). */
  send(...lines: string[]): void {
    this.proc.stdin?.write(lines.map((l) => `${l}\n`).join(''));
  }

  closeStdin(): void {
    this.proc.stdin?.end();
  }

  /** Waits until `cond` holds; false after timeoutMs. */
  async until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > deadline) return false;
      await sleep(10);
    }
    return true;
  }

  /**
   * Waits until stdout is as long as `expected` (returns early as soon as it can no longer become
   * it, or the process exits), then checks it is exactly `expected`.
   */
  async expectOut(expected: string, timeoutMs = 5000): Promise<void> {
    await this.until(() => this.out.length >= expected.length || !expected.startsWith(this.out) || this.done, timeoutMs);
    assert.equal(this.out, expected, this.describe());
  }

  /** The same for stderr. */
  async expectErr(expected: string, timeoutMs = 5000): Promise<void> {
    await this.until(() => this.err.length >= expected.length || !expected.startsWith(this.err) || this.done, timeoutMs);
    assert.equal(this.err, expected, this.describe());
  }

  /** Waits for the process to exit by itself and returns its exit code. */
  async exitCode(timeoutMs = 5000): Promise<number | null> {
    assert.ok(await this.until(() => this.done, timeoutMs), `did not exit within ${timeoutMs} ms\n${this.describe()}`);
    return this.code;
  }

  async kill(): Promise<void> {
    if (!this.done) this.proc.kill('SIGKILL');
    await this.exited;
  }
}

const watches: Watch[] = [];
function watch(ep: string, args: string[]): Watch {
  const w = new Watch(ep, args);
  watches.push(w);
  return w;
}
async function killWatches(): Promise<void> {
  await Promise.all(watches.splice(0).map((w) => w.kill()));
}

/**
 * A watch without --rev starts at whatever the revision is when the server registers it, which the
 * test cannot see. So this puts `key` = sync0, sync1, ... until the watch reports one, and checks
 * that it then reports every later one, in order, and nothing else. Returns the output so far.
 */
async function syncWatch(ep: string, w: Watch, key: string): Promise<string> {
  for (let i = 0; i < 40; i++) {
    await put(ep, key, `sync${i}`);
    if (await w.until(() => w.out.length > 0 || w.done, 150)) {
      const m = new RegExp(`^PUT\\n${key}\\nsync(\\d+)\\n`).exec(w.out);
      assert.ok(m, `first output is not a sync put\n${w.describe()}`);
      let expected = '';
      for (let j = Number(m[1]); j <= i; j++) expected += PUT(key, `sync${j}`);
      await w.expectOut(expected);
      return expected;
    }
  }
  assert.fail(`the watch reported none of the sync puts\n${w.describe()}`);
}

/**
 * One line of etcdctl watch -w json: checks the header (cluster_id, member_id, revision, raft_term,
 * as real etcd; revision as given) and returns the rest of the line for exact comparison.
 */
function splitWatchHeader(line: string, revision: number): string {
  const m = /^\{"Header":(\{[^{}]*\}),(.*)$/.exec(line);
  assert.ok(m, `no leading Header in ${line}`);
  const header = m[1];
  assert.match(header, /^\{"cluster_id":\d+,"member_id":\d+,"revision":\d+,"raft_term":\d+\}$/, line);
  assert.equal(Number(/"revision":(\d+)/.exec(header)?.[1]), revision, `header revision in ${line}`);
  assert.doesNotMatch(header, /"(cluster_id|member_id|raft_term)":0[,}]/, line);
  return m[2];
}

// ---------------------------------------------------------------------------------------------

describe('etcdctl watch against etcd-ts', { skip }, () => {
  let server: ServerProcess | undefined;
  let ep = '';
  before(async () => {
    if (skip) return;
    server = await startServer();
    ep = server.endpoint;
  });
  afterEach(killWatches);
  after(async () => {
    await killWatches();
    await server?.cleanup();
  });

  test('watch a single key: puts, deletes, txn; other keys are not reported', async () => {
    const w = watch(ep, ['s/key']);
    let expected = await syncWatch(ep, w, 's/key');

    await put(ep, 's/key', 'v1');
    await put(ep, 's/other', 'x'); // not watched
    await put(ep, 's/keyx', 'x'); // the key is not a prefix
    await put(ep, 's/ke', 'x');
    expected += PUT('s/key', 'v1');
    await w.expectOut(expected);

    await put(ep, 's/key', 'v2');
    assert.equal(await ok(ep, ['del', 's/key']), '1\n');
    assert.equal(await ok(ep, ['del', 's/key']), '0\n'); // deletes nothing: no event
    assert.equal(await ok(ep, ['del', 's/other']), '1\n');
    expected += PUT('s/key', 'v2') + DELETE('s/key');
    await w.expectOut(expected);

    // a txn writing the key and other keys: only the key's event
    assert.equal(await ok(ep, ['txn'], '\nput s/a 1\nput s/key v3\nput s/z 2\n\n\n'), 'SUCCESS\n\nOK\n\nOK\n\nOK\n');
    await put(ep, 's/key', 'end');
    expected += PUT('s/key', 'v3') + PUT('s/key', 'end');
    await w.expectOut(expected);
    assert.equal(w.err, '');
    assert.equal(w.done, false, 'the watch keeps running');
  });

  test('watch --prefix: every key under the prefix, deletes of a range in key order', async () => {
    const w = watch(ep, ['p/', '--prefix']);
    let expected = await syncWatch(ep, w, 'p/0sync');

    await put(ep, 'p/a', '1');
    await put(ep, 'p', 'outside');
    await put(ep, 'q/a', 'outside');
    await put(ep, 'p/b/c', '2');
    await put(ep, 'p/a', '3');
    expected += PUT('p/a', '1') + PUT('p/b/c', '2') + PUT('p/a', '3');
    await w.expectOut(expected);

    // one delete of the whole prefix: one event per key, in key order
    assert.equal(await ok(ep, ['del', 'p/', '--prefix']), '3\n');
    expected += DELETE('p/0sync') + DELETE('p/a') + DELETE('p/b/c');
    await w.expectOut(expected);

    // a txn: its events together, in the order of its operations
    assert.equal(await ok(ep, ['txn'], '\nput p/y 1\nput q/b 2\nput p/x 3\ndel p\n\n\n'), 'SUCCESS\n\nOK\n\nOK\n\nOK\n\n1\n');
    await put(ep, 'p/end', 'end');
    expected += PUT('p/y', '1') + PUT('p/x', '3') + PUT('p/end', 'end');
    await w.expectOut(expected);
    assert.equal(w.err, '');
  });

  test('watch --rev replays history: puts, a delete, a txn with several puts, then live events', async () => {
    const r0 = await currentRev(ep);
    await put(ep, 'h/a', '1'); // r0+1
    await put(ep, 'x/unrelated', '1'); // r0+2
    assert.equal(await ok(ep, ['txn'], '\nput h/b 2\nput h/a 3\nput h/c 4\n\n\n'), 'SUCCESS\n\nOK\n\nOK\n\nOK\n'); // r0+3
    assert.equal(await ok(ep, ['del', 'h/b']), '1\n'); // r0+4
    await put(ep, 'h/c', '5'); // r0+5

    const history = PUT('h/a', '1') + PUT('h/b', '2') + PUT('h/a', '3') + PUT('h/c', '4') + DELETE('h/b') + PUT('h/c', '5');
    const all = watch(ep, ['h/', '--prefix', `--rev=${r0 + 1}`]);
    await all.expectOut(history);
    // from the txn's revision on; a single key from the start
    const fromTxn = watch(ep, ['h/', '--prefix', `--rev=${r0 + 3}`]);
    await fromTxn.expectOut(PUT('h/b', '2') + PUT('h/a', '3') + PUT('h/c', '4') + DELETE('h/b') + PUT('h/c', '5'));
    const oneKey = watch(ep, ['h/a', '--rev', String(r0)]);
    await oneKey.expectOut(PUT('h/a', '1') + PUT('h/a', '3'));

    // then live events follow the replay
    await put(ep, 'h/a', 'live'); // r0+6
    await all.expectOut(history + PUT('h/a', 'live'));
    await fromTxn.expectOut(PUT('h/b', '2') + PUT('h/a', '3') + PUT('h/c', '4') + DELETE('h/b') + PUT('h/c', '5') + PUT('h/a', 'live'));
    await oneKey.expectOut(PUT('h/a', '1') + PUT('h/a', '3') + PUT('h/a', 'live'));
    for (const w of [all, fromTxn, oneKey]) assert.equal(w.err, '', w.describe());

    // -w json: the whole replay in one response, the header at the store's revision
    const json = watch(ep, ['h/', '--prefix', `--rev=${r0 + 1}`, '-w', 'json']);
    await json.until(() => json.out.includes('\n') || json.done, 5000);
    const kv = (key: string, value: string, create: number, mod: number, version: number): string =>
      `{"key":"${b64(key)}","create_revision":${create},"mod_revision":${mod},"version":${version},"value":"${b64(value)}"}`;
    const line = json.out.split('\n')[0];
    assert.equal(
      splitWatchHeader(line, r0 + 6),
      `"Events":[{"kv":${kv('h/a', '1', r0 + 1, r0 + 1, 1)}},{"kv":${kv('h/b', '2', r0 + 3, r0 + 3, 1)}},{"kv":${kv('h/a', '3', r0 + 1, r0 + 3, 2)}},` +
        `{"kv":${kv('h/c', '4', r0 + 3, r0 + 3, 1)}},{"type":1,"kv":{"key":"${b64('h/b')}","mod_revision":${r0 + 4}}},{"kv":${kv('h/c', '5', r0 + 3, r0 + 5, 2)}},` +
        `{"kv":${kv('h/a', 'live', r0 + 1, r0 + 6, 3)}}],"CompactRevision":0,"Canceled":false,"Created":false}`,
    );
    assert.equal(json.out, `${line}\n`, json.describe());
  });

  test('watch --prev-kv: previous pairs on overwrite and delete, none on create', async () => {
    const r0 = await currentRev(ep);
    const w = watch(ep, ['v/', '--prefix', '--prev-kv', `--rev=${r0 + 1}`]);
    await put(ep, 'v/a', '1'); // created: no previous pair
    await put(ep, 'v/a', '2');
    let expected = PUT('v/a', '1') + PUT('v/a', '2', ['v/a', '1']);
    await w.expectOut(expected);

    assert.equal(await ok(ep, ['del', 'v/a']), '1\n');
    await put(ep, 'v/a', '3'); // created again after the delete: no previous pair
    expected += DELETE('v/a', '2') + PUT('v/a', '3');
    await w.expectOut(expected);

    await put(ep, 'v/b', '4');
    assert.equal(await ok(ep, ['txn'], '\nput v/b 5\nput v/c 6\n\n\n'), 'SUCCESS\n\nOK\n\nOK\n');
    assert.equal(await ok(ep, ['del', 'v/', '--prefix']), '3\n');
    await put(ep, 'v/end', 'end');
    expected += PUT('v/b', '4') + PUT('v/b', '5', ['v/b', '4']) + PUT('v/c', '6') + DELETE('v/a', '3') + DELETE('v/b', '5') + DELETE('v/c', '6') + PUT('v/end', 'end');
    await w.expectOut(expected);
    assert.equal(w.err, '');

    // the same previous pairs when replayed from history, for a single key
    const replay = watch(ep, ['v/a', '--prev-kv', '--rev', String(r0 + 1)]);
    await replay.expectOut(PUT('v/a', '1') + PUT('v/a', '2', ['v/a', '1']) + DELETE('v/a', '2') + PUT('v/a', '3') + DELETE('v/a', '3'));
  });

  test('watch -w json: one response per revision, txn events together', async () => {
    const r0 = await currentRev(ep);
    const w = watch(ep, ['j/', '--prefix', '-w', 'json', `--rev=${r0 + 1}`]);
    // Each write waits for the previous one's line: if etcdctl's watch reaches the server only
    // after some writes, real etcd sends those in one catch-up response.
    const lineCount = async (n: number): Promise<boolean> => w.until(() => w.out.split('\n').length > n || w.done, 5000);
    await put(ep, 'j/k', 'v'); // r0+1
    await lineCount(1);
    assert.equal(await ok(ep, ['txn'], '\nput j/a 1\nput j/b 2\n\n\n'), 'SUCCESS\n\nOK\n\nOK\n'); // r0+2
    await lineCount(2);
    assert.equal(await ok(ep, ['del', 'j/', '--prefix']), '3\n'); // r0+3
    await lineCount(3);
    const lines = w.out.split('\n');
    assert.equal(lines.length, 4, w.describe());
    assert.equal(lines[3], '', w.describe());
    const tail = ',"CompactRevision":0,"Canceled":false,"Created":false}';
    assert.equal(splitWatchHeader(lines[0], r0 + 1), `"Events":[{"kv":{"key":"${b64('j/k')}","create_revision":${r0 + 1},"mod_revision":${r0 + 1},"version":1,"value":"${b64('v')}"}}]${tail}`);
    assert.equal(
      splitWatchHeader(lines[1], r0 + 2),
      `"Events":[{"kv":{"key":"${b64('j/a')}","create_revision":${r0 + 2},"mod_revision":${r0 + 2},"version":1,"value":"${b64('1')}"}},` +
        `{"kv":{"key":"${b64('j/b')}","create_revision":${r0 + 2},"mod_revision":${r0 + 2},"version":1,"value":"${b64('2')}"}}]${tail}`,
    );
    assert.equal(
      splitWatchHeader(lines[2], r0 + 3),
      `"Events":[{"type":1,"kv":{"key":"${b64('j/a')}","mod_revision":${r0 + 3}}},{"type":1,"kv":{"key":"${b64('j/b')}","mod_revision":${r0 + 3}}},` +
        `{"type":1,"kv":{"key":"${b64('j/k')}","mod_revision":${r0 + 3}}}]${tail}`,
    );
    // the same cluster, member and term in every header
    const ids = (l: string): string => {
      const h = l.replace(/"revision":\d+,/, '');
      return h.slice(0, h.indexOf('}'));
    };
    assert.equal(ids(lines[1]), ids(lines[0]));
    assert.equal(ids(lines[2]), ids(lines[0]));
    assert.equal(w.err, '');
  });

  test('watch -i: watch, progress and cancel commands on stdin', async () => {
    const w = watch(ep, ['-i']);
    const r0 = await currentRev(ep);
    // progress: one "progress notify: <current revision>" per watch on the stream; since etcdctl
    // sends it after the watch's create request, it also shows that the watch is in place.
    w.send('watch i/k', 'progress');
    let expected = `progress notify: ${r0}\n`;
    await w.expectOut(expected);
    await put(ep, 'i/k', 'v1'); // r0+1
    expected += PUT('i/k', 'v1');
    await w.expectOut(expected);

    w.send('watch --prefix i/p/', 'progress');
    expected += `progress notify: ${r0 + 1}\n`.repeat(2);
    await w.expectOut(expected);
    await put(ep, 'i/p/a', '1'); // r0+2
    expected += PUT('i/p/a', '1');
    await w.expectOut(expected);
    await put(ep, 'i/k', 'v2'); // r0+3
    await put(ep, 'i/other', 'x'); // r0+4
    expected += PUT('i/k', 'v2');
    await w.expectOut(expected);

    // etcdctl 3.4 has no cancel command in interactive mode: it says so and the watches go on
    w.send('cancel');
    await w.expectErr('Invalid command cancel (only support watch)\n');
    w.send('cancel 1', '', 'watch');
    await w.expectErr(
      'Invalid command cancel (only support watch)\nInvalid command cancel 1 (only support watch)\n' +
        'Invalid command:  (watch and progress supported)\nInvalid command watch (command type or key is not provided)\n',
    );
    await put(ep, 'i/p/b', '2'); // r0+5
    expected += PUT('i/p/b', '2');
    await w.expectOut(expected);
    w.send('progress');
    expected += `progress notify: ${r0 + 5}\n`.repeat(2);
    await w.expectOut(expected);

    // a third watch, replaying a key's history with previous pairs
    w.send(`watch i/k --rev ${r0 + 1} --prev-kv`);
    expected += PUT('i/k', 'v1') + PUT('i/k', 'v2', ['i/k', 'v1']);
    await w.expectOut(expected);
    w.send('progress');
    expected += `progress notify: ${r0 + 5}\n`.repeat(3);
    await w.expectOut(expected);

    // end of input ends etcdctl
    w.closeStdin();
    assert.equal(await w.exitCode(), 3, w.describe());
    assert.equal(w.out, expected);
    assert.equal(
      w.err,
      'Invalid command cancel (only support watch)\nInvalid command cancel 1 (only support watch)\n' +
        'Invalid command:  (watch and progress supported)\nInvalid command watch (command type or key is not provided)\n' +
        'Error: Error reading watch request line: EOF\n',
    );
  });

  // Compaction applies to the whole store: these tests come last.
  describe('after a compaction', () => {
    let r0 = 0;
    const COMPACTED = 'watch was canceled (etcdserver: mvcc: required revision has been compacted)\n';

    test('fixture: three puts, compact at the second', async () => {
      r0 = await currentRev(ep);
      for (const v of ['a', 'b', 'c']) await put(ep, 'c/k', v); // r0+1 .. r0+3
      assert.equal(await ok(ep, ['compaction', String(r0 + 2)]), `compacted revision ${r0 + 2}\n`);
    });

    test('a watch from a compacted revision is canceled by the server; etcdctl exits 5', async () => {
      for (const args of [['c/k', `--rev=${r0 + 1}`], ['c/', '--prefix', '--rev=1'], ['c/k', '--prev-kv', `--rev=${r0}`]]) {
        const w = watch(ep, args);
        assert.equal(await w.exitCode(), 5, w.describe());
        assert.equal(w.out, '', w.describe());
        assert.equal(w.err, `${COMPACTED}Error: watch is canceled by the server\n`, w.describe());
      }
    });

    test('a watch from the compacted revision itself replays from there', async () => {
      const w = watch(ep, ['c/k', `--rev=${r0 + 2}`]);
      await w.expectOut(PUT('c/k', 'b') + PUT('c/k', 'c'));
      await put(ep, 'c/k', 'd');
      await w.expectOut(PUT('c/k', 'b') + PUT('c/k', 'c') + PUT('c/k', 'd'));
      assert.equal(w.err, '');
    });

    test('interactive: a compacted watch is reported, the others go on', async () => {
      const w = watch(ep, ['-i']);
      const rev = await currentRev(ep);
      w.send(`watch c/k --rev ${r0 + 1}`);
      await w.expectErr(COMPACTED);
      w.send('watch c/k', 'progress');
      await w.expectOut(`progress notify: ${rev}\n`);
      await put(ep, 'c/k', 'e');
      await w.expectOut(`progress notify: ${rev}\n${PUT('c/k', 'e')}`);
      assert.equal(w.done, false, w.describe());
      assert.equal(w.err, COMPACTED);
    });

    test('-w json: the canceled response carries the compact revision and a header without revision', async () => {
      const w = watch(ep, ['c/k', `--rev=${r0 + 1}`, '-w', 'json']);
      assert.equal(await w.exitCode(), 5, w.describe());
      assert.equal(w.err, `${COMPACTED}Error: watch is canceled by the server\n`, w.describe());
      const m = /^\{"Header":(\{[^{}]*\}),(.*)\n$/.exec(w.out);
      assert.ok(m, w.describe());
      // real etcd sends the compaction's cancel with a header of revision 0, which JSON leaves out
      assert.match(m[1], /^\{"cluster_id":[1-9]\d*,"member_id":[1-9]\d*,"raft_term":[1-9]\d*\}$/, w.describe());
      assert.equal(m[2], `"Events":[],"CompactRevision":${r0 + 2},"Canceled":true,"Created":false}`);
    });
  });
});
