// The Lock and Election services (issue 15, acceptance 4), against etcd-ts (TEST_AGAINST_ETCD=1:
// against real etcd 3.4, which serves both over gRPC too): mutual exclusion, hand-over on Unlock, a lock
// of a dead client's lease released at its TTL, campaigns, Proclaim, Leader, Observe, Resign, and
// etcd's errors. Plus one `etcdctl lock` run (client-side concurrency package) against etcd-ts.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { startServer, type ServerProcess } from './helpers/server-process';
import { call, kvClient, serviceClient, type Msg } from './helpers/grpc-client';
import { ETCDCTL } from './helpers/etcdctl';
import { enableWithRoot, login, READWRITE, tcall, tcallError } from './helpers/auth-client';

const PROTO_DIR = resolve(__dirname, '../../proto');
const def = protoLoader.loadSync(['v3lockpb/v3lock.proto', 'v3electionpb/v3election.proto'], { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: Number, defaults: true, oneofs: true });
const pkg = grpc.loadPackageDefinition(def) as unknown as { v3lockpb: Record<string, grpc.ServiceClientConstructor>; v3electionpb: Record<string, grpc.ServiceClientConstructor> };
const lockClient = (ep: string): grpc.Client => new pkg.v3lockpb.Lock(ep, grpc.credentials.createInsecure());
const electionClient = (ep: string): grpc.Client => new pkg.v3electionpb.Election(ep, grpc.credentials.createInsecure());

const b = (s: string): Buffer => Buffer.from(s);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const etcdMissing = spawnSync('etcd', ['--version']).status === 0 ? false : 'etcd is not on PATH';

async function errorOf(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (e) {
    return e as grpc.ServiceError;
  }
  throw new Error('call succeeded but an error was expected');
}

