// The dashboard's frame: finds out whether auth is on (login form if so), what the user may do,
// and shows the page the URL names.
import { useEffect, useState } from 'preact/hooks';
import { authEnabled, EVERYTHING, loadRights, logout, type Rights } from '../lib/auth.js';
import { errorText } from '../lib/gateway.js';
import { parseRoute, type Route } from '../lib/router.js';
import { onSessionChange, session } from '../lib/session.js';
import { ClusterPage } from './ClusterPage.js';
import { ErrorLine, keyText } from './common.js';
import { KeyPage } from './KeyPage.js';
import { KeysPage } from './KeysPage.js';
import { LeasesPage } from './LeasesPage.js';
import { Login } from './Login.js';
import { UsersPage } from './UsersPage.js';
import { WatchPage } from './WatchPage.js';

type AuthState = { kind: 'checking' } | { kind: 'login' } | { kind: 'ready'; rights: Rights } | { kind: 'error'; message: string };

export function App() {
  const [route, setRoute] = useState<Route>(parseRoute(location.hash));
  const [auth, setAuth] = useState<AuthState>({ kind: 'checking' });
  const [sessionVersion, setSessionVersion] = useState(0);

  useEffect(() => {
    const onHash = (): void => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onHash);
    const off = onSessionChange(() => setSessionVersion((n) => n + 1));
    return () => {
      removeEventListener('hashchange', onHash);
      off();
    };
  }, []);

  useEffect(() => {
    let live = true;
    (async (): Promise<AuthState> => {
      // Logged in: the user's own rights (a token that is no longer valid ends the session and
      // this runs again). Otherwise AuthStatus: with auth on the server refuses it without a
      // token, which is the sign to show the login form.
      if (session() !== undefined) return { kind: 'ready', rights: await loadRights() };
      let enabled: boolean;
      try {
        enabled = await authEnabled();
      } catch {
        enabled = true;
      }
      return enabled ? { kind: 'login' } : { kind: 'ready', rights: EVERYTHING };
    })().then(
      (s) => live && setAuth(session() === undefined && s.kind === 'ready' && !s.rights.all ? { kind: 'login' } : s),
      (err: unknown) => live && setAuth(session() === undefined ? { kind: 'login' } : { kind: 'error', message: errorText(err) }),
    );
    return () => {
      live = false;
    };
  }, [sessionVersion]);

  useEffect(() => {
    document.title = `${titleOf(route)} · etcd-ts`;
  }, [route]);

  const rights = auth.kind === 'ready' ? auth.rights : undefined;
  const s = session();
  return (
    <>
      <header class="top">
        <a class="brand" href="#/keys/">
          etcd-ts
        </a>
        <nav aria-label="Pages">
          <a href="#/keys/" aria-current={route.page === 'keys' || route.page === 'key' ? 'page' : undefined}>
            Keys
          </a>
          <a href="#/watch/" aria-current={route.page === 'watch' ? 'page' : undefined}>
            Watch
          </a>
          <a href="#/cluster" aria-current={route.page === 'cluster' ? 'page' : undefined}>
            Cluster
          </a>
          <a href="#/leases" aria-current={route.page === 'leases' ? 'page' : undefined}>
            Leases
          </a>
          {rights !== undefined && !rights.all && rights.root && (
            <a href="#/users" aria-current={route.page === 'users' ? 'page' : undefined}>
              Users
            </a>
          )}
        </nav>
        {s !== undefined && (
          <div class="who">
            <span data-testid="user">{s.user}</span>
            <button type="button" onClick={logout}>
              Log out
            </button>
          </div>
        )}
      </header>
      <main id="main">
        {auth.kind === 'checking' && <p class="muted">Connecting…</p>}
        {auth.kind === 'login' && <Login />}
        {auth.kind === 'error' && <ErrorLine error={auth.message} />}
        {rights !== undefined && <Page route={route} rights={rights} />}
      </main>
    </>
  );
}

function Page({ route, rights }: { route: Route; rights: Rights }) {
  switch (route.page) {
    case 'keys':
      return <KeysPage key={keyText(route.prefix)} prefix={route.prefix} rights={rights} />;
    case 'key':
      return <KeyPage key={keyText(route.key)} keyBytes={route.key} rights={rights} />;
    case 'watch':
      return <WatchPage key={route.prefix === undefined ? '' : keyText(route.prefix)} prefix={route.prefix} />;
    case 'cluster':
      return <ClusterPage rights={rights} />;
    case 'leases':
      return <LeasesPage />;
    case 'users':
      return rights.all || rights.root ? <UsersPage /> : <p class="error">Only root can read users and roles.</p>;
  }
}

function titleOf(r: Route): string {
  switch (r.page) {
    case 'keys':
      return `Keys ${keyText(r.prefix)}`;
    case 'key':
      return keyText(r.key);
    case 'watch':
      return 'Watch';
    case 'cluster':
      return 'Cluster';
    case 'leases':
      return 'Leases';
    case 'users':
      return 'Users and roles';
  }
}
