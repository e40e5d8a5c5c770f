// The first step of every client connection: look at its first bytes, then hand it on: HTTP/2
// to grpc-js, anything else ('other') to the HTTP/1.x side (http-connections.ts, which applies
// cmux's own HTTP/1 test), one port for both, as etcd does with cmux.
//
// For HTTP/2 it also settles, before Node's session exists, whether the connection needs its
// :authority rewritten (authority.ts). grpc-go sends its first HEADERS only after the server's
// SETTINGS, so the listener sends an empty SETTINGS itself and reads until the client's first
// header block and its ACK of that SETTINGS have arrived. Then:
//  - the authority is fine: the bytes go back into the socket (minus that ACK) and the socket
//    itself is handed on; Node's session reads what is buffered first, and the native fast
//    path stays for every normal client;
//  - it is not: the connection is served through a RewritingConnection for its lifetime.
// Waiting is bounded in bytes and time. Past the bound a connection whose ACK has arrived is
// handed on natively (a later refused :authority would then fail as it did before); one whose
// ACK has not is served through the rewriter, which still has an ACK to drop. The time bound
// starts with the first byte: a connection that has sent nothing has not said whether it is
// HTTP/2 or HTTP/1.x (a pooled HTTP/1.1 client may open it well before its first request),
// and, as with cmux, it waits unserved and costs no buffer until it speaks or closes.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { AuthorityRewriter } from './authority-rewriter';
import { CLIENT_PREFACE, EMPTY_SETTINGS, FRAME_HEADER_BYTES } from './http2-frames';
import { RewritingConnection } from './rewriting-connection';

export interface SniffLimits {
  maxBytes: number;
  maxWaitMs: number;
}

export const DEFAULT_SNIFF_LIMITS: SniffLimits = { maxBytes: 64 * 1024, maxWaitMs: 250 };

export interface Sniffed {
  /** 'other': the first bytes are not (the start of) the HTTP/2 client preface. */
  protocol: 'http2' | 'other';
  /** What to serve: the socket itself, or a rewriting stream over it. */
  connection: Duplex;
  /**
   * HTTP/2: whether the first request asks for gRPC by its Content-Type (grpc-match.ts); true
   * when that is not known (bounds reached first). A TLS listener serves the others HTTP.
   */
  grpc: boolean;
}

/** Reads the connection's first bytes and calls `handOn` once, unless the client goes first. */
export function sniffConnection(socket: Socket, log: Logger, handOn: (s: Sniffed) => void, limits: SniffLimits = DEFAULT_SNIFF_LIMITS): void {
  const started = Date.now();
  const remote = (): string => `${socket.remoteAddress}:${socket.remotePort}`;
  const chunks: Buffer[] = [];
  let have = 0;
  let rewriter: AuthorityRewriter | undefined;
  const rewritten: Buffer[] = [];

  let timer: NodeJS.Timeout | undefined;

  const stop = (): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onGone);
    socket.off('close', onGone);
    socket.off('error', onError);
  };

  const native = (protocol: Sniffed['protocol']): void => {
    stop();
    socket.pause();
    const raw = Buffer.concat(chunks);
    const ack = rewriter?.ackDroppedAt;
    const bytes = ack === undefined ? raw : Buffer.concat([raw.subarray(0, ack), raw.subarray(ack + FRAME_HEADER_BYTES)]);
    if (bytes.length > 0) socket.unshift(bytes);
    log.debug({ remote: remote(), protocol, ms: Date.now() - started }, 'client connection handed on');
    handOn({ protocol, connection: socket, grpc: rewriter?.firstRequestGrpc ?? true });
  };

  const rewriting = (r: AuthorityRewriter): void => {
    stop();
    log.debug({ remote: remote(), protocol: 'http2', ms: Date.now() - started, rewrites: r.rewrites }, 'client connection handed on, with its :authority rewritten');
    handOn({ protocol: 'http2', connection: new RewritingConnection(socket, r, rewritten), grpc: r.firstRequestGrpc ?? true });
  };

  const onData = (chunk: Buffer): void => {
    try {
      look(chunk);
    } catch (err) {
      // Whatever a client sends costs it its connection, never the member.
      log.error({ err, remote: remote() }, 'client connection dropped: reading its first bytes failed');
      onGone();
    }
  };

  const look = (chunk: Buffer): void => {
    timer ??= setTimeout(onLimit, limits.maxWaitMs);
    chunks.push(chunk);
    have += chunk.length;
    if (rewriter === undefined) {
      const head = chunks.length === 1 ? chunk : Buffer.concat(chunks);
      const n = Math.min(head.length, CLIENT_PREFACE.length);
      if (!head.subarray(0, n).equals(CLIENT_PREFACE.subarray(0, n))) return native('other');
      if (n < CLIENT_PREFACE.length) return;
      socket.write(EMPTY_SETTINGS);
      rewriter = new AuthorityRewriter();
      rewritten.push(...rewriter.push(head));
    } else {
      rewritten.push(...rewriter.push(chunk));
    }
    if (rewriter.rewrites > 0) return rewriting(rewriter);
    if (rewriter.ackDroppedAt !== undefined && rewriter.headerBlocks > 0) return native('http2');
    if (have >= limits.maxBytes) onLimit();
  };

  const onLimit = (): void => {
    // Part of the preface: nothing says it is not HTTP/2.
    if (rewriter === undefined) native('http2');
    else if (rewriter.ackDroppedAt !== undefined) native('http2');
    else rewriting(rewriter);
  };

  const onGone = (): void => {
    stop();
    socket.destroy();
  };

  const onError = (err: Error): void => {
    log.debug({ err }, 'client connection failed before it was served');
    onGone();
  };

  socket.on('data', onData);
  socket.on('end', onGone);
  socket.on('close', onGone);
  socket.on('error', onError);
}
