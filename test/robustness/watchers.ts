// Watchers of the run: each watches one range over one member's Watch stream (with etcd's
// require-leader metadata, so a member cut off from the leader cancels it), and when the stream
// dies, or now and then at random, resumes on another member from its last received revision + 1.
// Every stream is one WatchSession in the history. The reference watcher watches every key from
// revision 1: its events, concatenated, are History.finalEvents. With --auth a stream carries the
// token of user `app`; a create or stream the member refuses for its token gets a new token on
// the next connect (access.ts).
import * as grpc from '@grpc/grpc-js';
import { metadata, type Access } from './access';
import type { WatchEvent, WatchSession } from './history';
import type { Prng } from './prng';
import { now, type Recorder } from './recorder';
import { errorKind, errorText, str, tokenRefusalIn, type Msg } from './rpc';

type Duplex = grpc.ClientDuplexStream<Msg, Msg>;

export interface WatcherOptions {
  id: number;
  key: string;
  rangeEnd: string;
  /** Live endpoints to choose from when (re)connecting. */
  endpoints: () => string[];
  prng: Prng;
  rec: Recorder;
  /** Chance per second of moving to another member although nothing failed. */
  hopPerSecond: number;
  /** The reference watcher: its events make finalEvents; a compaction cancel is an anomaly. */
  reference?: boolean;
  access: Access;
}

export class Watcher {
  /** Revision of the last event received (0: none yet). */
  lastRev = 0;
  /** Highest revision a progress answer reported on the current session. */
  progressRev = 0;
  /** reference watcher: every event received, in order. */
  readonly events: WatchEvent[] = [];
  sessions = 0;
  /** Moves to another member although nothing failed. */
  hops = 0;
  compactions = 0;
  private session: WatchSession | undefined;
  private client: grpc.Client | undefined;
  private stream: Duplex | undefined;
  private nextStart = 1;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private hopTimer: NodeJS.Timeout | undefined;
  private gen = 0;

  constructor(private readonly o: WatcherOptions) {}

  start(startRevision: number): void {
    this.nextStart = startRevision;
    this.open(undefined);
    this.hopTimer = setInterval(() => {
      if (this.stream !== undefined && this.o.prng.chance(this.o.hopPerSecond)) {
        this.hops++;
        this.endSession('hop');
        this.scheduleReconnect(0);
      }
    }, 1000);
  }

  private open(avoid: string | undefined): void {
    if (this.closed) return;
    const eps = this.o.endpoints();
    if (eps.length === 0) {
      this.scheduleReconnect(300);
      return;
    }
    const choices = eps.length > 1 ? eps.filter((e) => e !== avoid) : eps;
    const ep = this.o.prng.pick(choices);
    const gen = ++this.gen;
    if (!this.o.access.authEnabled) return this.openOn(ep, gen, undefined);
    this.o.access.token('app', ep).then(
      (token) => this.openOn(ep, gen, token),
      (e: unknown) => {
        if (gen !== this.gen || this.closed) return;
        this.o.rec.countError(`watch: ${errorKind(e)}`);
        this.scheduleReconnect(200, ep);
      },
    );
  }

  /** Opens the session's stream on ep (unless closed or superseded since generation gen began). */
  private openOn(ep: string, gen: number, token: string | undefined): void {
    if (gen !== this.gen || this.closed) return;
    const session: WatchSession = { watcher: this.o.id, endpoint: ep, key: this.o.key, rangeEnd: this.o.rangeEnd, startRevision: this.nextStart, responses: [] };
    this.o.rec.watches.push(session);
    this.session = session;
    this.sessions++;
    this.progressRev = 0;
    this.client = this.o.access.client('Watch', ep);
    const md = metadata(token);
    md.set('hasleader', 'true');
    const s = (this.client as unknown as { Watch: (m: grpc.Metadata) => Duplex }).Watch(md);
    this.stream = s;
    const failed = (why: string): void => {
      if (gen !== this.gen || this.closed) return;
      const refusal = tokenRefusalIn(why);
      if (refusal !== undefined && token !== undefined) this.o.access.refused('app', ep, token, `watch: ${refusal}`);
      this.endSession(why);
      this.scheduleReconnect(200, ep);
    };
    s.on('data', (m: Msg) => {
      if (gen !== this.gen || this.closed) return;
      const evs = (m.events as Msg[] | undefined) ?? [];
      if (m.canceled === true) {
        const cr = Number(m.compact_revision ?? 0);
        if (cr > 0) {
          session.compactRevision = cr;
          this.compactions++;
          this.o.rec.countError('watch: canceled for compaction');
          if (this.o.reference === true) this.o.rec.anomaly(`reference watcher canceled for compaction at ${cr} (resuming from ${session.startRevision}, last event ${this.lastRev}) on ${ep}`);
          // Events below the compaction are gone: resume from it, as clients do.
          this.nextStart = Math.max(this.nextStart, cr);
        } else {
          this.o.rec.countError(`watch: canceled: ${String(m.cancel_reason ?? '')}`);
        }
        failed(`canceled ${String(m.cancel_reason ?? '')}`);
        return;
      }
      if (evs.length > 0) {
        const events = evs.map(toEvent);
        session.responses.push({ revision: Number(m.header?.revision ?? 0), events, atMs: now() });
        const last = events[events.length - 1].modRevision;
        if (last > this.lastRev) this.lastRev = last;
        this.nextStart = Math.max(this.nextStart, last + 1);
        if (this.o.reference === true) this.events.push(...events);
      } else if (m.created !== true) {
        const r = Number(m.header?.revision ?? 0);
        if (r > this.progressRev) this.progressRev = r;
      }
    });
    s.on('error', (e: grpc.ServiceError) => {
      if (gen === this.gen && !this.closed) this.o.rec.countError(`watch: ${errorKind(e)}`);
      failed(errorText(e));
    });
    s.on('end', () => failed('stream ended'));
    s.write({ create_request: { key: Buffer.from(this.o.key), range_end: Buffer.from(this.o.rangeEnd), start_revision: this.nextStart } });
  }

  private endSession(_why: string): void {
    this.gen++;
    if (this.session !== undefined && this.session.endedMs === undefined) this.session.endedMs = now();
    this.session = undefined;
    const s = this.stream;
    this.stream = undefined;
    const c = this.client;
    this.client = undefined;
    try {
      s?.cancel();
    } catch {
      // already gone
    }
    c?.close();
  }

  private scheduleReconnect(ms: number, avoid?: string): void {
    if (this.closed || this.reconnectTimer !== undefined) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.stream === undefined) this.open(avoid);
    }, ms);
  }

  /** Asks the current stream for a progress answer (answered once it is in sync). */
  requestProgress(): void {
    try {
      this.stream?.write({ progress_request: {} });
    } catch {
      // the stream is going away; the reconnect will do
    }
  }

  /** Whether this watcher has been told about everything up to `rev`. */
  caughtUp(rev: number): boolean {
    return this.lastRev >= rev || (this.stream !== undefined && this.progressRev >= rev);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.hopTimer);
    clearTimeout(this.reconnectTimer);
    this.endSession('closed');
  }
}

function toEvent(e: Msg): WatchEvent {
  const kv = e.kv as Msg;
  const type = e.type === 1 || e.type === 'DELETE' ? 'delete' : 'put';
  const ev: WatchEvent = { type, key: str(kv.key), modRevision: Number(kv.mod_revision), createRevision: Number(kv.create_revision), version: Number(kv.version) };
  if (type === 'put') ev.value = str(kv.value);
  return ev;
}
