// The login form shown when auth is on and nobody is logged in (Authenticate). A refusal shows
// the server's message.
import { useState } from 'preact/hooks';
import { login } from '../lib/auth.js';
import { errorText } from '../lib/gateway.js';
import { ErrorLine } from './common.js';

export function Login() {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await login(user, password);
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };
  return (
    <form class="login card" onSubmit={submit} aria-label="Log in">
      <h1>Log in</h1>
      <p class="muted">Authentication is enabled on this cluster.</p>
      <label>
        User
        <input name="user" autocomplete="username" value={user} onInput={(e) => setUser(e.currentTarget.value)} required autofocus />
      </label>
      <label>
        Password
        <input name="password" type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
      </label>
      <ErrorLine error={error} />
      <button type="submit" class="primary" disabled={busy}>
        Log in
      </button>
    </form>
  );
}
