// The hand-written codecs agree with the generic protobuf codec on the same messages.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as protoLoader from '@grpc/proto-loader';
import * as grpc from '@grpc/grpc-js';
import { PROTO_DIR } from '../../src/pb/load';
import { decodePutRequest, decodeRangeRequest, encodeEvent, encodePutResponse, encodeRangeResponse, encodeWatchResponse } from '../../src/pb/fast-codec';

const def = protoLoader.loadSync(['etcdserverpb/rpc.proto'], { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: Number, defaults: true, oneofs: true });
const pkg = (grpc.loadPackageDefinition(def) as unknown as { etcdserverpb: { KV: { service: grpc.ServiceDefinition }; Watch: { service: grpc.ServiceDefinition } } }).etcdserverpb;
const kv = pkg.KV.service;
const watch = pkg.Watch.service.Watch;

describe('fast codecs', () => {
  test('RangeRequest decodes as the generic codec does', () => {
    const samples = [
      { key: Buffer.from('a') },
      { key: Buffer.from([0, 255]), range_end: Buffer.from([0]), limit: 10, revision: -1, sort_order: 2, sort_target: 4, serializable: true, keys_only: true, count_only: true, min_mod_revision: 3, max_mod_revision: 2 ** 40, min_create_revision: 5, max_create_revision: 6 },
    ];
    for (const s of samples) {
      const bytes = kv.Range.requestSerialize(s);
      const generic = kv.Range.requestDeserialize(bytes) as Record<string, unknown>;
      const fast = decodeRangeRequest(bytes) as unknown as Record<string, unknown>;
      // The fast decoder gives int64 fields as numbers, the generic one as strings.
      const norm = (v: unknown): unknown => (typeof v === 'number' ? String(v) : v);
      for (const [k, v] of Object.entries(generic)) assert.deepEqual(norm(fast[k]), norm(v), k);
    }
  });

  test('PutRequest decodes as the generic codec does, lease IDs beyond 2^53 exact', () => {
    const s = { key: Buffer.from('k'), value: Buffer.alloc(300, 1), lease: '7587863016785577988', prev_kv: true, ignore_value: false, ignore_lease: true };
    const bytes = kv.Put.requestSerialize(s);
    assert.deepEqual(decodePutRequest(bytes), kv.Put.requestDeserialize(bytes));
  });

  test('RangeResponse and PutResponse encode to what the generic codec reads back', () => {
    const header = { cluster_id: '14841639068965178418', member_id: '10276657743932975437', revision: 42, raft_term: 3 };
    const kvs = [
      { key: Buffer.from('a'), value: Buffer.from('v'), create_revision: 2, mod_revision: 40, version: 7, lease: '7587863016785577988' },
      { key: Buffer.from('b'), value: Buffer.alloc(0), create_revision: 3, mod_revision: 3, version: 1, lease: 0 },
    ];
    const range = kv.Range.responseDeserialize(encodeRangeResponse({ header, kvs, more: true, count: 9 })) as Record<string, unknown>;
    assert.deepEqual(range, kv.Range.responseDeserialize(kv.Range.responseSerialize({ header, kvs, more: true, count: 9 })));
    assert.equal((range.kvs as { lease: string }[])[0].lease, '7587863016785577988');
    const put = kv.Put.responseDeserialize(encodePutResponse({ header, prev_kv: kvs[0] }));
    assert.deepEqual(put, kv.Put.responseDeserialize(kv.Put.responseSerialize({ header, prev_kv: kvs[0] })));
  });

  test('RangeResponse sized and written in one buffer reads back as the generic codec encodes it, at the edges', () => {
    // Deterministic variety: key and value lengths across varint boundaries, revisions up to
    // 2^53 - 1, leases as numbers, small texts and texts beyond 2^53, count 0, more on and off.
    let seed = 7;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
    const lens = [0, 1, 127, 128, 300, 16383, 16384, 70000];
    const ints = [1, 127, 128, 2 ** 31, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER];
    const leases: (string | number)[] = [0, '0', 5, '694d77aa', '7587863016785577988', '18446744073709551615', 2 ** 40];
    for (let round = 0; round < 40; round++) {
      const kvs = Array.from({ length: rand(6) }, () => ({
        key: Buffer.alloc(lens[rand(lens.length)], 'k'),
        value: Buffer.alloc(lens[rand(lens.length)], 'v'),
        create_revision: ints[rand(ints.length)],
        mod_revision: ints[rand(ints.length)],
        version: ints[rand(ints.length)],
        lease: leases[rand(leases.length)],
      })).filter((x) => typeof x.lease === 'number' || /^\d+$/.test(x.lease));
      const msg = { header: round % 5 === 0 ? undefined : { cluster_id: '1', member_id: String(round), revision: ints[rand(ints.length)], raft_term: round }, kvs, more: round % 2 === 0, count: round % 3 === 0 ? 0 : ints[rand(ints.length)] };
      assert.deepEqual(kv.Range.responseDeserialize(encodeRangeResponse(msg)), kv.Range.responseDeserialize(kv.Range.responseSerialize(msg)), `round ${round}`);
    }
    // A value the sized path does not take (a negative count) still encodes, through the writer.
    const odd = { header: undefined, kvs: [], more: false, count: -1 };
    assert.deepEqual(kv.Range.responseDeserialize(encodeRangeResponse(odd)), kv.Range.responseDeserialize(kv.Range.responseSerialize(odd)));
  });

  test('WatchResponse sized in one buffer reads back as the generic codec encodes it, whatever its fields', () => {
    const ev = (i: number, type: number) => ({ type, kv: { key: Buffer.from(`k${i}`), value: Buffer.alloc(i * 40, 'v'), create_revision: 2, mod_revision: 2 ** 32 + i, version: i + 1, lease: 0 }, prev_kv: undefined });
    const headers = [{ cluster_id: '14841639068965178418', member_id: '10276657743932975437', revision: 42, raft_term: 3 }, { cluster_id: '1', member_id: '2', revision: 0, raft_term: 0 }, { cluster_id: '1', member_id: '2', revision: Number.MAX_SAFE_INTEGER, raft_term: 200 }];
    const shapes = [
      { watch_id: 0, events: [] },
      { watch_id: 5, created: true, events: [] },
      { watch_id: -1, created: true, canceled: true, cancel_reason: 'permission denied', events: [] },
      { watch_id: 300, canceled: true, compact_revision: 77, events: [] },
      { watch_id: 2 ** 40, fragment: true, events: [ev(1, 0), ev(2, 1), ev(3, 0)] },
      { watch_id: 7, events: [ev(4, 1)] },
    ];
    for (const header of headers) {
      for (const shape of shapes) {
        const generic = watch.responseDeserialize(watch.responseSerialize({ header, ...shape }));
        // Events encoded once up front (the fan-out's way) and as objects give the same message.
        const fast = encodeWatchResponse({ header, ...shape, events: shape.events.map((e) => encodeEvent(e)) });
        assert.deepEqual(watch.responseDeserialize(fast), generic, JSON.stringify({ header, ...shape, events: shape.events.length }));
        assert.deepEqual(watch.responseDeserialize(encodeWatchResponse({ header, ...shape })), generic);
      }
    }
  });
});
