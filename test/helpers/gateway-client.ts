// HTTP/JSON gateway clients for tests: curl (as scripts use the gateway), node's http for streams
// whose request body stays open, and the normalisation that lets etcd-ts and etcd bodies compare.
import { execFile } from 'node:child_process';
import http from 'node:http';

export interface GwReply {
  status: number;
  contentType: string;
  body: string;
}

/** POSTs `body` with curl; `-w` appends the status and content type after the body. */
export function curl(endpoint: string, path: string, body?: string, headers: Record<string, string> = {}, method = 'POST'): Promise<GwReply> {
  const args = ['-s', '-X', method, '-w', '\n%{http_code} %{content_type}', `http://${endpoint}${path}`];
  // The body on stdin: any size, no argument limit.
  if (body !== undefined) args.push('--data-binary', '@-');
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  return new Promise((resolve, reject) => {
    const child = execFile('curl', args, { timeout: 10_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => {
      if (err) return reject(err);
      const cut = stdout.lastIndexOf('\n');
      const [status, contentType] = stdout.slice(cut + 1).split(' ');
      resolve({ status: Number(status), contentType: contentType ?? '', body: stdout.slice(0, cut) });
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(body ?? '');
  });
}

/** A gateway stream whose request body stays open: send() messages, read NDJSON lines. */
export interface GwStream {
  status: Promise<number>;
  lines: string[];
  send(msg: object): void;
  /** Ends the request body (half-close); the reply goes on. */
  end(): void;
  /** Resolves once `n` lines arrived (rejects after `timeoutMs`). */
  waitLines(n: number, timeoutMs?: number): Promise<string[]>;
  close(): void;
}

export function openStream(endpoint: string, path: string, headers: Record<string, string> = {}): GwStream {
  const [host, port] = endpoint.split(':');
  const lines: string[] = [];
  let partial = '';
  const waiters: Array<() => void> = [];
  const req = http.request({ host, port: Number(port), path, method: 'POST', headers: { 'Content-Type': 'application/json', ...headers } });
  const status = new Promise<number>((resolve, reject) => {
    req.on('response', (res) => {
      resolve(res.statusCode ?? 0);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        partial += chunk;
        const parts = partial.split('\n');
        partial = parts.pop() ?? '';
        lines.push(...parts.filter((l) => l !== ''));
        for (const w of waiters.splice(0)) w();
      });
      res.on('end', () => {
        if (partial !== '') lines.push(partial);
        partial = '';
        for (const w of waiters.splice(0)) w();
      });
    });
    req.on('error', reject);
  });
  req.flushHeaders();
  return {
    status,
    lines,
    send: (msg) => req.write(`${JSON.stringify(msg)}\n`),
    end: () => req.end(),
    waitLines: (n, timeoutMs = 5000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${n} lines, got ${JSON.stringify(lines)}`)), timeoutMs);
        const check = (): void => {
          if (lines.length >= n) {
            clearTimeout(timer);
            resolve(lines.slice(0, n));
          } else waiters.push(check);
        };
        check();
      }),
    close: () => req.destroy(),
  };
}

/**
 * A body with what differs by nature between two members blanked: the term, and (when asked)
 * lease IDs, versions, sizes and indexes of Status.
 */
export function normalize(body: string, extra: string[] = []): unknown {
  const blank = new Set(['raft_term', 'raftTerm', ...extra]);
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v !== 'object' || v === null) return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = blank.has(k) ? '*' : walk(x);
    return out;
  };
  return body
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => walk(JSON.parse(l) as unknown));
}

export const b64 = (s: string): string => Buffer.from(s).toString('base64');
