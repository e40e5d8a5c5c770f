// The member's HTTP router for HTTP/1.x requests on a client listener: etcd's accessController
// (server/embed/serve.go) in front of Go's ServeMux, as etcd 3.5 stacks them. The controller adds
// the CORS headers (etcd's default --cors is "*") to every handled reply and answers any OPTIONS
// request itself; the mux answers "*" targets, redirects unclean paths, and 404s what no route
// claims. Routes are exact paths, as etcd registers /health, /version, ...; a route answers with a
// Reply and never touches the connection (writing it, Go's way, is go-reply.ts's job).
//
// Subtree handlers (the gateway's "/v3/") get the request and reply themselves (they read
// bodies and stream), over HTTP/1.x (serve()) and HTTP/2 (serveHttp2()). A subtree's root named
// without its trailing slash ("/v3") is redirected to it, as Go's mux does for a pattern "/v3/".
//
// Not yet: --host-whitelist (etcd's default "*" admits every Host, as here), a --cors list other
// than "*".
import type { IncomingMessage, ServerResponse } from 'node:http';
import { constants as http2Constants, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Logger } from 'pino';
import { notFound, writeReply, type Reply } from './go-reply';
import { cleanPath, escapedPath, escapePath, htmlEscape, parseQuery, pathSegments, type RequestTarget } from './go-url';

export interface RouteRequest {
  method: string;
  /** Query parameters as Go's r.URL.Query() has them: values in order, bad pairs dropped. */
  query: Map<string, string[]>;
}

export type RouteHandler = (r: RouteRequest) => Reply | Promise<Reply>;

type Header = ReadonlyArray<readonly [string, string]>;

/** A handler of a subtree that writes its own reply; `cors`: the access controller's headers. */
export interface SubtreeHandler {
  /** The patterns it stands for in Go's mux (e.g. "/v3/"): each is redirected to from its path without the slash. */
  readonly roots: readonly string[];
  claims(cleanPath: string): boolean;
  serve(req: IncomingMessage, res: ServerResponse, cleanPath: string, cors: Header, closeAfter: boolean): void;
  serveHttp2(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, cleanPath: string, cors: Header): void;
}

/** What etcd's accessController adds with the default --cors "*" (Header().Add order). */
const CORS_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['Access-Control-Allow-Methods', 'POST, GET, OPTIONS, PUT, DELETE'],
  ['Access-Control-Allow-Origin', '*'],
  ['Access-Control-Allow-Headers', 'accept, content-type, authorization'],
];

export class HttpRouter {
  /** Exact routes, keyed by their path segments (Go 1.22 matches segment by segment). */
  private readonly routes = new Map<string, RouteHandler>();
  private readonly subtrees: SubtreeHandler[] = [];

  /**
   * `accessControl` false: a bare mux, as etcd's metrics listeners (serveMetrics) have — no CORS
   * headers, and OPTIONS goes to the route like any other method.
   */
  constructor(
    private readonly log: Logger,
    private readonly accessControl = true,
  ) {}

  /** Registers an exact path, e.g. "/health". */
  handle(path: string, handler: RouteHandler): void {
    this.routes.set(JSON.stringify(pathSegments(path)), handler);
  }

  /** Registers a handler for the paths it claims (checked before the exact routes). */
  handleSubtree(handler: SubtreeHandler): void {
    this.subtrees.push(handler);
  }

  /**
   * Serves one parsed request. `closeAfter`: the connection layer wants the connection closed
   * after the reply (see http-connections.ts).
   */
  serve(req: IncomingMessage, res: ServerResponse, target: RequestTarget, closeAfter: boolean): void {
    const subtree = this.subtreeOf(req.method ?? 'GET', target);
    if (subtree !== undefined) {
      try {
        return subtree.handler.serve(req, res, subtree.path, CORS_HEADERS, closeAfter);
      } catch (err) {
        return this.failed(err, () => res.destroy());
      }
    }
    let reply: Reply | Promise<Reply>;
    try {
      reply = this.answer(req.method ?? 'GET', target, req.httpVersion === '1.0');
    } catch (err) {
      return this.failed(err, () => res.destroy());
    }
    if (!(reply instanceof Promise)) return writeReply(req, res, reply, closeAfter);
    reply.then(
      (r) => writeReply(req, res, r, closeAfter),
      (err: unknown) => this.failed(err, () => res.destroy()),
    );
  }

