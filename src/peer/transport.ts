// Member-to-member transport over HTTP/2 on --listen-peer-urls. Each member keeps one long-lived
// POST stream to every peer and writes length-prefixed message batches on it (one batch per peer
// per Ready). Streams reconnect with backoff after failures; messages that cannot be sent are
// dropped, which Raft tolerates (it resends). A stream from a member of another cluster (wrong
// cluster ID) is refused. https:// listen URLs are served with the peer TLS (tls/terminator.ts:
// client certificates, allowed CNs, SANs against the remote address, as etcd's peer listener);
// every connection out goes through one PeerDialer (dialer.ts).
import { createWriteStream, rmSync } from 'node:fs';
import * as http2 from 'node:http2';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { hexId, type Message } from '../raft/types';
import { TlsCredentials } from '../tls/credentials';
import { TlsTerminator } from '../tls/terminator';
import { EMPTY_TLS_INFO, type TlsInfo } from '../tls/tls-info';
import { decodeBatch, encodeBatch } from './codec';
import { PeerDialer } from './dialer';
import { SessionLiveness, livenessFor, type LivenessOptions } from './liveness';
import { FrameReader } from './frame-reader';
import { goDuration, humanizeBytes } from './log-format';

const STREAM_PATH = '/raft/stream';
const SNAPSHOT_PATH = '/raft/snapshot';
const MEMBERS_PATH = '/members';
/**
 * POST /forward/<op>, JSON body: a member hands a request only the leader can serve to the
 * leader (learner promotion, lease renewal and time-to-live, as etcd forwards them).
 */
const FORWARD_PATH = '/forward/';
const FORWARD_TIMEOUT_MS = 10_000;
/** Largest snapshot accepted. */
const MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024 * 1024;
/** A snapshot stream that stops moving for this long is given up (the peer may be gone). */
const SNAPSHOT_IDLE_MS = 30_000;
const CLUSTER_HEADER = 'x-etcd-cluster-id';
const FROM_HEADER = 'x-etcd-from';
/** Bytes buffered on a peer stream beyond which new messages are dropped. */
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024;
/**
 * Frames queued while a peer stream connects (etcd's pipeline buffers 64 messages). Past it new
 * ones are dropped and raft sends again. Kept small: each queued heartbeat the peer answers at
 * once lets the leader send another probe with up to 1024 entries, so after a pause of the peer
 * a thousand queued frames came back as megabytes of duplicate appends.
 */
const MAX_QUEUED_FRAMES = 64;
/** Largest frame accepted (a batch of entries up to the request limit each). */
const MAX_FRAME_BYTES = 512 * 1024 * 1024;
const RECONNECT_MIN_MS = 50;
const RECONNECT_MAX_MS = 1000;

export interface TransportOptions {
  clusterId: string;
  selfId: string;
  listenUrls: string[];
  onMessage: (m: Message) => void;
  /** A snapshot message whose data arrived in full, spooled to the file at path (the callee removes it). */
  onSnapshot: (m: Message, path: string) => void;
  /** Where incoming snapshots are spooled. */
  snapshotDir: string;
  /** The membership record a joining member asks for (GET /members). */
  membersJson: () => string;
  /** A request another member forwarded (see FORWARD_PATH): resolves with a status and JSON body. */
  onForward: (op: string, body: string) => Promise<{ status: number; body: string }>;
  /** Bounds how long a silent peer connection is trusted (see liveness.ts). */
  electionTimeoutMs: number;
  log: Logger;
  /** The peer TLS (tls/prepare.ts), for the listener and the dialer. Absent: plaintext peers. */
  tls?: TlsInfo;
  /** Where round trips and dropped sends are counted, by peer ID in hex (etcd's "To" label). */
  metrics?: PeerMetrics;
}

export interface PeerMetrics {
  peerRoundTrip(to: string, seconds: number): void;
  peerSendFailed(to: string, frames: number): void;
}

