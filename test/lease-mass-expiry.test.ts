// Thousands of leases expiring at once: the leader revokes them in bounded batches (etcd's
// 1,000 revokes per second), every key goes, and writes keep going while it does.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type * as grpc from '@grpc/grpc-js';
import { startServer, type ServerProcess } from './helpers/server-process';
import { b, call, kvClient, serviceClient, type Msg } from './helpers/grpc-client';

const LEASES = 3000;
// Long enough that granting and attaching 3,000 leases finishes before the first expires, also on
// a loaded machine.
const TTL_SEC = 10;

let server: ServerProcess;
let kv: grpc.Client;
let lease: grpc.Client;

before(async () => {
  server = await startServer();
  kv = kvClient(server.endpoint);
  lease = serviceClient('Lease', server.endpoint);
});

after(async () => {
  kv?.close();
  lease?.close();
  await server?.cleanup();
});

test(`${LEASES} leases expiring together are all revoked while writes go on`, async () => {
  const ids: string[] = [];
  for (let i = 0; i < LEASES; i += 100) {
    const granted = await Promise.all(Array.from({ length: 100 }, () => call(lease, 'LeaseGrant', { TTL: TTL_SEC, ID: 0 })));
    ids.push(...granted.map((g: Msg) => String(g.ID)));
  }
  const grantedAt = Date.now();
  // One key per lease, 100 per txn.
  for (let i = 0; i < LEASES; i += 100) {
    const success = ids.slice(i, i + 100).map((id, j) => ({ request_put: { key: b(`m/${String(i + j).padStart(5, '0')}`), value: b('x'), lease: id } }));
    await call(kv, 'Txn', { compare: [], success, failure: [] });
  }
  const count = async (): Promise<number> => Number((await call(kv, 'Range', { key: b('m/'), range_end: b('m0'), count_only: true })).count);
  assert.equal(await count(), LEASES);

  // A writer runs through the whole expiry; record when each of its writes completed.
  let writing = true;
  const writesDone: number[] = [];
  const writer = (async () => {
    for (let n = 0; writing; n++) {
      await call(kv, 'Put', { key: b('w'), value: b(String(n)) });
      writesDone.push(Date.now());
    }
  })();
  let firstGone = 0;
  let allGone = 0;
  try {
    const deadline = grantedAt + (TTL_SEC + 15) * 1000;
    while (Date.now() < deadline) {
      const left = await count();
      if (left < LEASES && firstGone === 0) firstGone = Date.now();
      if (left === 0) {
        allGone = Date.now();
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    writing = false;
    await writer;
  }
  assert.ok(allGone > 0, `keys left after ${TTL_SEC + 15} s: ${await count()}`);
  const during = writesDone.filter((t) => t >= firstGone && t <= allGone).length;
  process.stdout.write(`# ${LEASES} leases revoked over ${allGone - firstGone} ms (first after ${firstGone - grantedAt} ms); ${during} writes completed meanwhile\n`);
  // Revocation is spread out (bounded batches), and the writer was never shut out by it.
  assert.ok(allGone - firstGone >= 1000, 'revokes are rate-limited, not all in one go');
  assert.ok(during > 0, 'writes completed while the leases were being revoked');
  const leases = await call(lease, 'LeaseLeases', {});
  assert.equal(leases.leases.length, 0);
  // Each revoke is its own revision: every key's DELETE is in history.
  const w = await call(kv, 'Range', { key: b('w') });
  assert.ok(Number(w.header.revision) >= 1 + LEASES / 100 + LEASES + writesDone.length);
});
