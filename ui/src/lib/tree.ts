// The key tree, a page at a time. Keys are grouped by "/": under a prefix P, a key P+"a/b/c" is
// shown as the folder P+"a/" and P+"x" as the key itself. A page never reads more than its size
// in keys: it ranges over the prefix with a limit, and when it meets a folder it jumps past the
// folder's last possible key (the prefix end of the folder) instead of reading the folder's keys,
// so a prefix with a million keys in a few folders costs a few requests of a few keys each.
// Folder counts are count_only ranges (counted by the server without reading the keys; loaded
// after the page shows, see KeysPage).
import { concat, equal, keyAfter, prefixEnd } from './bytes.js';
import { range } from './kv.js';

const SLASH = 0x2f;

export interface TreeEntry {
  /** The whole key, or the folder's prefix ending in "/". */
  path: Uint8Array;
  /** The part shown: the path after the page's prefix. */
  name: Uint8Array;
  folder: boolean;
}

export interface TreePage {
  entries: TreeEntry[];
  /** Where the next page starts, undefined when this is the last. */
  next: Uint8Array | undefined;
  /** The revision its first request read. */
  revision: number;
}

/** The key a prefix's listing starts at: the empty prefix lists every key (from "\0"). */
const firstKey = (prefix: Uint8Array): Uint8Array => (prefix.length === 0 ? new Uint8Array([0]) : prefix);

/** The entry `key` belongs to under `prefix`. */
export function entryOf(prefix: Uint8Array, key: Uint8Array): TreeEntry {
  const rest = key.subarray(prefix.length);
  const slash = rest.indexOf(SLASH);
  if (slash < 0) return { path: key, name: rest, folder: false };
  const name = rest.slice(0, slash + 1);
  return { path: concat(prefix, name), name, folder: true };
}

/**
 * One page of the entries under `prefix`, starting at `from` (a key, or undefined for the first
 * page). Each request reads the newest revision: a read at an older one would make the server
 * walk the key index instead of counting (the ranges stay cheap only at the head).
 */
export async function listPage(prefix: Uint8Array, from: Uint8Array | undefined, pageSize: number): Promise<TreePage> {
  const end = prefixEnd(prefix);
  let cursor = from ?? firstKey(prefix);
  const entries: TreeEntry[] = [];
  let revision: number | undefined;
  for (;;) {
    // One more than the entries still wanted: enough to learn whether a page follows.
    const limit = pageSize + 1 - entries.length;
    const r = await range({ key: cursor, rangeEnd: end, limit, keysOnly: true });
    revision ??= r.revision;
    for (const kv of r.kvs) {
      const e = entryOf(prefix, kv.key);
      const last = entries[entries.length - 1];
      if (last !== undefined && last.folder && e.folder && equal(last.path, e.path)) continue;
      if (entries.length === pageSize) return { entries, next: e.folder ? e.path : kv.key, revision };
      entries.push(e);
    }
    const last = entries[entries.length - 1];
    if (!r.more || last === undefined) return { entries, next: undefined, revision };
    if (last.folder) {
      // The folder may go on past this batch: jump over the rest of its keys unread.
      cursor = prefixEnd(last.path);
      if (!everyKey(end) && compareBytes(cursor, end) >= 0) return { entries, next: undefined, revision };
    } else cursor = keyAfter(last.path);
  }
}

/** The range end [0]: no end. */
const everyKey = (end: Uint8Array): boolean => end.length === 1 && end[0] === 0;

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** How many keys start with `prefix` (one count_only range; the server counts without reading keys). */
export async function countUnder(prefix: Uint8Array): Promise<number> {
  const r = await range({ key: firstKey(prefix), rangeEnd: prefixEnd(prefix), countOnly: true });
  return r.count;
}
