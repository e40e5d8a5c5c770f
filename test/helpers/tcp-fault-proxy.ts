// A TCP-level fault proxy in front of one member's peer listener, for faults as a real network
// makes them: the member advertises the proxy's port, every peer connection to it passes through
// here, and the proxy knows which member dialed (socket-owner.ts), so faults cut chosen links:
//   blackhole — bytes in both directions vanish while the TCP connections stay open (no error, no
//               reset: neither end can tell, as with a dead switch);
//   reset     — open connections are cut and new ones refused (a clean partition);
//   delay     — every chunk waits ms ± jitter before it goes on (order kept, as TCP keeps it).
// Connections from processes it cannot place (the test itself) always pass.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { socketOwner } from './socket-owner';

export type LinkFault = { kind: 'blackhole' } | { kind: 'reset' } | { kind: 'delay'; ms: number; jitterMs: number };

/** Bytes held per direction of a delayed connection before its source is paused. */
const DELAY_BUFFER_MAX_BYTES = 16 * 1024 * 1024;

interface Direction {
  from: Socket;
  to: Socket;
  queue: { at: number; chunk: Buffer }[];
  queuedBytes: number;
  timer: NodeJS.Timeout | undefined;
  /** Release time of the newest queued chunk: later chunks never overtake it. */
  lastAt: number;
}

interface Link {
  /** The dialing member ('' while unplaced). */
  sender: string;
  clientPort: number | undefined;
  client: Socket;
  upstream: Socket;
  up: Direction;
  down: Direction;
}

export class TcpFaultProxy {
  private server: Server | undefined;
  private readonly links = new Set<Link>();
  private readonly faults = new Map<string, LinkFault>();
  port = 0;

  /**
   * @param targetPort the member's real peer port on 127.0.0.1
   * @param senders the processes that may dial, by pid, and the member ID each runs
   */
  constructor(
    private readonly targetPort: number,
    private readonly senders: () => Map<number, string>,
  ) {}

  async start(port = 0): Promise<void> {
    const server = createServer((client) => this.accept(client));
    server.on('error', () => undefined);
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const addr = server.address();
    this.port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    this.server = server;
  }

  /** Sets the fault on the links from these members (replacing what they had). */
  set(fromIds: string[], fault: LinkFault): void {
    for (const id of fromIds) this.faults.set(id, fault);
    for (const link of [...this.links]) {
      // A member dials before its starter knows its pid: place such links now.
      if (link.sender === '') link.sender = this.senderOf(link.clientPort);
      if (!fromIds.includes(link.sender)) continue;
      if (fault.kind === 'reset') this.cut(link);
      else if (fault.kind === 'blackhole') for (const d of [link.up, link.down]) this.dropQueue(d);
    }
  }

  blackhole(fromIds: string[]): void {
    this.set(fromIds, { kind: 'blackhole' });
  }

  /** Same contract as PeerProxy.block: traffic from these members is cut, connections reset. */
  block(fromIds: string[]): void {
    this.set(fromIds, { kind: 'reset' });
  }

  delay(fromIds: string[], ms: number, jitterMs: number): void {
    this.set(fromIds, { kind: 'delay', ms, jitterMs });
  }

  /** Lifts every fault; delayed bytes still queued go on at their time. */
  heal(): void {
    this.faults.clear();
  }

  async close(): Promise<void> {
    for (const link of [...this.links]) this.cut(link);
    await new Promise<void>((resolve) => {
      if (this.server === undefined) return resolve();
      this.server.close(() => resolve());
    });
  }

  private senderOf(clientPort: number | undefined): string {
    const senders = this.senders();
    const pid = clientPort === undefined ? undefined : socketOwner(clientPort, this.port, [...senders.keys()]);
    return pid === undefined ? '' : senders.get(pid) ?? '';
  }

  private accept(client: Socket): void {
    const sender = this.senderOf(client.remotePort);
    if (this.faults.get(sender)?.kind === 'reset') {
      client.destroy();
      return;
    }
    const upstream = connect(this.targetPort, '127.0.0.1');
    const dir = (from: Socket, to: Socket): Direction => ({ from, to, queue: [], queuedBytes: 0, timer: undefined, lastAt: 0 });
    const link: Link = { sender, clientPort: client.remotePort, client, upstream, up: dir(client, upstream), down: dir(upstream, client) };
    this.links.add(link);
    const end = (): void => this.cut(link);
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
    client.on('data', (chunk: Buffer) => this.pass(link, link.up, chunk));
    upstream.on('data', (chunk: Buffer) => this.pass(link, link.down, chunk));
  }

  private pass(link: Link, d: Direction, chunk: Buffer): void {
    const fault = this.faults.get(link.sender);
    if (fault?.kind === 'blackhole') return;
    if (fault?.kind === 'reset') return this.cut(link);
    const delayMs = fault?.kind === 'delay' ? fault.ms + Math.random() * fault.jitterMs * 2 - fault.jitterMs : 0;
    if (delayMs <= 0 && d.queue.length === 0) {
      if (!d.to.write(chunk)) {
        d.from.pause();
        d.to.once('drain', () => d.from.resume());
      }
      return;
    }
    const at = Math.max(d.lastAt, Date.now() + Math.max(0, delayMs));
    d.lastAt = at;
    d.queue.push({ at, chunk });
    d.queuedBytes += chunk.length;
    if (d.queuedBytes > DELAY_BUFFER_MAX_BYTES) d.from.pause();
    this.schedule(d);
  }

  private schedule(d: Direction): void {
    if (d.timer !== undefined || d.queue.length === 0) return;
    d.timer = setTimeout(() => {
      d.timer = undefined;
      const t = Date.now();
      while (d.queue.length > 0 && d.queue[0].at <= t) {
        const next = d.queue.shift();
        if (next === undefined) break;
        d.queuedBytes -= next.chunk.length;
        if (!d.to.destroyed) d.to.write(next.chunk);
      }
      if (d.queuedBytes <= DELAY_BUFFER_MAX_BYTES / 2 && d.from.isPaused()) d.from.resume();
      this.schedule(d);
    }, Math.max(0, d.queue[0].at - Date.now()));
  }

  private dropQueue(d: Direction): void {
    if (d.timer !== undefined) clearTimeout(d.timer);
    d.timer = undefined;
    d.queue = [];
    d.queuedBytes = 0;
    d.lastAt = 0;
    if (d.from.isPaused()) d.from.resume();
  }

  private cut(link: Link): void {
    if (!this.links.delete(link)) return;
    this.dropQueue(link.up);
    this.dropQueue(link.down);
    link.client.destroy();
    link.upstream.destroy();
  }
}