/** The suite, run here against etcd-ts and by lock-election-etcd.test.ts against etcd 3.4. */
function lockElectionSuite(impl: 'etcd-ts' | 'etcd'): void {
  describe(`lock and election services (${impl})`, { skip: impl === 'etcd' ? etcdMissing : false }, () => {
    let server: ServerProcess;
    let ep: string;
    let clients: grpc.Client[] = [];
    const track = <C extends grpc.Client>(c: C): C => (clients.push(c), c);
    const grant = async (ttl: number): Promise<string> => {
      const lease = track(serviceClient('Lease', ep));
      return String((await call(lease, 'LeaseGrant', { TTL: ttl, ID: 0 })).ID);
    };
    before(async () => {
      server = await startServer({ impl });
      ep = server.endpoint;
    });
    after(async () => {
      for (const c of clients) c.close();
      clients = [];
      await server?.cleanup();
    });

    it('two clients contending on Lock never overlap, and each Unlock hands over', async () => {
      const kv = track(kvClient(ep));
      const overlaps: string[] = [];
      const worker = async (me: string): Promise<number> => {
        const lc = track(lockClient(ep));
        const lease = await grant(30);
        let rounds = 0;
        for (let i = 0; i < 5; i++) {
          const held = await call(lc, 'Lock', { name: b('mx'), lease }, 20_000);
          assert.ok(Buffer.from(held.key).toString().startsWith('mx/'), 'the key is under the name');
          const before = await call(kv, 'Range', { key: b('mx-holder') });
          if (before.kvs.length > 0) overlaps.push(`${me} found ${before.kvs[0].value.toString()}`);
          await call(kv, 'Put', { key: b('mx-holder'), value: b(me) });
          await sleep(30);
          const after = await call(kv, 'Range', { key: b('mx-holder') });
          if (after.kvs[0]?.value.toString() !== me) overlaps.push(`${me} lost the holder key`);
          await call(kv, 'DeleteRange', { key: b('mx-holder') });
          await call(lc, 'Unlock', { key: held.key });
          rounds++;
        }
        return rounds;
      };
      const rounds = await Promise.all([worker('a'), worker('b')]);
      assert.deepEqual(overlaps, []);
      assert.deepEqual(rounds, [5, 5]);
    });

    it('the lock key is <name>/<lease hex>, and Unlock hands the lock to the waiter', async () => {
      const lc = track(lockClient(ep));
      const [la, lb] = [await grant(30), await grant(30)];
      const a = await call(lc, 'Lock', { name: b('handover'), lease: la });
      assert.equal(Buffer.from(a.key).toString(), `handover/${BigInt(la).toString(16)}`);
      assert.ok(Number(a.header.revision) > 0);
      let bDone = false;
      const bLock = call(lc, 'Lock', { name: b('handover'), lease: lb }).then((r) => ((bDone = true), r));
      await sleep(500);
      assert.equal(bDone, false, 'the second locker waits');
      const t0 = Date.now();
      await call(lc, 'Unlock', { key: a.key });
      const got = await bLock;
      assert.equal(Buffer.from(got.key).toString(), `handover/${BigInt(lb).toString(16)}`);
      assert.ok(Date.now() - t0 < 1000, 'handed over promptly');
      await call(lc, 'Unlock', { key: got.key });
    });

    it('a lock held by a dead client\'s lease is released within its TTL and the waiter gets it', async () => {
      const lc = track(lockClient(ep));
      const ttlS = 2;
      const t0 = Date.now();
      const dead = await grant(ttlS);
      await call(lc, 'Lock', { name: b('dead'), lease: dead });
      const live = await grant(30);
      const got = await call(lc, 'Lock', { name: b('dead'), lease: live }, 20_000);
      const elapsedMs = Date.now() - t0;
      assert.equal(Buffer.from(got.key).toString(), `dead/${BigInt(live).toString(16)}`);
      assert.ok(elapsedMs <= (ttlS + 1) * 1000, `released after ${elapsedMs} ms`);
      assert.ok(elapsedMs >= ttlS * 1000 - 200, `not before the TTL (${elapsedMs} ms)`);
    });

    it('a cancelled Lock gives its key up; Lock on a missing lease fails as etcd', async () => {
      const lc = track(lockClient(ep));
      const kv = track(kvClient(ep));
      const [la, lb] = [await grant(30), await grant(30)];
      const a = await call(lc, 'Lock', { name: b('cancel'), lease: la });
      const err = await errorOf(call(lc, 'Lock', { name: b('cancel'), lease: lb }, 500));
      assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED);
      await sleep(300);
      const keys = await call(kv, 'Range', { key: b('cancel/'), range_end: b('cancel0') });
      assert.deepEqual(keys.kvs.map((k: Msg) => Buffer.from(k.key).toString()), [Buffer.from(a.key).toString()]);
      const missing = await errorOf(call(lc, 'Lock', { name: b('nolease'), lease: '12345' }));
      // Unknown, not NotFound: etcd's server calls itself through clientv3, which makes etcd's
      // errors plain Go errors.
      assert.deepEqual({ code: missing.code, details: missing.details }, { code: grpc.status.UNKNOWN, details: 'etcdserver: requested lease not found' });
      const empty = await errorOf(call(lc, 'Unlock', { key: Buffer.alloc(0) }));
      assert.deepEqual({ code: empty.code, details: empty.details }, { code: grpc.status.UNKNOWN, details: 'etcdserver: key is not provided' });
    });

    it('two campaigners: one leader, Leader and Proclaim, Observe sees the hand-over on Resign', async () => {
      const ec = track(electionClient(ep));
      const [la, lb] = [await grant(30), await grant(30)];
      const noLeader = await errorOf(call(ec, 'Leader', { name: b('el') }));
      assert.equal(noLeader.code, grpc.status.UNKNOWN);
      assert.equal(noLeader.details, 'election: no leader');

      const a = await call(ec, 'Campaign', { name: b('el'), lease: la, value: b('a') });
      assert.equal(Buffer.from(a.leader.key).toString(), `el/${BigInt(la).toString(16)}`);
      assert.equal(String(a.leader.lease), la);
      assert.equal(Buffer.from(a.leader.name).toString(), 'el');
      assert.equal(String(a.leader.rev), String(a.header.revision));
      let bLeads = false;
      const bCampaign = call(ec, 'Campaign', { name: b('el'), lease: lb, value: b('b') }, 20_000).then((r) => ((bLeads = true), r));

      const seen: string[] = [];
      const obs = ec.makeServerStreamRequest('/v3electionpb.Election/Observe', (x: Msg) => pkg.v3electionpb.Election.service.Observe.requestSerialize(x), (buf: Buffer) => pkg.v3electionpb.Election.service.Observe.responseDeserialize(buf), { name: b('el') }) as grpc.ClientReadableStream<Msg>;
      obs.on('data', (r: Msg) => seen.push(Buffer.from(r.kv.value).toString()));
      obs.on('error', () => undefined);
      await sleep(300);
      assert.equal(bLeads, false, 'the second campaigner waits');
      assert.equal(Buffer.from((await call(ec, 'Leader', { name: b('el') })).kv.value).toString(), 'a');

      const p = await call(ec, 'Proclaim', { leader: a.leader, value: b('a2') });
      assert.ok(Number(p.header.revision) > Number(a.header.revision));
      assert.equal(Buffer.from((await call(ec, 'Leader', { name: b('el') })).kv.value).toString(), 'a2');

      await call(ec, 'Resign', { leader: a.leader });
      const bWon = await bCampaign;
      assert.equal(Buffer.from(bWon.leader.key).toString(), `el/${BigInt(lb).toString(16)}`);
      const deadline = Date.now() + 5000;
      while (!seen.includes('b') && Date.now() < deadline) await sleep(50);
      obs.cancel();
      assert.deepEqual(seen, ['a', 'a2', 'b']);

      const stale = await errorOf(call(ec, 'Proclaim', { leader: a.leader, value: b('x') }));
      assert.equal(stale.code, grpc.status.UNKNOWN);
      assert.equal(stale.details, 'election: not leader');
      const noLeaderKey = await errorOf(call(ec, 'Resign', {}));
      assert.equal(noLeaderKey.details, '"leader" field must be provided');
      // Resigning a leadership that is gone is no error.
      await call(ec, 'Resign', { leader: a.leader });
      await call(ec, 'Resign', { leader: bWon.leader });
    });

    it('two processes contend on Lock: the critical sections never overlap', async () => {
      // Each child takes the lock 5 times and appends "<who> in" / "<who> out" to one log key
      // with a txn on its mod revision, so any overlap shows as two "in" in a row.
      const script = `
        const grpc = require('@grpc/grpc-js'); const pl = require('@grpc/proto-loader');
        const [ep, who, dir] = process.argv.slice(1);
        const def = pl.loadSync(['v3lockpb/v3lock.proto', 'etcdserverpb/rpc.proto'], { includeDirs: [dir], keepCase: true, longs: String, defaults: true, oneofs: true });
        const pkg = grpc.loadPackageDefinition(def);
        const cred = grpc.credentials.createInsecure();
        const lock = new pkg.v3lockpb.Lock(ep, cred), kv = new pkg.etcdserverpb.KV(ep, cred), lease = new pkg.etcdserverpb.Lease(ep, cred);
        const u = (c, m, r) => new Promise((res, rej) => c[m](r, { deadline: Date.now() + 30000 }, (e, v) => (e ? rej(e) : res(v))));
        const append = async (line) => {
          for (;;) {
            const cur = await u(kv, 'Range', { key: Buffer.from('log') });
            const old = cur.kvs[0];
            const cmp = { key: Buffer.from('log'), target: 2, result: 0, mod_revision: old ? old.mod_revision : 0 };
            const put = { request_put: { key: Buffer.from('log'), value: Buffer.concat([old ? old.value : Buffer.alloc(0), Buffer.from(line + '\\n')]) } };
            if ((await u(kv, 'Txn', { compare: [cmp], success: [put] })).succeeded) return;
          }
        };
        (async () => {
          const { ID } = await u(lease, 'LeaseGrant', { TTL: 30 });
          for (let i = 0; i < 5; i++) {
            const held = await u(lock, 'Lock', { name: Buffer.from('procs'), lease: ID });
            await append(who + ' in');
            await new Promise((r) => setTimeout(r, 20));
            await append(who + ' out');
            await u(lock, 'Unlock', { key: held.key });
          }
          process.exit(0);
        })().catch((e) => { console.error(e); process.exit(1); });`;
      const run = (who: string): Promise<number | null> =>
        new Promise((res) => {
          const child = spawn(process.execPath, ['-e', script, ep, who, PROTO_DIR], { cwd: resolve(__dirname, '../..'), stdio: ['ignore', 'ignore', 'inherit'] });
          child.on('exit', (code) => res(code));
        });
      assert.deepEqual(await Promise.all([run('p1'), run('p2')]), [0, 0]);
      const log = Buffer.from((await call(track(kvClient(ep)), 'Range', { key: b('log') })).kvs[0].value).toString().trim().split('\n');
      assert.equal(log.length, 20);
      for (let i = 0; i < log.length; i += 2) {
        const who = log[i].split(' ')[0];
        assert.deepEqual([log[i], log[i + 1]], [`${who} in`, `${who} out`], `overlap at line ${i}: ${log.join(', ')}`);
      }
    });

    it('a waiter whose own lease expires: etcd-ts fails it at once, etcd 3.4 keeps waiting', async () => {
      // etcd 3.5's Mutex.Lock ends such a wait with "mutex: session is expired" once the keys
      // ahead are gone; etcd-ts says so as soon as the waiter's key goes. etcd 3.4's Mutex.Lock
      // did not look at its own key after the wait: it answers "locked" with a key that is gone.
      const lc = track(lockClient(ep));
      const holder = await grant(30);
      const held = await call(lc, 'Lock', { name: b('expiring'), lease: holder });
      const t0 = Date.now();
      const waiter = call(lc, 'Lock', { name: b('expiring'), lease: await grant(2) }, 20_000).then(
        () => 'locked',
        (e: grpc.ServiceError) => `${e.code} ${e.details}`,
      );
      const early = await Promise.race([waiter, sleep(3500).then(() => 'still waiting')]);
      if (impl === 'etcd-ts') {
        assert.equal(early, `${grpc.status.UNKNOWN} mutex: session is expired`);
        assert.ok(Date.now() - t0 < 3500);
      } else assert.equal(early, 'still waiting');
      await call(lc, 'Unlock', { key: held.key });
      assert.equal(await waiter, impl === 'etcd-ts' ? `${grpc.status.UNKNOWN} mutex: session is expired` : 'locked');
    });

    it('a campaigner whose lease expires while it waits: etcd-ts fails it "election: not leader"', async () => {
      const ec = track(electionClient(ep));
      const first = await call(ec, 'Campaign', { name: b('exp'), lease: await grant(30), value: b('1') });
      const t0 = Date.now();
      const waiter = call(ec, 'Campaign', { name: b('exp'), lease: await grant(2), value: b('2') }, 20_000).then(
        () => 'leader',
        (e: grpc.ServiceError) => `${e.code} ${e.details}`,
      );
      const early = await Promise.race([waiter, sleep(3500).then(() => 'still waiting')]);
      await call(ec, 'Resign', { leader: first.leader });
      if (impl === 'etcd-ts') {
        assert.equal(early, `${grpc.status.UNKNOWN} election: not leader`);
        assert.ok(Date.now() - t0 < 4000);
      } else {
        // etcd keeps waiting, then reports a leadership whose key is gone.
        assert.equal(early, 'still waiting');
        assert.equal(await waiter, 'leader');
      }
    });

    it('Observe with no leader yet waits for the first campaign; a cancelled Campaign resigns', async () => {
      const ec = track(electionClient(ep));
      const seen: string[] = [];
      const obs = ec.makeServerStreamRequest('/v3electionpb.Election/Observe', (x: Msg) => pkg.v3electionpb.Election.service.Observe.requestSerialize(x), (buf: Buffer) => pkg.v3electionpb.Election.service.Observe.responseDeserialize(buf), { name: b('later') }) as grpc.ClientReadableStream<Msg>;
      obs.on('data', (r: Msg) => seen.push(`${Buffer.from(r.kv.value).toString()}@${r.header.revision}/${r.kv.mod_revision}`));
      obs.on('error', () => undefined);
      await sleep(300);
      assert.deepEqual(seen, []);
      const first = await call(ec, 'Campaign', { name: b('later'), lease: await grant(30), value: b('x') });
      const err = await errorOf(call(ec, 'Campaign', { name: b('later'), lease: await grant(30), value: b('y') }, 500));
      assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED);
      const deadline = Date.now() + 3000;
      while (seen.length === 0 && Date.now() < deadline) await sleep(50);
      obs.cancel();
      assert.deepEqual(seen, [`x@${first.header.revision}/${first.header.revision}`]);
      await sleep(300);
      const keys = await call(track(kvClient(ep)), 'Range', { key: b('later/'), range_end: b('later0') });
      assert.deepEqual(keys.kvs.map((k: Msg) => Buffer.from(k.key).toString()), [Buffer.from(first.leader.key).toString()]);
    });

    it('etcdctl lock (client-side concurrency) excludes a Lock-service holder of the same name', { skip: spawnSync(ETCDCTL, ['version']).status === 0 ? false : 'no etcdctl' }, async () => {
      const lc = track(lockClient(ep));
      const la = await grant(30);
      const held = await call(lc, 'Lock', { name: b('ctl'), lease: la });
      // etcdctl lock prints the key it holds and runs the command while holding it.
      const child = spawn(ETCDCTL, ['--endpoints', ep, 'lock', 'ctl', 'echo', 'got-it'], { env: { ...process.env, ETCDCTL_API: '3' } });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      await sleep(800);
      assert.equal(out, '', 'etcdctl waits while the service holds the lock');
      await call(lc, 'Unlock', { key: held.key });
      const code = await Promise.race([exited, sleep(10_000).then(() => 'timeout')]);
      if (code === 'timeout') child.kill('SIGKILL');
      assert.equal(code, 0);
      assert.match(out, /got-it/);
    });

    // Last: it leaves auth enabled.
    it('Lock and Campaign run as their caller: permission denied outside its keys', async () => {
      const auth = track(serviceClient('Auth', ep));
      const root = await enableWithRoot(auth);
      await tcall(auth, 'RoleAdd', { name: 'lk' }, root);
      await tcall(auth, 'RoleGrantPermission', { name: 'lk', perm: { permType: READWRITE, key: b('allowed/'), range_end: b('allowed0') } }, root);
      await tcall(auth, 'UserAdd', { name: 'u', password: 'upw' }, root);
      await tcall(auth, 'UserGrantRole', { user: 'u', role: 'lk' }, root);
      const u = await login(auth, 'u', 'upw');
      const lease = String((await tcall(track(serviceClient('Lease', ep)), 'LeaseGrant', { TTL: 30, ID: 0 }, root)).ID);
      const lc = track(lockClient(ep));
      const ec = track(electionClient(ep));
      assert.equal(await tcallError(lc, 'Lock', { name: b('denied'), lease }, u), 'UNKNOWN etcdserver: permission denied');
      assert.equal(await tcallError(ec, 'Campaign', { name: b('denied'), lease, value: b('v') }, u), 'UNKNOWN etcdserver: permission denied');
      assert.equal(await tcallError(ec, 'Leader', { name: b('denied') }, u), 'UNKNOWN etcdserver: permission denied');
      assert.equal(await tcallError(lc, 'Lock', { name: b('allowed'), lease }), 'UNKNOWN etcdserver: user name is empty');
      const held = await tcall(lc, 'Lock', { name: b('allowed'), lease }, u);
      assert.equal(Buffer.from(held.key).toString(), `allowed/${BigInt(lease).toString(16)}`);
      await tcall(lc, 'Unlock', { key: held.key }, u);
    });
  });
}

lockElectionSuite(process.env.TEST_AGAINST_ETCD === '1' ? 'etcd' : 'etcd-ts');
