// One key: its value (text, JSON, hex), metadata, an editor, delete, and its revision history
// (history.ts: every version the store still holds, with value, mod revision, version, lease).
// Writes ask for confirmation; a refusal shows the server's message.
import { useEffect, useState } from 'preact/hooks';
import { leaseHex, text, utf8 } from '../lib/bytes.js';
import { mayWrite, type Rights } from '../lib/auth.js';
import type { KeyValue } from '../lib/etcd-types.js';
import { errorText } from '../lib/gateway.js';
import { keyHistory, type KeyHistory } from '../lib/history.js';
import { del, get, put } from '../lib/kv.js';
import { keysHref, watchHref } from '../lib/router.js';
import { Confirm, ErrorLine, keyText } from './common.js';
import { ValueView } from './ValueView.js';

type Pending = { kind: 'save'; value: string } | { kind: 'delete' } | undefined;

/** The folder a key sits in (up to its last "/"). */
function parentOf(key: Uint8Array): Uint8Array {
  const i = key.lastIndexOf(0x2f);
  return key.slice(0, i + 1);
}

export function KeyPage({ keyBytes, rights }: { keyBytes: Uint8Array; rights: Rights }) {
  const [kv, setKv] = useState<KeyValue | undefined | null>(null);
  const [error, setError] = useState<string | undefined>();
  const [writeError, setWriteError] = useState<string | undefined>();
  const [editing, setEditing] = useState<string | undefined>();
  const [pending, setPending] = useState<Pending>();
  const [history, setHistory] = useState<KeyHistory | undefined>();
  const [historyError, setHistoryError] = useState<string | undefined>();
  const [reload, setReload] = useState(0);
  const name = keyText(keyBytes);
  const writable = mayWrite(rights, keyBytes);

  useEffect(() => {
    let live = true;
    const abort = new AbortController();
    setError(undefined);
    get(keyBytes).then(
      (r) => live && setKv(r.kv),
      (err: unknown) => live && setError(errorText(err)),
    );
    keyHistory(keyBytes, 200, abort.signal).then(
      (h) => live && (setHistory(h), setHistoryError(undefined)),
      (err: unknown) => live && setHistoryError(errorText(err)),
    );
    return () => {
      live = false;
      abort.abort();
    };
  }, [name, reload]);

  const run = async (p: NonNullable<Pending>): Promise<void> => {
    setPending(undefined);
    setWriteError(undefined);
    try {
      if (p.kind === 'save') {
        await put(keyBytes, utf8(p.value), kv !== undefined && kv !== null && kv.lease !== '');
        setEditing(undefined);
      } else {
        await del(keyBytes);
      }
      setReload((n) => n + 1);
    } catch (err) {
      setWriteError(errorText(err));
    }
  };

  return (
    <section aria-labelledby="key-title">
      <nav class="crumbs" aria-label="Back">
        <a href={keysHref(parentOf(keyBytes))}>← {keyText(parentOf(keyBytes)) || '(root)'}</a>
        <a class="watch-link" href={watchHref(keyBytes)}>
          Watch this key
        </a>
      </nav>
      <h1 id="key-title" class="key-title">
        {name}
      </h1>
      {!writable && (
        <p class="notice" data-testid="read-only">
          Read-only for you: your roles ({rights.roles.join(', ') || 'none'}) do not allow writing this key.
        </p>
      )}
      <ErrorLine error={error} />
      <ErrorLine error={writeError} />
      {kv === undefined && error === undefined && <p class="muted">This key does not exist (now).</p>}
      {kv !== undefined && kv !== null && (
        <div class="card">
          <dl class="meta">
            <dt>Mod revision</dt>
            <dd data-testid="mod-revision">{kv.modRevision}</dd>
            <dt>Create revision</dt>
            <dd>{kv.createRevision}</dd>
            <dt>Version</dt>
            <dd data-testid="version">{kv.version}</dd>
            <dt>Lease</dt>
            <dd>{leaseHex(kv.lease) || 'none'}</dd>
            <dt>Size</dt>
            <dd>{kv.value.length.toLocaleString('en')} bytes</dd>
          </dl>
          {editing === undefined ? (
            <>
              <ValueView key={kv.modRevision} value={kv.value} />
              <div class="actions">
                <button type="button" class="primary" onClick={() => setEditing(text(kv.value))}>
                  Edit
                </button>
                <button type="button" class="danger" onClick={() => setPending({ kind: 'delete' })}>
                  Delete
                </button>
              </div>
            </>
          ) : (
            <form
              onSubmit={(e) => {
                e.preventDefault();
                setPending({ kind: 'save', value: editing });
              }}
            >
              <label>
                New value
                <textarea name="value" rows={8} value={editing} onInput={(e) => setEditing(e.currentTarget.value)} autofocus />
              </label>
              <div class="actions">
                <button type="button" onClick={() => setEditing(undefined)}>
                  Cancel
                </button>
                <button type="submit" class="primary">
                  Save
                </button>
              </div>
            </form>
          )}
        </div>
      )}
      {pending !== undefined && (
        <Confirm
          title={pending.kind === 'save' ? 'Save the new value?' : 'Delete this key?'}
          confirmLabel={pending.kind === 'save' ? 'Save' : 'Delete'}
          danger={pending.kind === 'delete'}
          onConfirm={() => void run(pending)}
          onCancel={() => setPending(undefined)}
        >
          <p>
            <code>{name}</code>
            {pending.kind === 'save' ? ` gets a new version (${utf8(pending.value).length} bytes).` : ' and its value are deleted; its history stays until compacted.'}
          </p>
        </Confirm>
      )}
      <h2>History</h2>
      <ErrorLine error={historyError} />
      {history === undefined && historyError === undefined && <p class="muted">Reading the history…</p>}
      {history !== undefined && <HistoryTable history={history} />}
    </section>
  );
}

function HistoryTable({ history }: { history: KeyHistory }) {
  return (
    <div class="card">
      <p class="muted small">
        {history.entries.length} change{history.entries.length === 1 ? '' : 's'} held
        {history.compacted > 0 ? ` · changes before revision ${history.compacted} were compacted` : ' · nothing compacted'}
        {history.omitted > 0 ? ` · ${history.omitted} older not shown` : ''}
      </p>
      <div class="table-wrap">
        <table class="history" aria-label="Revision history">
          <thead>
            <tr>
              <th scope="col">Revision</th>
              <th scope="col">Change</th>
              <th scope="col">Version</th>
              <th scope="col">Lease</th>
              <th scope="col">Value</th>
            </tr>
          </thead>
          <tbody>
            {history.entries.map((e) => (
              <tr key={`${e.revision}-${e.type}`} class={e.type === 'DELETE' ? 'deleted' : ''}>
                <td>{e.revision}</td>
                <td>{e.type}</td>
                <td>{e.type === 'PUT' ? (e.kv?.version ?? '') : ''}</td>
                <td>{e.type === 'PUT' ? leaseHex(e.kv?.lease) : ''}</td>
                <td class="value-cell">{e.type === 'PUT' && e.kv !== undefined ? preview(e.kv.value) : e.kv !== undefined ? `(was ${preview(e.kv.value)})` : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function preview(v: Uint8Array): string {
  const t = text(v.subarray(0, 200));
  return v.length > 200 ? `${t}…` : t;
}
