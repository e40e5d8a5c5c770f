// What the side-by-side store scripts (startup-large.ts, range-memory.ts) share: filling a
// fresh member with numbered keys through Txns of 128 Puts from several gRPC clients, probing a
// port, and a median. Not part of the test suite.
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import { call } from '../test/helpers/grpc-client';

/** etcd's default --max-txn-ops. */
const TXN_OPS = 128;

/** Key i of the filled store: key/0000000, key/0000001, ... */
export const keyOf = (i: number): Buffer => Buffer.from(`key/${String(i).padStart(7, '0')}`);

/** Puts keys 0..count-1 with one random value of valueBytes, waiting first for the member to serve. */
export async function fillKeys(clients: grpc.Client[], count: number, valueBytes: number): Promise<void> {
  const value = randomBytes(valueBytes);
  let next = 0;
  await Promise.all(
    clients.map(async (kv) => {
      for (;;) {
        try {
          await call(kv, 'Range', { key: keyOf(0), serializable: true }, 1000);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      while (next < count) {
        const from = next;
        next = Math.min(count, next + TXN_OPS);
        const success = [];
        for (let i = from; i < next; i++) success.push({ request_put: { key: keyOf(i), value } });
        await call(kv, 'Txn', { compare: [], success, failure: [] }, 30_000);
      }
    }),
  );
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function listening(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), res(true)));
    s.once('error', () => res(false));
  });
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