/** Receive windows peers grant: a link with a long round trip still carries a snapshot at speed. */
const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
const SESSION_WINDOW_BYTES = 16 * 1024 * 1024;
const CLIENT_SETTINGS: http2.ClientSessionOptions = { settings: { initialWindowSize: STREAM_WINDOW_BYTES } };

class PeerStream {
  private session: http2.ClientHttp2Session | undefined;
  private stream: http2.ClientHttp2Stream | undefined;
  private liveness: SessionLiveness | undefined;
  private queue: Buffer[] = [];
  private backoffMs = RECONNECT_MIN_MS;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  /** The stream was accepted by the peer and has not failed since (for "became (in)active"). */
  private active = false;

  constructor(
    readonly id: string,
    private urls: string[],
    private readonly o: TransportOptions,
    private readonly live: LivenessOptions,
    private readonly dialer: PeerDialer,
  ) {}

  setUrls(urls: string[]): void {
    this.urls = urls;
  }

  /**
   * Streams a snapshot on its own short-lived stream: the message frame, then the chunks, pulled
   * one at a time as HTTP/2 flow control allows. Resolves with the bytes sent once the peer has
   * accepted them all; rejects when it refuses, the connection fails, or the peer goes silent.
   */
  async sendSnapshot(frame: Buffer, chunks: Iterator<Buffer>): Promise<number> {
    if (this.closed || this.urls.length === 0) throw new Error('no address for the peer');
    const session = this.dialer.connect(this.urls[0], CLIENT_SETTINGS);
    session.on('error', () => undefined);
    const stream = session.request({ ':method': 'POST', ':path': SNAPSHOT_PATH, [CLUSTER_HEADER]: this.o.clusterId, [FROM_HEADER]: this.o.selfId });
    let deadReason: string | undefined;
    const liveness = new SessionLiveness(session, this.live, (reason) => {
      deadReason = reason;
      stream.close(http2.constants.NGHTTP2_CANCEL);
    });
    const outcome = new Promise<void>((resolve, reject) => {
      stream.on('response', (headers) => {
        const status = Number(headers[':status']);
        if (status === 200) resolve();
        else reject(new Error(`peer answered ${status}`));
      });
      stream.on('error', reject);
      stream.on('close', () => reject(new Error(deadReason ?? 'snapshot stream closed')));
    });
    outcome.catch(() => undefined);
    let bytes = 0;
    try {
      liveness.write(stream, frame);
      for (let next = chunks.next(); !next.done; next = chunks.next()) {
        bytes += next.value.length;
        if (!liveness.write(stream, next.value)) await Promise.race([new Promise((resolve) => stream.once('drain', resolve)), outcome]);
        if (stream.destroyed) break;
      }
      stream.end();
      await outcome;
      return bytes;
    } finally {
      liveness.stop();
      stream.close();
      session.close();
    }
  }

  send(frame: Buffer): void {
    if (this.closed) return;
    const s = this.stream;
    if (s !== undefined && !s.destroyed && !s.closed && s.writable && this.liveness !== undefined) {
      if (s.writableLength > MAX_BUFFERED_BYTES) return this.sendFailed(); // peer too slow: drop, raft resends
      this.liveness.write(s, frame);
      return;
    }
    // A stream the peer reset can end up closed but never destroyed, with no 'close' event (a
    // reset while frames are buffered): drop the connection ourselves, or the peer is never
    // reached again.
    if (s !== undefined) this.dropSession('stream closed');
    if (this.queue.length < MAX_QUEUED_FRAMES) this.queue.push(frame);
    else this.sendFailed();
    this.connect();
  }

  /** Frames (batches of messages) for this peer dropped; etcd counts the messages it drops. */
  private sendFailed(frames = 1): void {
    if (frames > 0) this.o.metrics?.peerSendFailed(hexId(this.id), frames);
  }

  close(): void {
    this.closed = true;
    if (this.retry !== undefined) clearTimeout(this.retry);
    this.liveness?.stop();
    this.stream?.close();
    this.session?.destroy();
  }

