// A fault-injecting proxy for etcd-ts peer traffic: each member advertises the proxy's URL and
// listens behind it. The proxy understands just enough of the peer protocol (HTTP/2 streams whose
// headers name the sending member) to cut chosen links: a partition, or a one-way blackhole.
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

export class PeerProxy {
  private server: http2.Http2Server | undefined;
  private upstream: http2.ClientHttp2Session | undefined;
  private readonly streams = new Set<{ from: string; down: http2.ServerHttp2Stream; up: http2.ClientHttp2Stream }>();
  /** Senders (by member ID) whose traffic to this member is dropped. */
  private blocked = new Set<string>();
  port = 0;

  constructor(private readonly target: string) {}

  async start(port = 0): Promise<void> {
    const server = http2.createServer();
    server.on('stream', (stream, headers) => this.forward(stream, headers));
    server.on('sessionError', () => undefined);
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Drops traffic from these members to the target (and cuts their open streams). */
  block(fromIds: string[]): void {
    this.blocked = new Set(fromIds);
    for (const s of [...this.streams]) {
      if (!this.blocked.has(s.from)) continue;
      s.down.close(http2.constants.NGHTTP2_CANCEL);
      s.up.close(http2.constants.NGHTTP2_CANCEL);
      this.streams.delete(s);
    }
  }

  heal(): void {
    this.blocked.clear();
  }

  async close(): Promise<void> {
    for (const s of this.streams) {
      s.down.close();
      s.up.close();
    }
    this.upstream?.destroy();
    await new Promise<void>((resolve) => {
      if (this.server === undefined) return resolve();
      this.server.close(() => resolve());
      // Open sessions hold close() back; give up after 200 ms. Not unref'd: if this timer were
      // the last thing alive, node would exit with the caller's await still pending.
      setTimeout(resolve, 200);
    });
  }

  private forward(down: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const from = String(headers['x-etcd-from'] ?? '');
    if (this.blocked.has(from)) {
      down.respond({ ':status': 503 });
      down.end();
      return;
    }
    if (this.upstream === undefined || this.upstream.destroyed || this.upstream.closed) {
      this.upstream = http2.connect(this.target);
      this.upstream.on('error', () => undefined);
    }
    const fwd: http2.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(headers)) if (!k.startsWith(':') || k === ':method' || k === ':path') fwd[k] = v;
    const up = this.upstream.request(fwd);
    const entry = { from, down, up };
    this.streams.add(entry);
    const done = (): void => {
      this.streams.delete(entry);
      if (!down.closed) down.close();
      if (!up.closed) up.close();
    };
    up.on('response', (h) => {
      if (!down.closed && !down.headersSent) down.respond({ ':status': h[':status'] ?? 200 });
      up.pipe(down);
    });
    down.pipe(up);
    up.on('close', done);
    down.on('close', done);
    up.on('error', done);
    down.on('error', done);
  }
}
