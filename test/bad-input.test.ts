// Bad input gets etcd's gRPC code and message, never a crash, and nothing already stored is lost.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, constants } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { startServer, type ServerProcess } from './helpers/server-process';
import { b, call, callError, kvClient } from './helpers/grpc-client';

const MAX_REQUEST_BYTES = 10_000;

describe('bad input', () => {
  let server: ServerProcess;
  let kv: grpc.Client;

  before(async () => {
    server = await startServer({ args: ['--max-request-bytes', String(MAX_REQUEST_BYTES), '--max-txn-ops', '4'] });
    kv = kvClient(server.endpoint);
    await call(kv, 'Put', { key: b('keep'), value: b('safe') });
  });

  after(async () => {
    kv?.close();
    await server?.cleanup();
  });

  const expectError = async (method: string, req: Record<string, unknown>, code: grpc.status, message: string): Promise<void> => {
    const err = await callError(kv, method, req);
    assert.equal(err.code, code, `${method}: ${err.details}`);
    assert.equal(err.details, message);
  };

  test('empty key', async () => {
    const msg = 'etcdserver: key is not provided';
    await expectError('Put', { key: b(''), value: b('v') }, grpc.status.INVALID_ARGUMENT, msg);
    await expectError('Range', { key: b('') }, grpc.status.INVALID_ARGUMENT, msg);
    await expectError('DeleteRange', { key: b('') }, grpc.status.INVALID_ARGUMENT, msg);
    await expectError('Txn', { success: [{ request_put: { key: b(''), value: b('v') } }] }, grpc.status.INVALID_ARGUMENT, msg);
    await expectError('Txn', { compare: [{ key: b(''), target: 0, version: 0 }] }, grpc.status.INVALID_ARGUMENT, msg);
  });

  test('request larger than --max-request-bytes', async () => {
    // Just over the limit: etcd's own check answers.
    await expectError('Put', { key: b('big'), value: Buffer.alloc(MAX_REQUEST_BYTES + 100) }, grpc.status.INVALID_ARGUMENT, 'etcdserver: request is too large');
    // Far over it (past gRPC's allowance of 512 KiB more): the transport refuses the frame.
    const err = await callError(kv, 'Put', { key: b('huge'), value: Buffer.alloc(MAX_REQUEST_BYTES + 600 * 1024) });
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
    // The limit is on the request, not on what it stores: a value just under it is fine.
    await call(kv, 'Put', { key: b('fits'), value: Buffer.alloc(MAX_REQUEST_BYTES - 200, 7) });
    const got = await call(kv, 'Range', { key: b('fits') });
    assert.equal(got.kvs[0].value.length, MAX_REQUEST_BYTES - 200);
  });

  test('more than --max-txn-ops operations', async () => {
    const ops = Array.from({ length: 5 }, (_, i) => ({ request_put: { key: b(`t${i}`), value: b('v') } }));
    const msg = 'etcdserver: too many operations in txn request';
    await expectError('Txn', { success: ops }, grpc.status.INVALID_ARGUMENT, msg);
    await expectError('Txn', { failure: ops }, grpc.status.INVALID_ARGUMENT, msg);
    await expectError('Txn', { compare: Array.from({ length: 5 }, () => ({ key: b('x'), target: 0, version: 0 })) }, grpc.status.INVALID_ARGUMENT, msg);
    // Exactly at the limit is allowed.
    const resp = await call(kv, 'Txn', { success: ops.slice(0, 4) });
    assert.equal(resp.succeeded, true);
  });

  test('duplicate key in one txn', async () => {
    const msg = 'etcdserver: duplicate key given in txn request';
    const put = (k: string) => ({ request_put: { key: b(k), value: b('v') } });
    await expectError('Txn', { success: [put('d'), put('d')] }, grpc.status.INVALID_ARGUMENT, msg);
    // A put inside a range deleted in the same branch.
    await expectError('Txn', { success: [{ request_delete_range: { key: b('a'), range_end: b('z') } }, put('d')] }, grpc.status.INVALID_ARGUMENT, msg);
    // A nested txn that puts a key the outer branch puts too.
    await expectError('Txn', { success: [put('n'), { request_txn: { success: [put('n')] } }] }, grpc.status.INVALID_ARGUMENT, msg);
    // The same key in a nested txn's then and else branches is fine: only one of them runs.
    const ok = await call(kv, 'Txn', { success: [{ request_txn: { success: [put('e')], failure: [put('e')] } }] });
    assert.equal(ok.succeeded, true);
    // Duplicates across the outer then/else branches are fine too.
    await call(kv, 'Txn', { success: [put('f')], failure: [put('f')] });
  });

  test('unknown lease on put', async () => {
    const msg = 'etcdserver: requested lease not found';
    await expectError('Put', { key: b('l'), value: b('v'), lease: '1234567' }, grpc.status.NOT_FOUND, msg);
    await expectError('Txn', { success: [{ request_put: { key: b('l'), value: b('v'), lease: '99' } }] }, grpc.status.NOT_FOUND, msg);
    const got = await call(kv, 'Range', { key: b('l') });
    assert.equal(got.kvs.length, 0, 'a refused put writes nothing');
  });

  test('ignore_value / ignore_lease misuse', async () => {
    await expectError('Put', { key: b('k'), value: b('v'), ignore_value: true }, grpc.status.INVALID_ARGUMENT, 'etcdserver: value is provided');
    await expectError('Put', { key: b('k'), lease: '5', ignore_lease: true }, grpc.status.INVALID_ARGUMENT, 'etcdserver: lease is provided');
    await expectError('Put', { key: b('missing'), ignore_value: true }, grpc.status.INVALID_ARGUMENT, 'etcdserver: key not found');
  });

  test('compacted and future revisions', async () => {
    const r1 = await call(kv, 'Put', { key: b('c'), value: b('1') });
    await call(kv, 'Put', { key: b('c'), value: b('2') });
    const rev = Number(r1.header.revision);
    await call(kv, 'Compact', { revision: rev });
    const compacted = 'etcdserver: mvcc: required revision has been compacted';
    const future = 'etcdserver: mvcc: required revision is a future revision';
    await expectError('Range', { key: b('c'), revision: rev - 1 }, grpc.status.OUT_OF_RANGE, compacted);
    await expectError('Compact', { revision: rev }, grpc.status.OUT_OF_RANGE, compacted);
    await expectError('Compact', { revision: rev - 1 }, grpc.status.OUT_OF_RANGE, compacted);
    // At the compacted revision itself the state is still readable.
    const at = await call(kv, 'Range', { key: b('c'), revision: rev });
    assert.equal(at.kvs[0].value.toString(), '1');
    const head = Number((await call(kv, 'Range', { key: b('c') })).header.revision);
    await expectError('Range', { key: b('c'), revision: head + 10 }, grpc.status.OUT_OF_RANGE, future);
    await expectError('Compact', { revision: head + 10 }, grpc.status.OUT_OF_RANGE, future);
    await expectError('Txn', { success: [{ request_range: { key: b('c'), revision: head + 10 } }] }, grpc.status.OUT_OF_RANGE, future);
  });

  test('malformed protobuf bytes straight over HTTP/2', async () => {
    const garbage = [
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), // truncated varint tag
      Buffer.from([0x0a, 0x64, 0x01]), // key claims 100 bytes, has 1
      Buffer.from([0x0f]), // wire type 7 does not exist
    ];
    for (const payload of garbage) {
      for (const path of ['/etcdserverpb.KV/Put', '/etcdserverpb.KV/Range', '/etcdserverpb.KV/Txn']) {
        const status = await rawGrpc(server.endpoint, path, payload);
        assert.notEqual(status, '0', `${path} accepted garbage`);
      }
    }
    // A frame whose length prefix promises more bytes than arrive, then the stream ends.
    const status = await rawGrpc(server.endpoint, '/etcdserverpb.KV/Put', Buffer.from([0x0a, 0x01, 0x61]), 1000);
    assert.notEqual(status, '0');
  });

  test('the server still serves and lost nothing', async () => {
    assert.equal(server.proc.exitCode, null, 'server process is alive');
    const got = await call(kv, 'Range', { key: b('keep') });
    assert.equal(got.kvs[0].value.toString(), 'safe');
    await call(kv, 'Put', { key: b('after'), value: b('ok') });
    assert.equal((await call(kv, 'Range', { key: b('after') })).kvs[0].value.toString(), 'ok');
  });
});

/** Sends one gRPC request with a raw payload; resolves with the grpc-status the server answers. */
function rawGrpc(endpoint: string, path: string, payload: Buffer, declaredLength = payload.length): Promise<string> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://${endpoint}`);
    session.on('error', reject);
    const req = session.request({
      [constants.HTTP2_HEADER_METHOD]: 'POST',
      [constants.HTTP2_HEADER_PATH]: path,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    let status = '';
    req.on('response', (headers) => {
      if (headers['grpc-status'] !== undefined) status = String(headers['grpc-status']);
    });
    req.on('trailers', (trailers) => {
      if (trailers['grpc-status'] !== undefined) status = String(trailers['grpc-status']);
    });
    req.on('data', () => undefined);
    req.on('close', () => {
      session.close();
      resolve(status);
    });
    req.on('error', () => undefined);
    const frame = Buffer.alloc(5);
    frame.writeUInt32BE(declaredLength, 1);
    req.end(Buffer.concat([frame, payload]));
  });
}
