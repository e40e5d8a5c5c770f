// A watch over the gateway's /v3/watch: one POST whose body holds the create request (the
// gateway keeps the stream open after the body ends, as etcd's does), read as a stream of
// NDJSON lines with fetch + ReadableStream. When the stream breaks it is opened again from the
// revision after the last one seen (events, or the header of a created or progress reply), so
// no event is lost or repeated across a reconnect; if that revision has been compacted meanwhile,
// the gap is reported and the watch goes on from the compacted revision.
import { toBase64 } from './bytes.js';
import { num, type EventJson, type WatchResponseJson } from './etcd-types.js';
import { errorOf, errorText, headers, GatewayError } from './gateway.js';

export interface WatchTarget {
  key: Uint8Array;
  /** Undefined: the key alone. */
  rangeEnd?: Uint8Array;
}

export interface WatchHandlers {
  events(events: EventJson[], revision: number): void;
  /** Connected (again); `from`: the revision asked to start at, if any. */
  connected(from: number | undefined): void;
  /** The stream broke; a reconnect follows in `retryMs`. */
  disconnected(reason: string, retryMs: number): void;
  /** Revisions [from, compacted) were compacted away while disconnected. */
  gap(from: number, compacted: number): void;
  /** A refusal that a reconnect would not cure (permission denied, bad request): the watch stops. */
  failed(reason: string): void;
}

export interface WatchBody {
  create_request?: Record<string, unknown>;
  progress_request?: Record<string, never>;
}

/** The NDJSON lines of a response body, as they arrive. */
export async function* ndjsonLines(body: ReadableStream<Uint8Array>, signal: AbortSignal): AsyncGenerator<unknown> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let partial = '';
  const stop = (): void => void reader.cancel().catch(() => undefined);
  signal.addEventListener('abort', stop);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      partial += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl).trim();
        partial = partial.slice(nl + 1);
        if (line !== '') yield JSON.parse(line);
      }
    }
    if (partial.trim() !== '') yield JSON.parse(partial);
  } finally {
    signal.removeEventListener('abort', stop);
    stop();
  }
}

/** Opens /v3/watch with the given request values (sent back to back) and returns the reply lines. */
export async function openWatch(values: WatchBody[], signal: AbortSignal, base = ''): Promise<AsyncGenerator<unknown>> {
  const res = await fetch(`${base}/v3/watch`, { method: 'POST', headers: headers(), body: values.map((v) => JSON.stringify(v)).join('\n'), signal });
  if (!res.ok || res.body === null) {
    const t = await res.text();
    let parsed: unknown = t;
    try {
      parsed = JSON.parse(t);
    } catch {
      // plain text
    }
    throw errorOf(parsed, res.status);
  }
  return ndjsonLines(res.body, signal);
}

/** A stream line's result, or its error as a GatewayError. */
export function resultOf(line: unknown): WatchResponseJson {
  const o = typeof line === 'object' && line !== null ? (line as Record<string, unknown>) : {};
  if ('error' in o) throw errorOf(o.error, 0);
  return (o.result ?? {}) as WatchResponseJson;
}

const RETRY_MS = [250, 500, 1000, 2000, 4000];

/** Watches `target` until `signal` aborts, reconnecting as needed. */
export async function watchLive(target: WatchTarget, handlers: WatchHandlers, signal: AbortSignal, startRevision?: number): Promise<void> {
  let next = startRevision;
  let attempt = 0;
  while (!signal.aborted) {
    const create: Record<string, unknown> = { key: toBase64(target.key), prev_kv: true, progress_notify: true };
    if (target.rangeEnd !== undefined) create.range_end = toBase64(target.rangeEnd);
    if (next !== undefined) create.start_revision = String(next);
    let reason = 'the stream ended';
    try {
      const lines = await openWatch([{ create_request: create }], signal);
      for await (const line of lines) {
        const r = resultOf(line);
        const headerRev = num(r.header?.revision);
        if (r.created === true) {
          attempt = 0;
          handlers.connected(next);
          next ??= headerRev + 1;
          continue;
        }
        if (r.canceled === true) {
          const compacted = num(r.compact_revision);
          if (compacted > 0 && next !== undefined) {
            handlers.gap(next, compacted);
            next = compacted;
            reason = 'resuming after compaction';
            break;
          }
          handlers.failed(r.cancel_reason ?? 'the watch was canceled');
          return;
        }
        const events = r.events ?? [];
        if (events.length > 0) {
          const last = num(events[events.length - 1].kv?.mod_revision);
          next = last + 1;
          handlers.events(events, last);
        } else if (headerRev > 0 && next !== undefined && r.fragment !== true) {
          // A progress notification: every event up to headerRev has been sent.
          next = Math.max(next, headerRev + 1);
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof GatewayError && err.code !== 0 && err.code !== 14) {
        handlers.failed(err.message);
        return;
      }
      reason = errorText(err);
    }
    if (signal.aborted) return;
    const retryMs = RETRY_MS[Math.min(attempt++, RETRY_MS.length - 1)];
    handlers.disconnected(reason, retryMs);
    await new Promise((r) => setTimeout(r, retryMs));
  }
}
