// A live watch on a key or prefix (watch-stream.ts): events as they come, PUT or DELETE, their
// revision and the value before and after. It reconnects by itself and resumes after the last
// revision seen. Bounded: the newest MAX_EVENTS are kept.
import { useEffect, useState } from 'preact/hooks';
import { fromBase64, prefixEnd, text, utf8 } from '../lib/bytes.js';
import type { EventJson } from '../lib/etcd-types.js';
import { num } from '../lib/etcd-types.js';
import { keyHref, watchHref } from '../lib/router.js';
import { watchLive } from '../lib/watch-stream.js';
import { keyText } from './common.js';

const MAX_EVENTS = 500;

interface Shown {
  id: number;
  type: 'PUT' | 'DELETE';
  key: Uint8Array;
  revision: number;
  before: string | undefined;
  after: string | undefined;
}

type State = { kind: 'connecting' } | { kind: 'live'; since: number } | { kind: 'retrying'; reason: string } | { kind: 'failed'; reason: string };

let nextId = 0;

export function WatchPage({ prefix }: { prefix: Uint8Array | undefined }) {
  const [input, setInput] = useState(prefix === undefined ? '' : keyText(prefix));
  const [asPrefix, setAsPrefix] = useState(true);
  const [events, setEvents] = useState<Shown[]>([]);
  const [state, setState] = useState<State>({ kind: 'connecting' });
  const [notes, setNotes] = useState<string[]>([]);
  const target = prefix === undefined ? undefined : keyText(prefix);

  useEffect(() => {
    if (prefix === undefined) return;
    const abort = new AbortController();
    setEvents([]);
    setNotes([]);
    setState({ kind: 'connecting' });
    const note = (n: string): void => setNotes((ns) => [...ns.slice(-19), `${new Date().toLocaleTimeString()} ${n}`]);
    void watchLive(
      asPrefix ? { key: prefix.length === 0 ? new Uint8Array([0]) : prefix, rangeEnd: prefixEnd(prefix) } : { key: prefix },
      {
        events: (evs: EventJson[]) => {
          const shown = evs.map(toShown);
          setEvents((old) => [...shown.reverse(), ...old].slice(0, MAX_EVENTS));
        },
        connected: (from) => {
          setState({ kind: 'live', since: Date.now() });
          if (from !== undefined) note(`reconnected, resuming at revision ${from}`);
        },
        disconnected: (reason, retryMs) => {
          setState({ kind: 'retrying', reason });
          note(`disconnected (${reason}); retrying in ${retryMs} ms`);
        },
        gap: (from, compacted) => note(`revisions ${from}–${compacted - 1} were compacted while disconnected: their events are lost`),
        failed: (reason) => setState({ kind: 'failed', reason }),
      },
      abort.signal,
    );
    return () => abort.abort();
  }, [target, asPrefix]);

  return (
    <section aria-labelledby="watch-title">
      <h1 id="watch-title">Live watch</h1>
      <form
        class="search"
        onSubmit={(e) => {
          e.preventDefault();
          location.hash = watchHref(utf8(input));
        }}
      >
        <input aria-label="Key or prefix to watch" placeholder="Key or prefix, e.g. /app/" value={input} onInput={(e) => setInput(e.currentTarget.value)} />
        <label class="inline">
          <input type="checkbox" checked={asPrefix} onChange={(e) => setAsPrefix(e.currentTarget.checked)} /> prefix
        </label>
        <button type="submit">Watch</button>
      </form>
      {prefix !== undefined && (
        <p class={`status ${state.kind}`} data-testid="watch-state" role="status">
          {state.kind === 'live' && `Watching ${asPrefix ? 'prefix' : 'key'} “${target === '' ? '(every key)' : target}”: live`}
          {state.kind === 'connecting' && 'Connecting…'}
          {state.kind === 'retrying' && `Reconnecting… (${state.reason})`}
          {state.kind === 'failed' && `Stopped: ${state.reason}`}
        </p>
      )}
      {notes.length > 0 && (
        <ul class="notes muted small" aria-label="Connection log">
          {notes.map((n, i) => (
            <li key={i}>{n}</li>
          ))}
        </ul>
      )}
      <ol class="events" aria-label="Events" aria-live="polite">
        {events.map((e) => (
          <li key={e.id} class={`event ${e.type.toLowerCase()}`} data-revision={e.revision}>
            <div class="event-head">
              <span class={`badge ${e.type.toLowerCase()}`}>{e.type}</span>
              <a href={keyHref(e.key)} class="event-key">
                {keyText(e.key)}
              </a>
              <span class="muted small">rev {e.revision}</span>
            </div>
            <div class="diff">
              {e.before !== undefined && <del>{e.before}</del>}
              {e.after !== undefined && <ins>{e.after}</ins>}
            </div>
          </li>
        ))}
      </ol>
      {prefix !== undefined && events.length === 0 && state.kind === 'live' && <p class="muted">No events yet.</p>}
    </section>
  );
}

function toShown(e: EventJson): Shown {
  const cut = (s: string | undefined): string | undefined => (s === undefined ? undefined : s.length > 500 ? `${s.slice(0, 500)}…` : s);
  const type = e.type === 'DELETE' ? 'DELETE' : 'PUT';
  return {
    id: nextId++,
    type,
    key: fromBase64(e.kv?.key),
    revision: num(e.kv?.mod_revision),
    before: e.prev_kv === undefined ? undefined : cut(text(fromBase64(e.prev_kv.value))),
    after: type === 'PUT' ? cut(text(fromBase64(e.kv?.value))) : undefined,
  };
}
