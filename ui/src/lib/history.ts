// A key's revision history, every version the store still holds, from MVCC: a watch on the key
// from the first revision not compacted replays each of its PUTs and DELETEs (all generations),
// and a progress request sent in the same body is answered once that replay is done, which ends
// the read. Versions older than the compacted revision are gone, except the one still live at
// it, read with a Range at the compacted revision. Bounded: only the newest `keep` are kept.
import { toBase64 } from './bytes.js';
import { num, type KeyValue } from './etcd-types.js';
import { Code, GatewayError } from './gateway.js';
import { decodeKv, range } from './kv.js';
import { openWatch, resultOf } from './watch-stream.js';

export interface HistoryEntry {
  type: 'PUT' | 'DELETE';
  /** The revision of the change. */
  revision: number;
  /** For a PUT, the version written; for a DELETE, the key as it was before (if held). */
  kv: KeyValue | undefined;
}

export interface KeyHistory {
  /** Newest first. */
  entries: HistoryEntry[];
  /** The compacted revision, 0 if none: changes before it are gone. */
  compacted: number;
  /** Older entries left out beyond `keep`. */
  omitted: number;
  /** The store's revision when read. */
  revision: number;
}

export async function keyHistory(key: Uint8Array, keep = 200, signal?: AbortSignal): Promise<KeyHistory> {
  let from = 1;
  for (let attempt = 0; attempt < 3; attempt++) {
    const h = await replay(key, from, keep, signal);
    if (h.compactedAt === undefined) {
      const entries = h.entries;
      let omitted = h.omitted;
      const compacted = from > 1 ? from : 0;
      // The version live at the compacted revision was written before it: its event is gone, its value is not.
      if (compacted > 0) {
        const atCompacted = await rangeAt(key, compacted);
        if (atCompacted !== undefined && atCompacted.modRevision < compacted) {
          if (entries.length < keep) entries.push({ type: 'PUT', revision: atCompacted.modRevision, kv: atCompacted });
          else omitted++;
        }
      }
      return { entries, compacted, omitted, revision: h.revision };
    }
    from = h.compactedAt;
  }
  throw new Error('the history kept being compacted while it was read');
}

async function rangeAt(key: Uint8Array, revision: number): Promise<KeyValue | undefined> {
  try {
    return (await range({ key, revision })).kvs[0];
  } catch (err) {
    // Compacted again meanwhile: nothing more to show.
    if (err instanceof GatewayError && err.code === Code.OUT_OF_RANGE) return undefined;
    throw err;
  }
}

interface Replay {
  entries: HistoryEntry[];
  omitted: number;
  revision: number;
  /** Set when `from` was compacted: the compacted revision to start from instead. */
  compactedAt?: number;
}

async function replay(key: Uint8Array, from: number, keep: number, outer?: AbortSignal): Promise<Replay> {
  const abort = new AbortController();
  const signal = outer === undefined ? abort.signal : AbortSignal.any([outer, abort.signal]);
  const timer = setTimeout(() => abort.abort(), 30_000);
  const entries: HistoryEntry[] = [];
  let omitted = 0;
  let revision = 0;
  try {
    const lines = await openWatch([{ create_request: { key: toBase64(key), start_revision: String(from), prev_kv: true } }, { progress_request: {} }], signal);
    for await (const line of lines) {
      const r = resultOf(line);
      if (r.created === true) {
        revision = num(r.header?.revision);
        continue;
      }
      if (r.canceled === true) {
        const c = num(r.compact_revision);
        if (c > 0) return { entries: [], omitted: 0, revision, compactedAt: c };
        throw new Error(r.cancel_reason ?? 'the watch was canceled');
      }
      for (const ev of r.events ?? []) {
        const put = ev.type !== 'DELETE';
        const kv = put ? (ev.kv === undefined ? undefined : decodeKv(ev.kv)) : ev.prev_kv === undefined ? undefined : decodeKv(ev.prev_kv);
        entries.unshift({ type: put ? 'PUT' : 'DELETE', revision: num(ev.kv?.mod_revision), kv });
        if (entries.length > keep) {
          entries.pop();
          omitted++;
        }
      }
      // The progress reply (watch ID -1, no events): the replay is complete.
      if ((r.events ?? []).length === 0 && r.watch_id === '-1') return { entries, omitted, revision };
    }
    throw new Error('the history stream ended early');
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

