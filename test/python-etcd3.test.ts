// python-etcd3 (Debian's python3-etcd3 0.12) against etcd-ts and real etcd 3.4 (issue 13,
// acceptance 5). test/python/maintenance.py does what python-etcd3's own tests do
// (tests/test_etcd3.py: test_status_member, test_hash, test_snapshot and TestAlarms) and then the
// NOSPACE flow (fill past --quota-backend-bytes, compact, defragment, disarm). This test asserts
// the outcomes as python-etcd3's tests assert them — the snapshot file is written, non-empty and
// read by `etcdctl snapshot status`; create_alarm() answers one NOSPACE alarm for member 0,
// create_alarm(member_id) one for that member, list_alarms() both, disarm_alarm() leaves none;
// status().leader is a member; hash() is an int — and that etcd-ts and etcd print the same lines,
// sizes, versions, raft index/term and hashes aside. Skipped, with the reason printed, when
// python3-etcd3 is not importable (apt-get install python3-etcd3), or etcd/etcdctl are missing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { etcdctlMissing, etcdctlOk } from './helpers/etcdctl';
import { startServer, type ServerProcess } from './helpers/server-process';

const SCRIPT = resolve(__dirname, '../../test/python/maintenance.py');
const QUOTA_BYTES = 1_500_000;
const NO_SPACE = { code: 'RESOURCE_EXHAUSTED', details: 'etcdserver: mvcc: database space exceeded', type: '_InactiveRpcError' };

/** The first python that imports etcd3: `python3` on PATH, else Debian's (pyenv may shadow it). */
const PYTHON = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import etcd3']).status === 0);
const skip: string | false = PYTHON === undefined
  ? 'python3-etcd3 is not importable by python3 (apt-get install python3-etcd3)'
  : etcdctlMissing
    ? etcdctlMissing
    : spawnSync('etcd', ['--version']).status !== 0
      ? 'etcd is not installed (apt-get install etcd-server)'
      : false;
if (skip) process.stdout.write(`# skipping python-etcd3 tests: ${skip}\n`);

type Step = Record<string, unknown> & { step: string };

function runScript(endpoint: string, snapshotFile: string): Promise<Map<string, Step>> {
  return new Promise((res, rej) => {
    execFile(PYTHON ?? 'python3', [SCRIPT, endpoint, snapshotFile], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return rej(new Error(`${SCRIPT} ${endpoint} failed: ${String(err)}\nstdout: ${stdout}\nstderr: ${stderr}`));
      const steps = new Map<string, Step>();
      for (const line of stdout.split('\n').filter((l) => l !== '')) {
        const s = JSON.parse(line) as Step;
        steps.set(s.step, s);
      }
      res(steps);
    });
  });
}

function step(steps: Map<string, Step>, name: string): Step {
  const s = steps.get(name);
  assert.ok(s, `the script printed no ${name} step`);
  return s;
}