  /** Gives the connection up (it failed, or went silent) and dials again after the backoff. */
  private dropSession(reason: string): void {
    const session = this.session;
    this.session = undefined;
    this.stream = undefined;
    this.liveness?.stop();
    this.liveness = undefined;
    session?.destroy();
    // What was queued for the dead connection is stale by the time a new one is up.
    this.sendFailed(this.queue.length);
    this.queue = [];
    if (this.active) {
      this.active = false;
      this.o.log.warn({ ...this.streamFields(), error: reason }, 'lost TCP streaming connection with remote peer');
      this.o.log.warn({ 'peer-id': hexId(this.id), error: reason }, 'peer became inactive (message send to peer failed)');
    } else {
      this.o.log.debug({ 'remote-peer-id': hexId(this.id), error: reason }, 'failed to dial remote peer');
    }
    this.scheduleRetry();
  }

  /** etcd's fields for the state of a peer stream. */
  private streamFields(): Record<string, string> {
    return { 'stream-writer-type': 'stream Message', 'local-member-id': hexId(this.o.selfId), 'remote-peer-id': hexId(this.id) };
  }

  private connect(): void {
    if (this.session !== undefined || this.retry !== undefined || this.closed || this.urls.length === 0) return;
    const url = this.urls[Math.floor(Math.random() * this.urls.length)];
    const session = this.dialer.connect(url, CLIENT_SETTINGS);
    this.session = session;
    // Events of a session already dropped must not disturb its successor.
    const current = (): boolean => this.session === session;
    const to = hexId(this.id);
    const metrics = this.o.metrics;
    this.liveness = new SessionLiveness(
      session,
      this.live,
      (reason) => {
        if (current()) this.dropSession(reason);
      },
      metrics === undefined ? undefined : (seconds) => metrics.peerRoundTrip(to, seconds),
    );
    let lastError = 'connection closed';
    session.on('error', (err) => (lastError = err.message));
    session.on('close', () => {
      if (current()) this.dropSession(lastError);
    });
    session.on('connect', () => {
      if (!current()) return;
      const stream = session.request({ ':method': 'POST', ':path': STREAM_PATH, [CLUSTER_HEADER]: this.o.clusterId, [FROM_HEADER]: this.o.selfId });
      this.stream = stream;
      // The peer sends nothing on this stream but its end; read it so that the end is noticed.
      stream.resume();
      stream.on('end', () => {
        if (current()) this.dropSession('the peer ended the stream');
      });
      stream.on('response', (headers) => {
        const status = Number(headers[':status']);
        if (status !== 200) {
          this.o.log.warn({ peer: this.id, status }, 'peer refused the raft stream (another cluster?)');
          if (current()) this.dropSession(`peer answered ${status}`);
          return;
        }
        this.backoffMs = RECONNECT_MIN_MS;
        if (!this.active) {
          this.active = true;
          this.o.log.info({ 'peer-id': hexId(this.id) }, 'peer became active');
          this.o.log.info(this.streamFields(), 'established TCP streaming connection with remote peer');
        }
      });
      stream.on('error', (err) => (lastError = err.message));
      stream.on('close', () => {
        if (current()) this.dropSession(lastError);
      });
      const liveness = this.liveness;
      for (const f of this.queue) liveness?.write(stream, f);
      this.queue = [];
    });
  }

  private scheduleRetry(): void {
    if (this.closed || this.retry !== undefined) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (this.queue.length > 0) this.connect();
    }, this.backoffMs);
    this.retry.unref();
    this.backoffMs = Math.min(RECONNECT_MAX_MS, this.backoffMs * 2);
  }
}

export class PeerTransport {
  private readonly servers: (http2.Http2Server | NetServer)[] = [];
  /** Connections of the TLS listeners, which no http2 server owns. */
  private readonly tlsSockets = new Set<Socket>();
  private readonly peers = new Map<string, PeerStream>();
  private readonly tls: TlsInfo;
  private readonly dialer: PeerDialer;
  private started = false;

