// Who the dashboard acts as: the auth token from Authenticate (kept for this tab only, in
// sessionStorage, so a reload stays logged in and closing the tab forgets it) and the user's name.

export interface Session {
  user: string;
  token: string;
}

const KEY = 'etcd-ts-ui-session';
const listeners = new Set<() => void>();

let current: Session | undefined = read();

function read(): Session | undefined {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (raw === null) return undefined;
    const v: unknown = JSON.parse(raw);
    if (typeof v === 'object' && v !== null && 'user' in v && 'token' in v && typeof v.user === 'string' && typeof v.token === 'string') return { user: v.user, token: v.token };
  } catch {
    // storage unavailable or spoiled: not logged in
  }
  return undefined;
}

export const session = (): Session | undefined => current;

export function setSession(s: Session | undefined): void {
  current = s;
  try {
    if (s === undefined) sessionStorage.removeItem(KEY);
    else sessionStorage.setItem(KEY, JSON.stringify(s));
  } catch {
    // the session then lasts as long as the page
  }
  for (const l of listeners) l();
}

export function onSessionChange(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}
