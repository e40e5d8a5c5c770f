// Writes HTTP/1.x replies byte for byte as Go's net/http server writes them, because etcd is a Go
// program and probes, scripts and tests compare what they get. Go writes the handler's header map
// sorted by name (Header.WriteSubset), then the headers the server adds, in its order: Date,
// Content-Length, a sniffed Content-Type, Connection (then Transfer-Encoding). Node's own habits
// (`Connection: keep-alive` and `Keep-Alive: timeout=5` on every reply) are switched off here;
// node still parses, frames the body and keeps the connection alive or closes it.
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface Reply {
  status: number;
  /** The handler's header map (Go's w.Header()), names in canonical form. */
  header: ReadonlyArray<readonly [string, string]>;
  body: string;
}

/** Go buffers this much of a reply before it must choose between Content-Length and chunked. */
const GO_BUFFER_BEFORE_CHUNKING_BYTES = 2048;

/** Go's http.Error: plain text, nosniff, the message and a newline. */
export function httpError(message: string, status: number, header: ReadonlyArray<readonly [string, string]> = []): Reply {
  return {
    status,
    header: [...header, ['Content-Type', 'text/plain; charset=utf-8'], ['X-Content-Type-Options', 'nosniff']],
    body: `${message}\n`,
  };
}

/** Go's http.NotFound. */
export function notFound(): Reply {
  return httpError('404 page not found', 404);
}

/** Go's allowMethod / the health handlers' refusal of anything but GET. */
export function methodNotAllowed(): Reply {
  return httpError('Method Not Allowed', 405, [['Allow', 'GET']]);
}

/**
 * Writes `reply` as Go would. `closeAfter`: the server, not the client, wants the connection
 * closed after this reply (Go's closeAfterReply: an unread request body, a refused Expect).
 */
export function writeReply(req: IncomingMessage, res: ServerResponse, reply: Reply, closeAfter: boolean): void {
  if (res.destroyed || res.headersSent) return;
  const head = req.method === 'HEAD';
  const http10 = req.httpVersionMajor === 1 && req.httpVersionMinor === 0;
  const bodyBytes = Buffer.byteLength(reply.body);
  const bodyAllowed = reply.status >= 200 && reply.status !== 204 && reply.status !== 304;
  const has = (name: string): boolean => reply.header.some(([k]) => k.toLowerCase() === name);

  // Go knows the length when the whole body fit its buffer (and, for HEAD, something was written).
  const withLength = bodyAllowed && bodyBytes <= GO_BUFFER_BEFORE_CHUNKING_BYTES && (!head || bodyBytes > 0) && !has('content-length');
  // HTTP/1.0 cannot be chunked: without a length Go closes the connection to end the body.
  const close = closeAfter || !res.shouldKeepAlive || (http10 && !withLength && bodyAllowed);

  res.sendDate = false;
  for (const [k, v] of [...reply.header].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) res.setHeader(k, v);
  if (!has('date')) res.setHeader('Date', new Date().toUTCString());
  if (withLength) res.setHeader('Content-Length', String(bodyBytes));
  if (!has('content-type') && bodyAllowed && bodyBytes > 0) res.setHeader('Content-Type', sniffContentType(reply.body));
  if (!has('connection')) {
    if (close && !http10) res.setHeader('Connection', 'close');
    else if (!close && http10) res.setHeader('Connection', 'keep-alive');
    else {
      // No header, as Go: HTTP/1.1 stays open by default, HTTP/1.0 closes by default.
      res.removeHeader('Connection');
      if (close) res.once('finish', () => res.socket?.end());
    }
  }
  res.writeHead(reply.status);
  if (withLength || !bodyAllowed) res.end(bodyAllowed ? reply.body : undefined);
  else {
    // Past Go's buffer the length is not known up front: chunked (HTTP/1.1), as Go does.
    res.write(reply.body);
    res.end();
  }
}

/**
 * Go's http.DetectContentType for what our handlers write without a Content-Type: text. Go
 * recognises more signatures (HTML, images, archives); no handler here writes those untyped.
 */
export function sniffContentType(body: string): string {
  return /[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]/.test(body) ? 'application/octet-stream' : 'text/plain; charset=utf-8';
}

/** encoding/json's string encoding: HTML-safe (<, >, & escaped), lower-case \u escapes. */
export function goJsonString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (c < 0x20 || ch === '<' || ch === '>' || ch === '&' || c === 0x2028 || c === 0x2029) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else if (c >= 0xd800 && c <= 0xdfff) out += '\ufffd'; // a lone surrogate: Go writes invalid UTF-8 as U+FFFD
    else out += ch;
  }
  return `${out}"`;
}
