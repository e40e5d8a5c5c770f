// The proto descriptor the build writes (src/pb/load.ts): the server loads it instead of parsing
// proto/ at start-up, so it must describe exactly what proto/ says, and a stale one must not be used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as protobuf from 'protobufjs';
import { DESCRIPTOR_FILE, PROTO_DIR, writeProtoDescriptor } from '../../src/pb/load';

const FILES = ['etcdtspb/internal.proto', 'v3lockpb/v3lock.proto', 'v3electionpb/v3election.proto', 'grpc/health/v1/health.proto'];

test('the descriptor describes proto/ exactly, and a stale one is not used', () => {
  writeProtoDescriptor();
  const stored = JSON.parse(readFileSync(DESCRIPTOR_FILE, 'utf8')) as { digest: string; root: protobuf.INamespace };
  const parsed = new protobuf.Root();
  parsed.resolvePath = (_origin, target) => `${PROTO_DIR}/${target}`;
  parsed.loadSync(FILES, { keepCase: true });
  parsed.resolveAll();
  const fromDescriptor = protobuf.Root.fromJSON(stored.root);
  fromDescriptor.resolveAll();
  assert.equal(JSON.stringify(fromDescriptor.toJSON()), JSON.stringify(parsed.toJSON()));
  // A message encoded with one decodes with the other.
  const put = { key: Buffer.from('k'), value: Buffer.from('v'), lease: 7, prev_kv: true };
  const bytes = parsed.lookupType('etcdserverpb.PutRequest').encode(put).finish();
  assert.deepEqual(fromDescriptor.lookupType('etcdserverpb.PutRequest').toObject(fromDescriptor.lookupType('etcdserverpb.PutRequest').decode(bytes), { longs: Number }), { key: Buffer.from('k'), value: Buffer.from('v'), lease: 7, prev_kv: true });

  // A descriptor of other sources (its digest differs) is ignored: the server parses proto/.
  const original = readFileSync(DESCRIPTOR_FILE, 'utf8');
  try {
    writeFileSync(DESCRIPTOR_FILE, JSON.stringify({ digest: 'other', root: { nested: {} } }));
    const load = require.resolve('../../src/pb/load');
    const r = spawnSync(process.execPath, ['-e', `const l = require(${JSON.stringify(load)}); const m = l.protoMethod('etcdserverpb.KV', 'Put'); process.stdout.write(m.requestType.fullName);`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '.etcdserverpb.PutRequest');
  } finally {
    writeFileSync(DESCRIPTOR_FILE, original);
  }
});
