// Serves the web dashboard's static files (built by scripts/build-ui.ts into dist/ui/) under
// "/ui/" on the client listeners. The dashboard is a client of the HTTP/JSON gateway only: this
// handler never reads or writes member state, it hands out files.
// Safety: only GET and HEAD; a path is decoded, refused if any segment is "." or ".." or holds a
// backslash or NUL, then looked up among the files read from the root (once): a request never
// names a path on the disk, so nothing outside the root can be reached.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { constants as http2Constants, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { extname, join, resolve } from 'node:path';
import type { SubtreeHandler } from '../listener/http-router';

type Header = ReadonlyArray<readonly [string, string]>;

/** Where the build puts the dashboard (dist/ui/, next to dist/src/). */
export const UI_ROOT = resolve(__dirname, '../../ui');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

/** The dashboard holds a token and edits keys: no framing by other sites, no sniffing. */
const SECURITY_HEADERS: Header = [
  ['X-Content-Type-Options', 'nosniff'],
  ['X-Frame-Options', 'DENY'],
  ['Referrer-Policy', 'no-referrer'],
];

/** A bound on what is read into memory; the built dashboard is ~200 KB. */
const MAX_TOTAL_BYTES = 16 * 1024 * 1024;

interface StaticFile {
  body: Buffer;
  contentType: string;
}

interface Answer {
  status: number;
  header: Header;
  body: Buffer;
}

export class UiHandler implements SubtreeHandler {
  readonly roots = ['/ui/'];
  private loaded: ReadonlyMap<string, StaticFile> | undefined;

  /**
   * Every file under `root` is read once (relative path -> body), at the first request rather than
   * at start (a member serves its first Get ~5 ms sooner): requests never touch the disk after.
   */
  constructor(private readonly root: string = UI_ROOT) {}

  private get files(): ReadonlyMap<string, StaticFile> {
    return (this.loaded ??= loadFiles(this.root));
  }

  claims(path: string): boolean {
    return path.startsWith('/ui/');
  }

  serve(req: IncomingMessage, res: ServerResponse, path: string, cors: Header, closeAfter: boolean): void {
    const a = this.answer(req.method ?? 'GET', path);
    res.sendDate = true;
    for (const [k, v] of [...cors, ...a.header]) res.setHeader(k, v);
    res.setHeader('Content-Length', String(a.body.length));
    if (closeAfter) res.setHeader('Connection', 'close');
    res.writeHead(a.status);
    res.end(req.method === 'HEAD' ? undefined : a.body);
  }

  serveHttp2(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, path: string, cors: Header): void {
    const method = String(headers[http2Constants.HTTP2_HEADER_METHOD] ?? 'GET');
    const a = this.answer(method, path);
    const out: Record<string, string | number> = { ':status': a.status, 'content-length': a.body.length };
    for (const [k, v] of [...cors, ...a.header]) out[k.toLowerCase()] = v;
    if (stream.destroyed) return;
    stream.respond(out);
    stream.end(method === 'HEAD' ? undefined : a.body);
  }

  /** The reply to `method` on `path` (clean and escaped, as the router hands it). */
  answer(method: string, path: string): Answer {
    if (method !== 'GET' && method !== 'HEAD') return text(405, 'Method Not Allowed', [['Allow', 'GET, HEAD']]);
    const rel = relativePath(path.slice('/ui/'.length));
    const file = rel === undefined ? undefined : this.files.get(rel === '' ? 'index.html' : rel);
    if (file === undefined) {
      if (rel === '' || rel === 'index.html') return text(404, 'the dashboard is not built: run `npm run build`');
      return text(404, '404 page not found');
    }
    // The files are not content-hashed: the browser asks again each time (cheap: they are in memory).
    return { status: 200, header: [['Content-Type', file.contentType], ['Cache-Control', 'no-cache'], ...SECURITY_HEADERS], body: file.body };
  }
}

/** The decoded relative path, or undefined when it is not a plain path inside the root. */
function relativePath(escaped: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(escaped);
  } catch {
    return undefined;
  }
  if (decoded === '') return '';
  const segments = decoded.split('/');
  for (const s of segments) if (s === '' || s === '.' || s === '..' || s.includes('\\') || s.includes('\0')) return undefined;
  return segments.join('/');
}

function text(status: number, message: string, extra: Header = []): Answer {
  return { status, header: [...extra, ['Content-Type', 'text/plain; charset=utf-8'], ...SECURITY_HEADERS], body: Buffer.from(`${message}\n`) };
}

function loadFiles(root: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  let total = 0;
  const walk = (dir: string, rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return; // not built: every request answers 404 saying so
    }
    for (const name of names.sort()) {
      const path = join(dir, name);
      const st = statSync(path);
      const relPath = rel === '' ? name : `${rel}/${name}`;
      if (st.isDirectory()) walk(path, relPath);
      else if (st.isFile() && CONTENT_TYPES[extname(name)] !== undefined) {
        // Past the bound a file is not read: it answers 404, as a file not built does.
        if (total + st.size > MAX_TOTAL_BYTES) continue;
        total += st.size;
        files.set(relPath, { body: readFileSync(path), contentType: CONTENT_TYPES[extname(name)] });
      }
    }
  };
  walk(root, '');
  return files;
}