  /**
   * HTTP/2 (http2-requests.ts): a request a subtree handler claims is handed to it (true);
   * otherwise false, and answer() has the reply.
   */
  serveHttp2(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, method: string, target: RequestTarget): boolean {
    const subtree = this.subtreeOf(method, target);
    if (subtree === undefined) return false;
    try {
      subtree.handler.serveHttp2(stream, headers, subtree.path, CORS_HEADERS);
    } catch (err) {
      this.failed(err, () => stream.close(http2Constants.NGHTTP2_INTERNAL_ERROR));
    }
    return true;
  }

  /** The subtree handler of a clean path it claims (OPTIONS and CONNECT are the router's own). */
  private subtreeOf(method: string, target: RequestTarget): { handler: SubtreeHandler; path: string } | undefined {
    if (method === 'OPTIONS' || method === 'CONNECT' || target.path === '*' || this.subtrees.length === 0) return undefined;
    const escaped = escapedPath(target);
    if (cleanPath(escaped) !== escaped) return undefined;
    const handler = this.subtrees.find((s) => s.claims(escaped));
    return handler === undefined ? undefined : { handler, path: escaped };
  }

  /**
   * The reply to a request, whatever carries it (HTTP/1.x here, HTTP/2 on a TLS port:
   * http2-requests.ts). Throws, or rejects, when a handler fails.
   */
  answer(method: string, target: RequestTarget, http10: boolean): Reply | Promise<Reply> {
    // "OPTIONS *" is Go's server's own (globalOptionsHandler), before etcd sees the request.
    if (method === 'OPTIONS' && target.path === '*') return { status: 200, header: [['Content-Length', '0']], body: '' };
    const cors = this.accessControl ? (reply: Reply): Reply => ({ ...reply, header: [...CORS_HEADERS, ...reply.header] }) : (reply: Reply): Reply => reply;
    // The accessController answers OPTIONS before the mux, for every path.
    if (method === 'OPTIONS' && this.accessControl) return cors({ status: 200, header: [], body: '' });
    if (target.path === '*') return cors({ status: 400, header: http10 ? [] : [['Connection', 'close']], body: '' });

    const escaped = escapedPath(target);
    // CONNECT keeps its path as sent, as Go's mux does.
    const clean = method === 'CONNECT' ? escaped : cleanPath(escaped);
    if (clean !== escaped) return cors(redirect(method, escapePath(clean), target.rawQuery));
    // Go's mux: a path naming a registered subtree without its trailing slash ("/v3" for "/v3/").
    if (this.subtrees.some((s) => s.roots.includes(`${clean}/`))) return cors(redirect(method, `${clean}/`, target.rawQuery));
    const handler = this.routes.get(JSON.stringify(pathSegments(clean)));
    if (handler === undefined) return cors(notFound());
    const reply = handler({ method, query: parseQuery(target.rawQuery) });
    return reply instanceof Promise ? reply.then(cors) : cors(reply);
  }

  /** A handler that throws is a bug; as Go's server does with a panic, drop the connection (or stream). */
  failed(err: unknown, drop: () => void): void {
    this.log.error({ err }, 'http handler failed; connection dropped');
    drop();
  }
}

/** The mux's redirect to the cleaned path, via http.Redirect (301). */
function redirect(method: string, path: string, rawQuery: string): Reply {
  const url = rawQuery === '' ? path : `${path}?${rawQuery}`;
  const header: [string, string][] = [['Location', url]];
  if (method === 'GET' || method === 'HEAD') header.push(['Content-Type', 'text/html; charset=utf-8']);
  // http.Redirect writes its link only for GET; Fprintln adds the second newline.
  const body = method === 'GET' ? `<a href="${htmlEscape(url)}">Moved Permanently</a>.\n\n` : '';
  return { status: 301, header, body };
}
