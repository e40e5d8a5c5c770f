// Leases: each with its TTL counting down (refreshed from the server every REFRESH_MS, counted
// down locally in between) and the keys attached. A page of PAGE_SIZE at a time.
import { useEffect, useState } from 'preact/hooks';
import { fromBase64, leaseHex } from '../lib/bytes.js';
import { num } from '../lib/etcd-types.js';
import { call, errorText } from '../lib/gateway.js';
import { keyHref } from '../lib/router.js';
import { ErrorLine, keyText } from './common.js';

const PAGE_SIZE = 50;
const REFRESH_MS = 5000;

interface LeaseView {
  id: string;
  ttl: number;
  granted: number;
  keys: Uint8Array[];
  readAtMs: number;
}

export function LeasesPage() {
  const [ids, setIds] = useState<string[] | undefined>();
  const [page, setPage] = useState(0);
  const [leases, setLeases] = useState<LeaseView[]>([]);
  const [error, setError] = useState<string | undefined>();
  const [now, setNow] = useState(Date.now());

  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async (): Promise<void> => {
      try {
        const r = await call<{ leases?: { ID?: string }[] }>('lease/leases', {});
        const all = (r.leases ?? []).map((l) => l.ID ?? '0').sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
        const shown = all.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
        const views = await Promise.all(
          shown.map(async (id): Promise<LeaseView> => {
            const t = await call<{ TTL?: string; grantedTTL?: string; keys?: string[] }>('lease/timetolive', { ID: id, keys: true });
            return { id, ttl: num(t.TTL), granted: num(t.grantedTTL), keys: (t.keys ?? []).map(fromBase64), readAtMs: Date.now() };
          }),
        );
        if (!live) return;
        setIds(all);
        setLeases(views.filter((l) => l.ttl !== -1));
        setError(undefined);
      } catch (err) {
        if (live) setError(errorText(err));
      }
      if (live) timer = setTimeout(() => void load(), REFRESH_MS);
    };
    void load();
    const tick = setInterval(() => setNow(Date.now()), 1000);
    return () => {
      live = false;
      clearTimeout(timer);
      clearInterval(tick);
    };
  }, [page]);

  const pages = Math.max(1, Math.ceil((ids?.length ?? 0) / PAGE_SIZE));
  return (
    <section aria-labelledby="leases-title">
      <h1 id="leases-title">Leases</h1>
      <ErrorLine error={error} />
      {ids !== undefined && <p class="muted small">{ids.length} leases</p>}
      <div class="table-wrap card">
        <table aria-label="Leases">
          <thead>
            <tr>
              <th scope="col">Lease</th>
              <th scope="col">TTL left</th>
              <th scope="col">Granted TTL</th>
              <th scope="col">Keys</th>
            </tr>
          </thead>
          <tbody>
            {leases.map((l) => (
              <tr key={l.id} data-lease={leaseHex(l.id)}>
                <td>
                  <code>{leaseHex(l.id)}</code>
                </td>
                <td data-testid="ttl">{Math.max(0, l.ttl - Math.floor((now - l.readAtMs) / 1000))} s</td>
                <td>{l.granted} s</td>
                <td>
                  {l.keys.length === 0
                    ? 'none'
                    : l.keys.map((k) => (
                        <a key={keyText(k)} href={keyHref(k)} class="lease-key">
                          {keyText(k)}
                        </a>
                      ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {pages > 1 && (
        <div class="pager">
          <button type="button" disabled={page === 0} onClick={() => setPage(page - 1)}>
            ← Previous
          </button>
          <span class="muted small">
            Page {page + 1} of {pages}
          </span>
          <button type="button" disabled={page + 1 >= pages} onClick={() => setPage(page + 1)}>
            Next →
          </button>
        </div>
      )}
    </section>
  );
}
