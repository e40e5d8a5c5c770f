// Keys and values are bytes; the gateway carries them as base64 and the dashboard shows them as
// text where they are UTF-8. Routes carry them percent-encoded byte by byte, so that any key
// (also one that is not UTF-8) has a URL.

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });
const lenientDecoder = new TextDecoder('utf-8');

export const utf8 = (s: string): Uint8Array => encoder.encode(s);

/** The bytes as text, invalid sequences replaced (for display). */
export const text = (b: Uint8Array): string => lenientDecoder.decode(b);

/** Whether the bytes are valid UTF-8. */
export function isUtf8(b: Uint8Array): boolean {
  try {
    strictDecoder.decode(b);
    return true;
  } catch {
    return false;
  }
}

export function toBase64(b: Uint8Array): string {
  let s = '';
  // In slices: String.fromCharCode takes its arguments on the stack.
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(s: string | undefined): Uint8Array {
  if (s === undefined || s === '') return new Uint8Array(0);
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

export function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function startsWith(b: Uint8Array, prefix: Uint8Array): boolean {
  if (b.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (b[i] !== prefix[i]) return false;
  return true;
}

/**
 * The end of the range of every key starting with `prefix` (etcd's clientv3.GetPrefixRangeEnd):
 * the prefix with its last byte below 0xff incremented; [0] ("every key") when there is none.
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i] < 0xff) {
      const end = prefix.slice(0, i + 1);
      end[i]++;
      return end;
    }
  }
  return new Uint8Array([0]);
}

/** The smallest key after `key`. */
export const keyAfter = (key: Uint8Array): Uint8Array => concat(key, new Uint8Array([0]));

const URL_SAFE = /[A-Za-z0-9\-_.~/:@!$*+,;=]/;

/** A key as a URL path part: bytes outside a safe set as %XX. */
export function toRoutePart(b: Uint8Array): string {
  let s = '';
  for (const byte of b) {
    const c = String.fromCharCode(byte);
    s += byte < 0x80 && URL_SAFE.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return s;
}

/** The bytes of a route part made by toRoutePart (or typed by a person: other text as UTF-8). */
export function fromRoutePart(s: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%' && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      out.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(...utf8(s[i]));
  }
  return new Uint8Array(out);
}

/** A hex dump: offset, 16 bytes, their printable characters. */
export function hexDump(b: Uint8Array, maxBytes: number): string {
  const lines: string[] = [];
  const n = Math.min(b.length, maxBytes);
  for (let off = 0; off < n; off += 16) {
    const row = b.subarray(off, Math.min(off + 16, n));
    const hex = [...row].map((x) => x.toString(16).padStart(2, '0')).join(' ');
    const chars = [...row].map((x) => (x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : '.')).join('');
    lines.push(`${off.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${chars}`);
  }
  return lines.join('\n');
}

/** A lease ID (decimal int64 string, as the gateway writes it) in etcdctl's hex. */
export function leaseHex(id: string | undefined): string {
  if (id === undefined || id === '' || id === '0') return '';
  return BigInt.asUintN(64, BigInt(id)).toString(16);
}

/** A byte count for people. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}
