// Builds the request objects for a load. Kept separate from the worker so the
// key layout is defined once (prefill and range must agree on key names).
import type { LoadSpec } from './types';

/** Key for index i: zero-padded decimal, exactly keySize bytes; readable with etcdctl. */
export function keyFor(i: number, keySize: number): Buffer {
  return Buffer.from(String(i).padStart(keySize, '0'), 'latin1');
}

/** The largest key index must fit into keySize digits, otherwise keys would silently grow. */
export function checkKeySpace(keySpace: number, keySize: number): string | null {
  if (String(keySpace - 1).length > keySize) {
    return `key space ${keySpace} needs keys of ${String(keySpace - 1).length} bytes but --key-size is ${keySize}`;
  }
  return null;
}

export type RequestFactory = (index: number) => object;

export function requestFactory(spec: LoadSpec): RequestFactory {
  // One value buffer reused for every put: contents do not matter to the
  // server, and allocating per request would only load the client.
  const value = Buffer.alloc(spec.valSize, 'v');
  const pickKey = spec.sequentialKeys
    ? (i: number): number => i % spec.keySpace
    : (): number => Math.floor(Math.random() * spec.keySpace);
  if (spec.kind === 'put') {
    return (i) => ({ key: keyFor(pickKey(i), spec.keySize), value });
  }
  const serializable = spec.serializable;
  return (i) => ({ key: keyFor(pickKey(i), spec.keySize), serializable });
}
