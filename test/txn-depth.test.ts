// Deeply nested txns: one that is accepted must also fit its Raft entry and its response (both
// a level deeper), so a member never applies a write whose reply it cannot encode or whose entry
// its peers cannot decode. Up to 1,000 levels work; deeper is refused before anything is written.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type * as grpc from '@grpc/grpc-js';
// The server's codec limits, for this client too: its default (100 levels) is below the server's.
import '../src/pb/load';
import { startServer, type ServerProcess } from './helpers/server-process';
import { b, call, callError, kvClient, type Msg } from './helpers/grpc-client';

let server: ServerProcess;
let kv: grpc.Client;

before(async () => {
  // etcd counts nested ops against --max-txn-ops (each level gets its parent's budget minus the
  // parent's op count: 128 one-op levels by default); a larger budget lets the depth limit show.
  server = await startServer({ args: ['--max-txn-ops', '2000'] });
  kv = kvClient(server.endpoint);
});

after(async () => {
  kv?.close();
  await server?.cleanup();
});

function nested(depth: number, value: string): Msg {
  let t: Msg = { compare: [], success: [{ request_put: { key: b('deep'), value: b(value) } }], failure: [] };
  for (let i = 1; i < depth; i++) t = { compare: [], success: [{ request_txn: t }], failure: [] };
  return t;
}

test('txns nested 50 and 1,000 levels apply and answer; 1,001 levels are refused and write nothing', async () => {
  for (const depth of [50, 1000]) {
    const r = await call(kv, 'Txn', nested(depth, `v${depth}`));
    assert.equal(r.succeeded, true);
    const got = await call(kv, 'Range', { key: b('deep') });
    assert.equal(got.kvs[0].value.toString(), `v${depth}`);
  }
  const before = Number((await call(kv, 'Range', { key: b('deep') })).header.revision);
  const err = await callError(kv, 'Txn', nested(1001, 'no'));
  assert.equal(err.details, 'etcdserver: too many operations in txn request');
  const after = await call(kv, 'Range', { key: b('deep') });
  assert.deepEqual([Number(after.header.revision), after.kvs[0].value.toString()], [before, 'v1000']);
});
