// Acceptance (Leases issue, item 5): the npm etcd3 client's (v1.1.2) lease API against a real
// etcd-ts server process: grant, keys put with the lease, keepalive events, release and revoke,
// and the 'lost' event when the lease is revoked elsewhere or the server stops answering
// (SIGSTOP, SIGKILL) for longer than the TTL. TEST_AGAINST_ETCD=1 runs it against real etcd.
// (etcd3 1.1.2 has no lease.ttl(); time-to-live is read with client.leaseClient.leaseTimeToLive.)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3, EtcdLeaseInvalidError, type EtcdError, type ILeaseKeepAliveResponse, type Lease } from 'etcd3';
import { startServer, type ServerProcess } from './helpers/server-process';

let server: ServerProcess | undefined;
const clients: Etcd3[] = [];
const leases: Lease[] = [];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function newClient(): Etcd3 {
  assert.ok(server !== undefined, 'server started');
  const c = new Etcd3({
    hosts: 'http://' + server.endpoint,
    // Unary calls fail fast when the server stops answering; keep-alive streams live on.
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 5000 }),
  });
  clients.push(c);
  return c;
}

/** Records a lease's events, with the time each happened. */
function watchLease(lease: Lease): { fired: number[]; succeeded: { at: number; res: ILeaseKeepAliveResponse }[]; failed: number[]; lost: { at: number; err: EtcdError }[] } {
  leases.push(lease);
  const rec = { fired: [] as number[], succeeded: [] as { at: number; res: ILeaseKeepAliveResponse }[], failed: [] as number[], lost: [] as { at: number; err: EtcdError }[] };
  lease.on('keepaliveFired', () => rec.fired.push(Date.now()));
  lease.on('keepaliveSucceeded', (res) => rec.succeeded.push({ at: Date.now(), res }));
  lease.on('keepaliveFailed', () => rec.failed.push(Date.now()));
  lease.on('lost', (err) => rec.lost.push({ at: Date.now(), err }));
  return rec;
}

/** Polls cond every 50 ms; the time it first held, or undefined after timeoutMs. */
async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return Date.now();
    if (Date.now() > deadline) return undefined;
    await sleep(50);
  }
}

/** A key's value, read through a client; null when it does not exist. */
const valueOf = (c: Etcd3, key: string): Promise<string | null> => c.get(key).string();

