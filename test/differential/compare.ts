// Field-by-field comparison of two normalised answers: every path where they differ.
import { Approx } from './normalise';
import { show } from './show';

export interface Difference {
  path: string;
  a: string;
  b: string;
}

const MAX_DIFFS = 12;

export function differences(a: unknown, b: unknown): Difference[] {
  const out: Difference[] = [];
  diff(a, b, '', out);
  return out;
}

function diff(a: unknown, b: unknown, path: string, out: Difference[]): void {
  if (out.length >= MAX_DIFFS) return;
  const differ = (): void => void out.push({ path: path || '.', a: show(a), b: show(b) });
  if (a instanceof Approx && b instanceof Approx) {
    if (Math.abs(a.value - b.value) > Math.max(a.tol, b.tol)) differ();
    return;
  }
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b)) {
    if (!(Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b))) differ();
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) out.push({ path: `${path}.length`, a: String(a.length), b: String(b.length) });
    for (let i = 0; i < Math.min(a.length, b.length); i++) diff(a[i], b[i], `${path}[${i}]`, out);
    return;
  }
  const isObj = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x) && !(x instanceof Approx);
  if (isObj(a) && isObj(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) diff(a[k], b[k], `${path}.${k}`, out);
    return;
  }
  if (a instanceof Approx || b instanceof Approx) {
    // One side's TTL is positive, the other's is not (-1: no such lease): a real difference.
    differ();
    return;
  }
  if (a !== b) differ();
}

/** A difference's path with array indexes dropped: which field, not which element. */
export const fieldOf = (path: string): string => {
  const p = path.replace(/\[\d+\]/g, '[]');
  // Deeply nested txns: ".responses[].response_txn" 100 times reads better as x100.
  return p.replace(/(?:\.responses\[\]\.response_txn){2,}/g, (m) => `(.responses[].response_txn)x${m.length / '.responses[].response_txn'.length}`);
};
