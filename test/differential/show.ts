// Requests and answers as readable JSON, for mismatch reports that can be turned into unit tests:
// bytes fields as latin1 strings with every byte outside printable ASCII escaped (\u0000, \u00ff;
// Buffer.from(s, 'latin1') gives the bytes back), long runs of one byte summarised, int64s as the
// decimal strings proto-loader uses.
import { Approx } from './normalise';

const LONG = 64;

export function showBytes(b: Buffer): string {
  if (b.length > LONG && b.every((x) => x === b[0])) return `<${b.length} x ${JSON.stringify(String.fromCharCode(b[0]))}>`;
  const s = b.length > 4 * LONG ? `${b.subarray(0, LONG).toString('latin1')}...<${b.length} bytes>` : b.toString('latin1');
  return s;
}

function replacer(this: unknown, key: string, value: unknown): unknown {
  // JSON.stringify has already called Buffer's toJSON by now; read the original.
  const orig = (this as Record<string, unknown>)[key];
  if (Buffer.isBuffer(orig)) return showBytes(orig);
  if (orig instanceof Approx) return `~${orig.value}`;
  return value;
}

/** JSON with readable bytes; non-ASCII escaped so the output is plain ASCII. */
export function show(v: unknown, indent?: number): string {
  const s = JSON.stringify(v, replacer, indent) ?? 'undefined';
  return s.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