  constructor(private readonly o: TransportOptions) {
    this.tls = o.tls ?? EMPTY_TLS_INFO;
    this.dialer = new PeerDialer(this.tls, o.log);
  }

  listening(): boolean {
    return this.started;
  }

  peerIds(): string[] {
    return [...this.peers.keys()];
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const url of this.o.listenUrls) {
      const u = new URL(url);
      const h2 = this.http2Server();
      // https://: our own TCP listener, the TLS handshake and etcd's checks, then the same
      // HTTP/2 server. (prepare.ts refused https:// without a certificate before the start.)
      const server = u.protocol === 'https:' ? this.tlsListener(h2) : h2;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(Number(u.port || 2380), u.hostname === 'localhost' ? '127.0.0.1' : u.hostname.replace(/^\[|\]$/g, ''), () => {
          server.off('error', reject);
          resolve();
        });
      });
      this.servers.push(server);
    }
  }

  private http2Server(): http2.Http2Server {
    const server = http2.createServer({ maxSessionMemory: 1024, settings: { initialWindowSize: STREAM_WINDOW_BYTES } });
    server.on('session', (session) => {
      session.setLocalWindowSize(SESSION_WINDOW_BYTES);
      // The dialer finds a dead connection and dials anew; this end must find it too, or what
      // a connection lost to a blackhole holds (its closing FIN lost with it) is never freed.
      new SessionLiveness(session, livenessFor(this.o.electionTimeoutMs), () => session.destroy());
    });
    server.on('stream', (stream, headers) => this.accept(stream, headers));
    server.on('sessionError', () => undefined);
    return server;
  }

  private tlsListener(h2: http2.Http2Server): NetServer {
    const terminator = new TlsTerminator(
      new TlsCredentials(this.tls, 'server'),
      { alpn: ['h2'], checkSan: true, rejectMessage: 'rejected connection on peer endpoint', log: this.o.log },
      (tlsSocket) => h2.emit('connection', tlsSocket),
    );
    return createNetServer({ noDelay: true }, (socket) => {
      this.tlsSockets.add(socket);
      socket.once('close', () => this.tlsSockets.delete(socket));
      socket.on('error', () => undefined);
      terminator.accept(socket);
    });
  }

  /** Sets (or updates) where a peer listens. */
  setPeer(id: string, urls: string[]): void {
    if (id === this.o.selfId) return;
    const p = this.peers.get(id);
    if (p !== undefined) p.setUrls(urls);
    else this.peers.set(id, new PeerStream(id, urls, this.o, livenessFor(this.o.electionTimeoutMs), this.dialer));
  }

  removePeer(id: string): void {
    this.peers.get(id)?.close();
    this.peers.delete(id);
  }

  /** Sends messages, one batch per destination. */
  send(messages: Message[]): void {
    const byPeer = new Map<string, Message[]>();
    for (const m of messages) {
      const list = byPeer.get(m.to);
      if (list === undefined) byPeer.set(m.to, [m]);
      else list.push(m);
    }
    for (const [to, list] of byPeer) {
      const peer = this.peers.get(to);
      if (peer === undefined) continue;
      peer.send(frameOf(encodeBatch({ clusterId: this.o.clusterId, from: this.o.selfId, messages: list })));
    }
  }

  /**
   * Streams a snapshot message and its data to m.to; resolves with the bytes sent. Logged as
   * etcd's rafthttp snapshot sender does (its size is known only once streamed).
   */
  async sendSnapshot(m: Message, chunks: Iterator<Buffer>): Promise<number> {
    const fields = { 'snapshot-index': m.snapshot?.index, 'remote-peer-id': hexId(m.to) };
    this.o.log.info(fields, 'sending database snapshot');
    try {
      const peer = this.peers.get(m.to);
      if (peer === undefined) throw new Error(`unknown peer ${m.to}`);
      const bytes = await peer.sendSnapshot(frameOf(encodeBatch({ clusterId: this.o.clusterId, from: this.o.selfId, messages: [m] })), chunks);
      this.o.log.info({ ...fields, bytes, size: humanizeBytes(bytes) }, 'sent database snapshot');
      return bytes;
    } catch (err) {
      this.o.log.warn({ ...fields, error: err instanceof Error ? err.message : String(err) }, 'failed to send database snapshot');
      throw err;
    }
  }

  /** Forwards a request to the member at urls (the leader); resolves with its answer. */
  async forward(urls: string[], op: string, body: string, timeoutMs = FORWARD_TIMEOUT_MS): Promise<{ status: number; body: string }> {
    let last: unknown = new Error('no peer URL');
    for (const url of urls) {
      try {
        return await postOnce(this.dialer, url, FORWARD_PATH + op, { [CLUSTER_HEADER]: this.o.clusterId, [FROM_HEADER]: this.o.selfId }, body, timeoutMs);
      } catch (err) {
        last = err;
      }
    }
    throw last;
  }

  async close(): Promise<void> {
    for (const p of this.peers.values()) p.close();
    this.peers.clear();
    for (const socket of this.tlsSockets) socket.destroy();
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            // Open peer sessions would hold close() forever.
            setTimeout(resolve, 200).unref();
          }),
      ),
    );
  }

  private accept(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const path = headers[':path'];
    if (path === MEMBERS_PATH && headers[':method'] === 'GET') {
      stream.respond({ ':status': 200, 'content-type': 'application/json' });
      stream.end(this.o.membersJson());
      return;
    }
    if (typeof path === 'string' && path.startsWith(FORWARD_PATH) && headers[':method'] === 'POST') {
      this.acceptForward(stream, path.slice(FORWARD_PATH.length), headers);
      return;
    }
    if ((path !== STREAM_PATH && path !== SNAPSHOT_PATH) || headers[':method'] !== 'POST') {
      stream.respond({ ':status': 404 });
      stream.end();
      return;
    }
    if (headers[CLUSTER_HEADER] !== this.o.clusterId) {
      this.o.log.warn({ from: headers[FROM_HEADER], 'remote-cluster-id': headers[CLUSTER_HEADER] }, 'refused a raft stream from another cluster');
      stream.respond({ ':status': 412 });
      stream.end();
      return;
    }
    if (path === SNAPSHOT_PATH) {
      this.acceptSnapshot(stream, hexId(String(headers[FROM_HEADER] ?? '')));
      return;
    }
    stream.respond({ ':status': 200 });
    const frames = new FrameReader(MAX_FRAME_BYTES);
    stream.on('data', (chunk: Buffer) => {
      let bodies: Buffer[];
      try {
        bodies = frames.push(chunk);
      } catch {
        stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
        return;
      }
      for (const body of bodies) {
        let batch;
        try {
          batch = decodeBatch(body);
        } catch {
          stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
          return;
        }
        if (batch.clusterId !== this.o.clusterId) continue;
        for (const m of batch.messages) if (m.to === this.o.selfId) this.o.onMessage(m);
      }
    });
    stream.on('error', () => undefined);
  }

  private acceptForward(stream: http2.ServerHttp2Stream, op: string, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    if (headers[CLUSTER_HEADER] !== this.o.clusterId) {
      stream.respond({ ':status': 412 });
      stream.end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_FRAME_BYTES) stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
      else chunks.push(c);
    });
    stream.on('end', () => {
      void this.o.onForward(op, Buffer.concat(chunks).toString('utf8')).then(({ status, body }) => {
        if (stream.destroyed) return;
        stream.respond({ ':status': status, 'content-type': 'application/json' });
        stream.end(body);
      });
    });
  }

  /** Reads the message frame, spools the data to a file, and hands both over once complete. */
  private acceptSnapshot(stream: http2.ServerHttp2Stream, from: string): void {
    const started = process.hrtime.bigint();
    const local = hexId(this.o.selfId);
    const path = join(this.o.snapshotDir, `${Date.now()}-${Math.random().toString(16).slice(2)}.part`);
    const file = createWriteStream(path);
    const head = new FrameReader(MAX_FRAME_BYTES);
    let message: Message | undefined;
    let size = 0;
    let failed = false;
    const refuse = (why: string): void => {
      if (failed) return;
      failed = true;
      // etcd's words for a message it could not read, and for data it could not save.
      if (message === undefined) this.o.log.warn({ 'local-member-id': local, 'remote-snapshot-sender-id': from, error: why }, 'failed to decode Raft message');
      else this.o.log.warn({ 'local-member-id': local, 'remote-snapshot-sender-id': from, 'incoming-snapshot-index': message.snapshot?.index, error: why }, 'failed to save incoming database snapshot');
      file.destroy();
      file.once('close', () => rmSync(path, { force: true }));
      if (!stream.headersSent && !stream.destroyed) stream.respond({ ':status': 400 });
      stream.close(http2.constants.NGHTTP2_CANCEL);
    };
    const write = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > MAX_SNAPSHOT_BYTES) return refuse('too large');
      if (!file.write(chunk)) {
        stream.pause();
        file.once('drain', () => stream.resume());
      }
    };
    stream.setTimeout(SNAPSHOT_IDLE_MS, () => refuse('stalled'));
    stream.on('data', (chunk: Buffer) => {
      if (failed) return;
      if (message !== undefined) return write(chunk);
      let first: Buffer | undefined;
      try {
        first = head.pushOne(chunk);
      } catch {
        return refuse('frame too large');
      }
      if (first === undefined) return;
      try {
        const batch = decodeBatch(first);
        const m = batch.messages[0];
        if (batch.clusterId !== this.o.clusterId || m === undefined || m.to !== this.o.selfId) throw new Error('not for this member');
        message = m;
        this.o.log.info(
          {
            'local-member-id': local,
            'remote-snapshot-sender-id': from,
            'incoming-snapshot-index': m.snapshot?.index,
            'incoming-snapshot-message-size-bytes': first.length,
            'incoming-snapshot-message-size': humanizeBytes(first.length),
          },
          'receiving database snapshot',
        );
      } catch (err) {
        return refuse(err instanceof Error ? err.message : String(err));
      }
      // The snapshot's bytes follow its message frame.
      const rest = head.rest();
      if (rest.length > 0) write(rest);
    });
    stream.on('error', () => undefined);
    stream.on('close', () => {
      if (!stream.readableEnded) refuse('stream cut short');
    });
    stream.on('end', () => {
      if (failed) return;
      if (message === undefined) return refuse('no message');
      const m = message;
      file.end(() => {
        if (failed) return;
        if (!stream.destroyed) {
          stream.respond({ ':status': 200 });
          stream.end();
        }
        this.o.log.info(
          {
            'local-member-id': local,
            'remote-snapshot-sender-id': from,
            'incoming-snapshot-index': m.snapshot?.index,
            'incoming-snapshot-size-bytes': size,
            'incoming-snapshot-size': humanizeBytes(size),
            'download-took': goDuration(process.hrtime.bigint() - started),
          },
          'received and saved database snapshot',
        );
        this.o.onSnapshot(m, path);
      });
    });
  }
}

/** One POST on its own connection; resolves with the status and body. */
function postOnce(dialer: PeerDialer, url: string, path: string, headers: http2.OutgoingHttpHeaders, body: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = dialer.connect(url);
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error('timed out'));
    }, timeoutMs);
    session.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    const req = session.request({ ':method': 'POST', ':path': path, ...headers });
    let status = 0;
    const chunks: Buffer[] = [];
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', (err) => {
      clearTimeout(timer);
      session.destroy();
      reject(err);
    });
    req.on('end', () => {
      clearTimeout(timer);
      session.close();
      resolve({ status, body: Buffer.concat(chunks).toString('utf8') });
    });
    req.end(body);
  });
}

function frameOf(body: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}
