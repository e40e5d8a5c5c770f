// The cluster: every member with its role, term, raft and applied index, db size and in use,
// health, alarms and leader changes; charts from each member's /metrics over the last minutes;
// the compacted revision and a compact button (admin). Polled every POLL_MS; the series and the
// leader log are bounded.
import { useEffect, useRef, useState } from 'preact/hooks';
import { formatBytes } from '../lib/bytes.js';
import type { Rights } from '../lib/auth.js';
import { pollCluster, roleOf, type ClusterView } from '../lib/cluster.js';
import { compactedRevision } from '../lib/compaction.js';
import { num } from '../lib/etcd-types.js';
import { errorText } from '../lib/gateway.js';
import { compact } from '../lib/kv.js';
import { addPoints, emptySeries, METRIC_NAMES, type MemberSeries, type Scrape } from '../lib/metrics.js';
import { Chart } from './Chart.js';
import { Confirm, ErrorLine } from './common.js';

const POLL_MS = 2000;
const MAX_LEADER_LOG = 20;

interface LeaderChange {
  atMs: number;
  from: string;
  to: string;
}

export function ClusterPage({ rights }: { rights: Rights }) {
  const [view, setView] = useState<ClusterView | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [, setTick] = useState(0);
  const series = useRef(new Map<string, MemberSeries>());
  const lastScrape = useRef(new Map<string, Scrape>());
  const leaderLog = useRef<LeaderChange[]>([]);
  const lastLeader = useRef('');

  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async (): Promise<void> => {
      try {
        const v = await pollCluster();
        if (!live) return;
        for (const m of v.members) {
          if (m.scrape === undefined) continue;
          const prev = lastScrape.current.get(m.id);
          if (prev !== undefined) {
            const s = series.current.get(m.id) ?? emptySeries();
            addPoints(s, prev, m.scrape);
            series.current.set(m.id, s);
          }
          lastScrape.current.set(m.id, m.scrape);
        }
        if (v.leader !== '' && v.leader !== lastLeader.current) {
          if (lastLeader.current !== '') leaderLog.current = [{ atMs: v.atMs, from: lastLeader.current, to: v.leader }, ...leaderLog.current].slice(0, MAX_LEADER_LOG);
          lastLeader.current = v.leader;
        }
        setView(v);
        setError(undefined);
      } catch (err) {
        if (live) setError(errorText(err));
      }
      setTick((t) => t + 1);
      if (live) timer = setTimeout(() => void poll(), POLL_MS);
    };
    void poll();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, []);

  const nameOf = (id: string): string => view?.members.find((m) => m.id === id)?.name || id;
  const lines = (pick: (s: MemberSeries) => MemberSeries[keyof MemberSeries]) =>
    (view?.members ?? []).map((m) => ({ label: m.name || m.id, points: pick(series.current.get(m.id) ?? emptySeries()) }));
  const leaders = (view?.members ?? []).filter((m) => roleOf(m) === 'leader');

  return (
    <section aria-labelledby="cluster-title">
      <h1 id="cluster-title">Cluster</h1>
      <ErrorLine error={error} />
      {view !== undefined && (
        <>
          <p data-testid="leader-line">
            Leader: <strong data-testid="leader-name">{leaders.length === 1 ? leaders[0].name : view.leader === '' ? 'none' : nameOf(view.leader)}</strong>
            <span class="muted small"> · {view.members.length} members · updated {new Date(view.atMs).toLocaleTimeString()}</span>
          </p>
          <div class="table-wrap card">
            <table class="members" aria-label="Members">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Role</th>
                  <th scope="col">Health</th>
                  <th scope="col">Term</th>
                  <th scope="col">Raft index</th>
                  <th scope="col">Applied</th>
                  <th scope="col">DB size</th>
                  <th scope="col">In use</th>
                  <th scope="col">Leader changes</th>
                  <th scope="col">Client URL</th>
                </tr>
              </thead>
              <tbody>
                {view.members.map((m) => {
                  const role = roleOf(m);
                  return (
                    <tr key={m.id} data-member={m.name} data-role={role}>
                      <td>{m.name || m.id}</td>
                      <td>
                        <span class={`badge ${role}`}>{role}</span>
                      </td>
                      <td>{m.healthy === undefined ? '—' : m.healthy ? 'healthy' : 'unhealthy'}</td>
                      <td>{m.status?.raftTerm ?? '—'}</td>
                      <td>{m.status?.raftIndex ?? '—'}</td>
                      <td>{m.status?.raftAppliedIndex ?? '—'}</td>
                      <td>{m.status === undefined ? '—' : formatBytes(num(m.status.dbSize))}</td>
                      <td>{m.status === undefined ? '—' : formatBytes(num(m.status.dbSizeInUse))}</td>
                      <td>{m.scrape?.values.get(METRIC_NAMES.leaderChanges) ?? '—'}</td>
                      <td class="small">{m.clientUrl ?? '—'}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          {view.members.some((m) => m.error !== undefined) && (
            <ul class="muted small">
              {view.members
                .filter((m) => m.error !== undefined)
                .map((m) => (
                  <li key={m.id}>
                    {m.name || m.id}: {m.error}
                  </li>
                ))}
            </ul>
          )}
          <h2>Alarms</h2>
          {view.alarmsError !== undefined ? (
            <p class="muted">Alarms not readable: {view.alarmsError}</p>
          ) : view.alarms.length === 0 ? (
            <p data-testid="alarms">No alarms.</p>
          ) : (
            <ul data-testid="alarms">
              {view.alarms.map((a, i) => (
                <li key={i} class="error">
                  {a.alarm} on {nameOf(a.memberID ?? '')}
                </li>
              ))}
            </ul>
          )}
          <h2>Leader changes</h2>
          {leaderLog.current.length === 0 ? (
            <p class="muted">None seen since this page opened.</p>
          ) : (
            <ul data-testid="leader-log">
              {leaderLog.current.map((c) => (
                <li key={c.atMs}>
                  {new Date(c.atMs).toLocaleTimeString()}: {nameOf(c.from)} → {nameOf(c.to)}
                </li>
              ))}
            </ul>
          )}
          <h2>Last minutes</h2>
          <div class="charts">
            <Chart title="Writes" unit="per second" lines={lines((s) => s.writesPerSec)} />
            <Chart title="Reads" unit="per second" lines={lines((s) => s.readsPerSec)} />
            <Chart title="WAL fsync" unit="ms, mean" lines={lines((s) => s.fsyncMs)} />
            <Chart title="Apply" unit="ms, mean" lines={lines((s) => s.applyMs)} />
            <Chart title="Watchers" unit="count" lines={lines((s) => s.watchers)} />
          </div>
          {(rights.all || rights.root) && <Compaction />}
        </>
      )}
    </section>
  );
}

function Compaction() {
  const [state, setState] = useState<{ compacted: number; head: number } | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [target, setTarget] = useState('');
  const [confirming, setConfirming] = useState(false);
  const [reload, setReload] = useState(0);
  useEffect(() => {
    compactedRevision().then(
      (s) => (setState(s), setTarget(String(s.head))),
      (err: unknown) => setError(errorText(err)),
    );
  }, [reload]);
  return (
    <div class="card compaction">
      <h2>Compaction</h2>
      <ErrorLine error={error} />
      {state !== undefined && (
        <p data-testid="compaction">
          Compacted revision: <strong>{state.compacted === 0 ? 'none' : state.compacted}</strong> · current revision {state.head}
        </p>
      )}
      <form
        class="search"
        onSubmit={(e) => {
          e.preventDefault();
          setConfirming(true);
        }}
      >
        <input aria-label="Compact up to revision" inputMode="numeric" value={target} onInput={(e) => setTarget(e.currentTarget.value)} />
        <button type="submit" class="danger">
          Compact
        </button>
      </form>
      {confirming && (
        <Confirm
          title="Compact the history?"
          confirmLabel="Compact"
          danger
          onCancel={() => setConfirming(false)}
          onConfirm={() => {
            setConfirming(false);
            setError(undefined);
            compact(Number(target)).then(
              () => setReload((n) => n + 1),
              (err: unknown) => setError(errorText(err)),
            );
          }}
        >
          <p>Every version older than revision {target} that is no longer current is deleted, on every member. This cannot be undone.</p>
        </Confirm>
      )}
    </div>
  );
}
