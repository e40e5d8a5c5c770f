// The embedded API: start() a member in this process on port 0, use it, close() it, start again.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { start } from '../src/server/embed';
import { b, call, kvClient } from './helpers/grpc-client';

const dir = mkdtempSync(join(tmpdir(), 'etcd-ts-embed-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('embedded start()', () => {
  test('serves on the port it picked, closes, and keeps its data', async () => {
    const h = await start({ dataDir: dir, listenClientUrls: ['http://127.0.0.1:0'], logLevel: 'error' });
    const [endpoint] = h.endpoints;
    assert.match(endpoint, /^127\.0\.0\.1:[1-9]\d*$/);
    const kv = kvClient(endpoint);
    try {
      const put = await call(kv, 'Put', { key: b('e'), value: b('1') });
      assert.equal(Number(put.header.revision), 2);
    } finally {
      kv.close();
      await h.close();
    }
    await h.close(); // closing twice is harmless

    const again = await start({ dataDir: dir, listenClientUrls: ['http://127.0.0.1:0'], logLevel: 'error' });
    const kv2 = kvClient(again.endpoints[0]);
    try {
      const got = await call(kv2, 'Range', { key: b('e') });
      assert.equal(got.kvs[0].value.toString(), '1');
      assert.equal(Number(got.header.revision), 2);
    } finally {
      kv2.close();
      await again.close();
    }
  });

  test('a listen URL it cannot bind is an error, not a hang', async () => {
    await assert.rejects(start({ dataDir: join(dir, 'bad'), listenClientUrls: ['http://203.0.113.1:1'], logLevel: 'error' }));
  });
});
