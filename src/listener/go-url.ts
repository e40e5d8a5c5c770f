// Go's reading of a request target (net/url, net/http's ServeMux), so that the HTTP router
// matches, cleans, redirects and reads query parameters as etcd does. Pure functions, no I/O.

export interface RequestTarget {
  /** The path as sent ("*" for an asterisk-form target). */
  rawPath: string;
  /** The decoded path (Go's URL.Path). */
  path: string;
  /** The query as sent, without "?". */
  rawQuery: string;
}

/**
 * url.ParseRequestURI as Go's server applies it to the request line: origin form ("/a?b"),
 * absolute form ("http://host/a?b") or "*". undefined where Go answers 400 Bad Request.
 */
export function parseRequestTarget(target: string): RequestTarget | undefined {
  if (target === '*') return { rawPath: '*', path: '*', rawQuery: '' };
  let rest = target;
  if (!rest.startsWith('/')) {
    const abs = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?]*(.*)$/.exec(rest);
    if (abs === null) return undefined;
    rest = abs[1];
  }
  const q = rest.indexOf('?');
  const rawPath = q === -1 ? rest : rest.slice(0, q);
  const path = unescape(rawPath, false);
  return path === undefined ? undefined : { rawPath, path, rawQuery: q === -1 ? '' : rest.slice(q + 1) };
}

/**
 * URL.EscapedPath: the path as sent when that is a valid encoding, else Go's own escaping. Go
 * 1.22's ServeMux (etcd 3.5.17 is built with Go 1.22) cleans and matches this form.
 */
export function escapedPath(t: RequestTarget): string {
  return /^[A-Za-z0-9\-_.~!$&'()*+,;=:@[\]%/]*$/.test(t.rawPath) ? t.rawPath : escapePath(t.path);
}

/** The path's segments as Go 1.22's ServeMux matches them: each unescaped on its own. */
export function pathSegments(escaped: string): string[] {
  return escaped
    .split('/')
    .slice(1)
    .map((seg) => unescape(seg, false) ?? seg);
}

/** url.ParseQuery, keeping what parses: Go drops a pair with ";" or a bad escape. */
export function parseQuery(rawQuery: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const piece of rawQuery.split('&')) {
    if (piece === '' || piece.includes(';')) continue;
    const eq = piece.indexOf('=');
    const key = unescape(eq === -1 ? piece : piece.slice(0, eq), true);
    const value = unescape(eq === -1 ? '' : piece.slice(eq + 1), true);
    if (key === undefined || value === undefined) continue;
    const values = out.get(key);
    if (values === undefined) out.set(key, [value]);
    else values.push(value);
  }
  return out;
}

/** Go's %XX decoding: strict (a bad escape is an error); in a query "+" is a space. */
function unescape(s: string, query: boolean): string | undefined {
  if (!s.includes('%') && !(query && s.includes('+'))) return s;
  const bytes: number[] = [];
  const raw = Buffer.from(s, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === 0x25) {
      const hex = raw.subarray(i + 1, i + 3).toString('latin1');
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else bytes.push(query && c === 0x2b ? 0x20 : c);
  }
  return Buffer.from(bytes).toString('utf8');
}

/** net/http's cleanPath: path.Clean, rooted, keeping a trailing slash. */
export function cleanPath(p: string): string {
  if (p === '') return '/';
  const rooted = p.startsWith('/') ? p : `/${p}`;
  const out: string[] = [];
  for (const seg of rooted.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  const clean = `/${out.join('/')}`;
  return rooted.endsWith('/') && clean !== '/' ? `${clean}/` : clean;
}

/** url.URL's EscapedPath for a path Go builds itself (the target of a clean-path redirect). */
export function escapePath(p: string): string {
  let out = '';
  for (const b of Buffer.from(p, 'utf8')) {
    const ch = String.fromCharCode(b);
    out += /[A-Za-z0-9\-_.~$&+,/:;=@]/.test(ch) ? ch : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** html.EscapeString as http.Redirect applies it to the link in its body. */
export function htmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' })[c] ?? c);
}