/** What python-etcd3's tests assert, and the NOSPACE flow as etcd documents it. */
function assertAsPythonEtcd3(steps: Map<string, Step>, who: string): void {
  const m = (name: string) => step(steps, name);
  assert.equal(m('members').count, 1, who);
  // test_status_member
  const st = m('status');
  assert.equal(st.leader_is_member, true, who);
  assert.equal(st.leader_in_members, true, who);
  assert.equal(st.leader_is_self, true, who);
  assert.ok((st.db_size as number) > 0, `${who}: db_size ${String(st.db_size)}`);
  assert.ok((st.raft_index as number) > 0 && (st.raft_term as number) > 0, `${who}: raft index/term`);
  assert.match(st.version as string, /^3\.\d+\.\d+$/, who);
  // test_hash
  assert.equal(m('hash').is_int, true, who);
  // test_snapshot: written and not empty (etcdctl snapshot status is run by the caller).
  assert.equal(m('snapshot').ok, true, `${who}: ${JSON.stringify(m('snapshot').error)}`);
  assert.ok((m('snapshot').size as number) > 0, who);
  // TestAlarms
  assert.deepEqual(m('create_alarm_all_members'), { step: 'create_alarm_all_members', ok: true, value: [['NOSPACE', 0]] }, who);
  assert.deepEqual(m('put_while_alarm_all_members').error, NO_SPACE, who);
  assert.deepEqual(m('create_alarm_specific_member').value, [['NOSPACE', 'self']], who);
  assert.deepEqual(m('list_alarms').value, [['NOSPACE', 'self'], ['NOSPACE', 0]], who);
  const d = m('disarm_alarm');
  assert.deepEqual([d.before, d.after], [[['NOSPACE', 0]], []], who);
  for (const c of ['after_cleanup_1', 'after_cleanup_2', 'after_cleanup_3']) assert.deepEqual(m(c).value, [], `${who}: ${c}`);
  assert.equal(m('put_after_disarm').ok, true, who);
  // NOSPACE: filled, refused with etcd's error, the member's alarm; reads, deletes, compaction
  // and defragment work; writes only come back after the disarm.
  const fill = m('fill');
  assert.ok((fill.written as number) > 10, `${who}: only ${String(fill.written)} values fit`);
  assert.deepEqual(fill.refused, NO_SPACE, who);
  assert.deepEqual(m('nospace_alarms').value, [['NOSPACE', 'self']], who);
  assert.deepEqual(m('nospace_put').error, NO_SPACE, who);
  assert.deepEqual(m('nospace_lease').error, NO_SPACE, who);
  assert.deepEqual(m('nospace_get').value, 'v1', who);
  // Every acknowledged put is deleted, and at most one more: a put that passed the check before
  // it was proposed but no longer fits when applied is applied and answered NOSPACE (etcd's
  // quotaApplierV3; seen on both servers, as the file grows between the two checks).
  const deleted = m('nospace_delete_prefix').value as number;
  const written = fill.written as number;
  assert.ok(deleted === written || deleted === written + 1, `${who}: deleted ${deleted}, written ${written}`);
  assert.equal(m('nospace_compact').ok, true, who);
  assert.equal(m('defragment').ok, true, `${who}: ${JSON.stringify(m('defragment').error)}`);
  assert.deepEqual(m('put_before_disarm').error, NO_SPACE, who);
  assert.deepEqual(m('disarm_nospace').value, [['NOSPACE', 'self']], who);
  assert.deepEqual(m('alarms_after_disarm').value, [], who);
  assert.equal(m('put_after_nospace').ok, true, who);
  assert.equal(m('get_after_nospace').value, 'v', who);
}

/** The lines with what legitimately differs between two servers taken out. */
function comparable(steps: Map<string, Step>): Step[] {
  const drop: Record<string, string[]> = {
    members: ['ids'],
    status: ['version', 'db_size', 'raft_index', 'raft_term'],
    hash: ['hash'],
    snapshot: ['size'],
    fill: ['written'],
    nospace_delete_prefix: ['value'],
  };
  return [...steps.values()].map((s) => Object.fromEntries(Object.entries(s).filter(([k]) => !(drop[s.step] ?? []).includes(k))) as Step);
}

describe('python-etcd3 snapshot, alarms, defragment and status: etcd-ts as etcd 3.4', { skip, timeout: 180_000 }, () => {
  let ours: ServerProcess | undefined;
  let etcd: ServerProcess | undefined;
  let work = '';
  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'etcd-ts-python-'));
    const args = ['--quota-backend-bytes', String(QUOTA_BYTES)];
    [ours, etcd] = await Promise.all([startServer({ args, impl: 'etcd-ts' }), startServer({ args, impl: 'etcd' })]);
  });
  after(async () => {
    await Promise.all([ours?.cleanup(), etcd?.cleanup()]);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('the same python-etcd3 calls give the same answers', async () => {
    const oursFile = join(work, 'etcd-ts.db');
    const etcdFile = join(work, 'etcd.db');
    // Our server's warnings go with a failure (a CI run once saw a physical Compact time out).
    const oursRun = runScript(ours!.endpoint, oursFile).catch((err: unknown) => Promise.reject(new Error(`${String(err)}\netcd-ts log:\n${ours?.stderr().slice(-8000) ?? ''}`)));
    const [a, b] = await Promise.all([oursRun, runScript(etcd!.endpoint, etcdFile)]);
    assertAsPythonEtcd3(b, 'etcd');
    assertAsPythonEtcd3(a, 'etcd-ts');
    assert.deepEqual(comparable(a), comparable(b));

    // test_snapshot: `etcdctl snapshot status` reads the file; the same state on both.
    const status = async (file: string) =>
      JSON.parse(await etcdctlOk('127.0.0.1:1', ['snapshot', 'status', file, '-w', 'json'])) as { hash: number; revision: number; totalKey: number; totalSize: number };
    const [sa, sb] = await Promise.all([status(oursFile), status(etcdFile)]);
    for (const [s, file] of [[sa, oursFile], [sb, etcdFile]] as const) {
      assert.ok(s.totalSize > 0 && statSync(file).size > 0, file);
      assert.equal(typeof s.hash, 'number', file);
    }
    assert.deepEqual({ revision: sa.revision, totalKey: sa.totalKey }, { revision: sb.revision, totalKey: sb.totalKey });
    assert.equal(sa.revision, 12); // 10 puts and a delete after revision 1
  });
});
