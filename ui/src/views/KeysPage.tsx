// The key tree under a prefix, one page at a time (tree.ts), with folder counts loaded after the
// page shows, a prefix search, and a form for a new key. Only the current page is held: paging
// forward keeps the cursors of earlier pages, not their entries, so memory stays bounded. The
// App mounts one per prefix (keyed), so a new prefix starts at its first page.
import { useEffect, useState } from 'preact/hooks';
import { utf8 } from '../lib/bytes.js';
import { mayWrite, readablePrefixes, type Rights } from '../lib/auth.js';
import { errorText } from '../lib/gateway.js';
import { put } from '../lib/kv.js';
import { keyHref, keysHref, watchHref } from '../lib/router.js';
import { countUnder, listPage, type TreePage } from '../lib/tree.js';
import { ErrorLine, keyText } from './common.js';

const PAGE_SIZE = 100;
/** Count requests in flight at once. */
const COUNT_CONCURRENCY = 4;

export function KeysPage({ prefix, rights }: { prefix: Uint8Array; rights: Rights }) {
  const [page, setPage] = useState<TreePage | undefined>();
  const [cursors, setCursors] = useState<(Uint8Array | undefined)[]>([undefined]);
  const [counts, setCounts] = useState<Map<string, number>>(new Map());
  const [error, setError] = useState<string | undefined>();
  const [tookMs, setTookMs] = useState(0);
  const from = cursors[cursors.length - 1];
  const prefixKey = keyText(prefix);

  useEffect(() => {
    let live = true;
    const started = performance.now();
    setError(undefined);
    setCounts(new Map());
    listPage(prefix, from, PAGE_SIZE).then(
      async (p) => {
        if (!live) return;
        setPage(p);
        setTookMs(Math.round(performance.now() - started));
        // Counts after the page shows, a few at a time.
        const folders = p.entries.filter((e) => e.folder);
        let next = 0;
        const worker = async (): Promise<void> => {
          while (live && next < folders.length) {
            const f = folders[next++];
            try {
              const n = await countUnder(f.path);
              if (live) setCounts((c) => new Map(c).set(keyText(f.path), n));
            } catch {
              // a count the user may not read: left blank
            }
          }
        };
        await Promise.all(Array.from({ length: COUNT_CONCURRENCY }, worker));
      },
      (err: unknown) => live && (setPage(undefined), setError(errorText(err))),
    );
    return () => {
      live = false;
    };
  }, [prefixKey, from === undefined ? '' : keyText(from)]);

  const crumbs = breadcrumbs(prefix);
  const denied = error !== undefined && /permission denied/.test(error);
  return (
    <section aria-labelledby="keys-title">
      <div class="page-head">
        <h1 id="keys-title">Keys</h1>
        <PrefixSearch prefix={prefixKey} />
      </div>
      <nav class="crumbs" aria-label="Prefix">
        {crumbs.map((c, i) => (
          <span key={i}>
            <a href={keysHref(c.path)}>{c.label}</a>
          </span>
        ))}
        <a class="watch-link" href={watchHref(prefix)}>
          Watch this prefix
        </a>
      </nav>
      <ErrorLine error={error} />
      {denied && !rights.all && (
        <div class="card">
          <p>Your roles allow reading only under these prefixes:</p>
          <ul>
            {readablePrefixes(rights).map((p) => (
              <li key={keyText(p)}>
                <a href={keysHref(p)}>{keyText(p) || '(every key)'}</a>
              </li>
            ))}
          </ul>
        </div>
      )}
      {page !== undefined && (
        <div class="card">
          <p class="muted small" data-testid="tree-stats">
            {page.entries.length === 0 ? 'No keys under this prefix.' : `${page.entries.length} entries on this page · read in ${tookMs} ms · revision ${page.revision}`}
          </p>
          <ul class="tree" aria-label="Keys and folders">
            {page.entries.map((e) => {
              const id = keyText(e.path);
              const count = counts.get(id);
              return (
                <li key={id} class={e.folder ? 'folder' : 'leaf'}>
                  <a href={e.folder ? keysHref(e.path) : keyHref(e.path)} data-path={id}>
                    <span class="icon" aria-hidden="true">
                      {e.folder ? '▸' : '•'}
                    </span>
                    <span class="name">{keyText(e.name)}</span>
                  </a>
                  {e.folder && <span class="count">{count === undefined ? '…' : `${count.toLocaleString('en')} keys`}</span>}
                </li>
              );
            })}
          </ul>
          <div class="pager">
            <button type="button" disabled={cursors.length <= 1} onClick={() => setCursors(cursors.slice(0, -1))}>
              ← Previous
            </button>
            <span class="muted small">Page {cursors.length}</span>
            <button type="button" disabled={page.next === undefined} onClick={() => page.next !== undefined && setCursors([...cursors, page.next])}>
              Next →
            </button>
          </div>
        </div>
      )}
      <NewKey prefix={prefixKey} rights={rights} />
    </section>
  );
}

function breadcrumbs(prefix: Uint8Array): { label: string; path: Uint8Array }[] {
  const out: { label: string; path: Uint8Array }[] = [{ label: '(root)', path: new Uint8Array(0) }];
  const t = keyText(prefix);
  let at = 0;
  for (;;) {
    const slash = t.indexOf('/', at);
    if (slash < 0) break;
    out.push({ label: t.slice(at, slash + 1), path: utf8(t.slice(0, slash + 1)) });
    at = slash + 1;
  }
  if (at < t.length) out.push({ label: t.slice(at), path: utf8(t) });
  return out;
}

function PrefixSearch({ prefix }: { prefix: string }) {
  const [value, setValue] = useState(prefix);
  useEffect(() => setValue(prefix), [prefix]);
  return (
    <form
      class="search"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        location.hash = keysHref(utf8(value));
      }}
    >
      <input aria-label="Search by prefix" placeholder="Search by prefix, e.g. /registry/" value={value} onInput={(e) => setValue(e.currentTarget.value)} />
      <button type="submit">Search</button>
    </form>
  );
}

function NewKey({ prefix, rights }: { prefix: string; rights: Rights }) {
  const [key, setKey] = useState(prefix);
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | undefined>();
  useEffect(() => setKey(prefix), [prefix]);
  const writable = mayWrite(rights, utf8(key));
  return (
    <details class="card new-key">
      <summary>New key</summary>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setError(undefined);
          try {
            await put(utf8(key), utf8(value), false);
            location.hash = keyHref(utf8(key));
          } catch (err) {
            setError(errorText(err));
          }
        }}
      >
        <label>
          Key
          <input name="new-key" value={key} onInput={(e) => setKey(e.currentTarget.value)} required />
        </label>
        <label>
          Value
          <textarea name="new-value" rows={4} value={value} onInput={(e) => setValue(e.currentTarget.value)} />
        </label>
        {!writable && <p class="notice">Your roles do not allow writing this key: the server will refuse it.</p>}
        <ErrorLine error={error} />
        <button type="submit" class="primary">
          Create
        </button>
      </form>
    </details>
  );
}