describe('etcd3 client leases', () => {
  before(async () => {
    server = await startServer();
    // The server's lessor takes over (expires leases) once it leads; LeaseTimeToLive waits for that.
    const ttl = await newClient().leaseClient.leaseTimeToLive({ ID: '1' });
    assert.equal(ttl.TTL, '-1');
  });

  after(async () => {
    try {
      for (const l of leases) l.release();
      for (const c of clients) c.close();
    } finally {
      await server?.cleanup();
    }
  });

  test('lease(ttl): grant, keys put with the lease, LeaseTimeToLive and LeaseLeases', async () => {
    const c = newClient();
    const lease = c.lease(5, { autoKeepAlive: false });
    watchLease(lease);
    const id = await lease.grant();
    assert.match(id, /^[1-9][0-9]*$/);
    assert.equal(await lease.grant(), id, 'grant() again resolves to the same lease');
    await lease.put('le/grant/a').value('1');
    await lease.put('le/grant/b').value('2');
    const kv = (await c.get('le/grant/a').exec()).kvs[0];
    assert.equal(kv.lease, id, 'the key is attached to the lease');
    assert.equal(kv.value.toString(), '1');
    const t = await c.leaseClient.leaseTimeToLive({ ID: id, keys: true });
    assert.equal(t.ID, id);
    assert.equal(t.grantedTTL, '5');
    assert.ok(Number(t.TTL) >= 4 && Number(t.TTL) <= 5, `TTL ${t.TTL}`);
    assert.deepEqual(t.keys.map((k) => k.toString()).sort(), ['le/grant/a', 'le/grant/b']);
    const all = await c.leaseClient.leaseLeases();
    assert.ok(all.leases.some((l) => l.ID === id), 'LeaseLeases lists it');
    // A put without the lease detaches the key.
    await c.put('le/grant/b').value('3');
    const t2 = await c.leaseClient.leaseTimeToLive({ ID: id, keys: true });
    assert.deepEqual(t2.keys.map((k) => k.toString()), ['le/grant/a']);
    await lease.revoke();
    assert.equal(await valueOf(c, 'le/grant/a'), null);
    assert.equal(await valueOf(c, 'le/grant/b'), '3', 'the detached key stays');
  });

  test('keepalive: keepaliveFired / keepaliveSucceeded every TTL/3, the lease outlives its TTL; after release() it expires on schedule', async () => {
    const c = newClient();
    const lease = c.lease(2);
    const rec = watchLease(lease);
    const id = await lease.grant();
    await lease.put('le/ka/k').value('v');
    await sleep(4500); // more than two TTLs
    assert.ok(rec.fired.length >= 5, `keepaliveFired ${rec.fired.length} times in 4.5 s`);
    assert.ok(rec.succeeded.length >= 5, `keepaliveSucceeded ${rec.succeeded.length} times in 4.5 s`);
    for (const { res } of rec.succeeded) {
      assert.equal(res.ID, id);
      assert.equal(res.TTL, '2');
    }
    assert.equal(rec.lost.length, 0, 'not lost');
    assert.equal(await valueOf(c, 'le/ka/k'), 'v', 'the key outlives the TTL');
    const t = await c.leaseClient.leaseTimeToLive({ ID: id });
    assert.ok(Number(t.TTL) >= 1 && Number(t.TTL) <= 2, `TTL ${t.TTL}`);
    const once = await lease.keepaliveOnce();
    assert.equal(once.TTL, '2');

    // Release right after an answered keepalive: no more keepalives; the lease expires between
    // TTL after the last renewal was sent and TTL + a margin after the release.
    const answered = rec.succeeded.length;
    assert.ok((await waitFor(() => rec.succeeded.length > answered, 3000)) !== undefined, 'another keepalive answered');
    lease.release();
    const releasedAt = Date.now();
    const lastSent = rec.fired[rec.fired.length - 1];
    const firedAtRelease = rec.fired.length;
    assert.equal(await valueOf(c, 'le/ka/k'), 'v', 'the key is still there right after release()');
    const goneAt = await waitFor(async () => (await valueOf(c, 'le/ka/k')) === null, 2000 + 3000);
    assert.ok(goneAt !== undefined, 'the released lease expired within TTL + 3 s');
    assert.ok(goneAt >= lastSent + 2000, `expired ${goneAt - lastSent} ms after the last renewal was sent`);
    assert.equal(rec.fired.length, firedAtRelease, 'no keepalive after release()');
    assert.equal((await c.leaseClient.leaseTimeToLive({ ID: id })).TTL, '-1');
    assert.equal(rec.lost.length, 0, 'release() is not a loss');
    process.stdout.write(`# released lease gone ${goneAt - releasedAt} ms after release\n`);
  });

  test('revoke(): its keys go at once, the lease is gone, no lost event; a revoke by another client is a loss', async () => {
    const c = newClient();
    const lease = c.lease(10);
    const rec = watchLease(lease);
    const id = await lease.grant();
    await lease.put('le/rv/a').value('1');
    await lease.put('le/rv/b').value('2');
    await lease.revoke();
    assert.equal(await c.getAll().prefix('le/rv/').count(), 0, 'the keys are gone once revoke() resolves');
    assert.equal((await c.leaseClient.leaseTimeToLive({ ID: id })).TTL, '-1');
    assert.equal(lease.revoked(), true);
    await sleep(200);
    assert.equal(rec.lost.length, 0, 'revoke() is not a loss');

    // Revoked behind the holder's back: its next keepalive learns it (TTL 0) and it is lost.
    const other = newClient();
    const victim = c.lease(3);
    const vrec = watchLease(victim);
    const vid = await victim.grant();
    await victim.put('le/rv/victim').value('x');
    assert.ok((await waitFor(() => vrec.succeeded.length > 0, 3000)) !== undefined, 'a keepalive answered');
    await other.leaseClient.leaseRevoke({ ID: vid });
    const revokedAt = Date.now();
    assert.equal(await valueOf(other, 'le/rv/victim'), null);
    const lostAt = await waitFor(() => vrec.lost.length > 0, 3000);
    assert.ok(lostAt !== undefined, `lost within 3 s of the revoke (keepalives fired ${vrec.fired.length}, answered ${vrec.succeeded.length})`);
    assert.ok(vrec.lost[0].err instanceof EtcdLeaseInvalidError, `lost with ${vrec.lost[0].err.name}: ${vrec.lost[0].err.message}`);
    process.stdout.write(`# revoked lease lost ${lostAt - revokedAt} ms after the revoke\n`);
  });

  test('the server stops answering (SIGSTOP) for longer than the TTL: the lease is lost, and gone once the server resumes', async () => {
    assert.ok(server !== undefined);
    const proc = server.proc;
    const c = newClient();
    const lease = c.lease(2);
    const rec = watchLease(lease);
    const id = await lease.grant();
    await lease.put('le/stop/k').value('v');
    assert.ok((await waitFor(() => rec.succeeded.length >= 2, 3000)) !== undefined, 'keepalives answered');
    const lastOk = rec.succeeded[rec.succeeded.length - 1].at;
    proc.kill('SIGSTOP');
    const stoppedAt = Date.now();
    let lostAt: number | undefined;
    try {
      // The client gives up two TTLs after its last answered keepalive (a keepalive stream that
      // stays silent for a TTL is retried first).
      lostAt = await waitFor(() => rec.lost.length > 0, 4000 + 3000);
    } finally {
      proc.kill('SIGCONT');
    }
    assert.ok(lostAt !== undefined, `lost while the server is stopped (keepalives fired ${rec.fired.length}, failed ${rec.failed.length})`);
    assert.ok(lostAt >= stoppedAt + 2000, `lost ${lostAt - stoppedAt} ms after the stop: sooner than the TTL`);
    assert.ok(lostAt >= lastOk + 4000, `lost ${lostAt - lastOk} ms after the last answered keepalive`);
    assert.ok(rec.failed.length >= 1, 'keepaliveFailed before the loss');
    assert.ok(rec.lost[0].err instanceof EtcdLeaseInvalidError, `lost with ${rec.lost[0].err.name}: ${rec.lost[0].err.message}`);
    assert.equal(rec.succeeded.filter((s) => s.at > stoppedAt + 100).length, 0, 'no keepalive answered while stopped');
    // Resumed: the lease's time ran out while it was stopped (renewals queued meanwhile cannot
    // bring it back), so it is revoked with its key.
    const fresh = newClient();
    const goneAt = await waitFor(async () => (await valueOf(fresh, 'le/stop/k')) === null, 5000);
    assert.ok(goneAt !== undefined, 'the key is gone within 5 s of the resume');
    assert.equal((await fresh.leaseClient.leaseTimeToLive({ ID: id })).TTL, '-1');
    process.stdout.write(`# SIGSTOP: lost ${lostAt - stoppedAt} ms after the stop; key gone ${goneAt - lostAt} ms after the resume\n`);
  });

  test('the server is SIGKILLed: the lease is lost; after a restart the orphaned lease expires on schedule', async () => {
    assert.ok(server !== undefined);
    const c = newClient();
    const lease = c.lease(2);
    const rec = watchLease(lease);
    const id = await lease.grant();
    await lease.put('le/kill/k').value('v');
    assert.ok((await waitFor(() => rec.succeeded.length >= 2, 3000)) !== undefined, 'keepalives answered');
    await server.kill();
    const killedAt = Date.now();
    const lostAt = await waitFor(() => rec.lost.length > 0, 4000 + 3000);
    assert.ok(lostAt !== undefined, `lost while the server is down (keepalives fired ${rec.fired.length}, failed ${rec.failed.length})`);
    assert.ok(lostAt >= killedAt + 2000, `lost ${lostAt - killedAt} ms after the kill: sooner than the TTL`);
    assert.ok(rec.failed.length >= 1, 'keepaliveFailed before the loss');
    assert.ok(rec.lost[0].err instanceof EtcdLeaseInvalidError, `lost with ${rec.lost[0].err.name}: ${rec.lost[0].err.message}`);

    // Restarted: the lease was persisted; the server gives it its TTL afresh (plus an election
    // timeout) and, with nobody keeping it alive, then expires it.
    const restartCalledAt = Date.now();
    server = await server.restart();
    const restartedAt = Date.now();
    const fresh = newClient();
    assert.equal(await valueOf(fresh, 'le/kill/k'), 'v', 'the key is back after the restart');
    const t = await fresh.leaseClient.leaseTimeToLive({ ID: id, keys: true });
    assert.equal(t.grantedTTL, '2');
    assert.deepEqual(t.keys.map((k) => k.toString()), ['le/kill/k']);
    const goneAt = await waitFor(async () => (await valueOf(fresh, 'le/kill/k')) === null, 2000 + 1000 + 3000);
    assert.ok(goneAt !== undefined, 'the orphaned lease expires within TTL + election timeout + 3 s of the restart');
    assert.ok(goneAt >= restartCalledAt + 2000, `expired ${goneAt - restartCalledAt} ms after the restart began: sooner than the TTL`);
    assert.equal((await fresh.leaseClient.leaseTimeToLive({ ID: id })).TTL, '-1');
    process.stdout.write(`# SIGKILL: lost ${lostAt - killedAt} ms after the kill; orphan gone ${goneAt - restartedAt} ms after the restart\n`);
  });
});
