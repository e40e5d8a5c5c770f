// One server of the pair (real etcd or etcd-ts) on a fresh temp data dir and a free port, its
// clients, the lease IDs it chose for ID-0 grants (by slot) and its watch streams.
import type * as grpc from '@grpc/grpc-js';
// The server's codec limits for this client too: answers to deep nested txns are deeper than
// protobufjs's default of 100 levels.
import '../../src/pb/load';
import { call, serviceClient } from '../helpers/grpc-client';
import { startServer, type ServerProcess } from '../helpers/server-process';
import type { Answer } from './normalise';
import { resolveLeases, type Msg, type UnaryStep } from './steps';
import { SideStream } from './watch-streams';

export type Impl = 'etcd' | 'etcd-ts';

/** The ID sent for a slot this side never filled (its grant failed): granted by no step. */
const NEVER_GRANTED = '8888888888';
const CALL_TIMEOUT_MS = 15_000;
const START_ATTEMPTS = 3;

const live = new Set<Side>();

export class Side {
  readonly autoLeases: (string | undefined)[] = [];
  readonly leaseNames = new Map<string, string>();
  readonly streams = new Map<number, SideStream>();
  private probe: SideStream | undefined;
  /** The revision of its last successful compaction (0: none; a compaction at 0 counts as none). */
  compacted = 0;
  private readonly clients: Record<'KV' | 'Lease', grpc.Client>;

  private constructor(
    readonly label: string,
    readonly impl: Impl,
    readonly server: ServerProcess,
  ) {
    const opts = { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 };
    this.clients = { KV: serviceClient('KV', server.endpoint, opts), Lease: serviceClient('Lease', server.endpoint, opts) };
    live.add(this);
  }

  /** Starts the server; tries again (new port, new dir) if it did not come up, e.g. on a loaded
   *  machine or a port taken between being found free and being bound. */
  static async start(label: string, impl: Impl): Promise<Side> {
    for (let attempt = 1; ; attempt++) {
      try {
        return new Side(label, impl, await startServer({ impl }));
      } catch (e) {
        if (attempt >= START_ATTEMPTS) throw e;
      }
    }
  }

  alive(): boolean {
    return this.server.proc.exitCode === null && this.server.proc.signalCode === null;
  }

  /** The step's request as this side is sent it (its own IDs for the auto lease slots). */
  resolve(step: UnaryStep): Msg {
    return resolveLeases(step.req, (slot) => this.autoLeases[slot] ?? NEVER_GRANTED) as Msg;
  }

  async call(step: UnaryStep): Promise<Answer> {
    const req = this.resolve(step);
    try {
      const msg = await call(this.clients[step.service], step.method, req, CALL_TIMEOUT_MS);
      if (step.grantSlot !== undefined) {
        const id = String(msg.ID);
        this.autoLeases[step.grantSlot] = id;
        this.leaseNames.set(id, `auto#${step.grantSlot}`);
      }
      if (step.method === 'Compact') this.compacted = Math.max(this.compacted, Number(req.revision));
      return { ok: true, msg };
    } catch (e) {
      const err = e as grpc.ServiceError;
      return { ok: false, code: err.code, details: err.details };
    }
  }

  stream(n: number): SideStream {
    let s = this.streams.get(n);
    if (s === undefined) {
      s = new SideStream(this.server.endpoint);
      this.streams.set(n, s);
    }
    return s;
  }

  /** Creates a watcher on every key from `rev` on this side's probe stream (never compared),
   *  waits for its catch-up (events or a compaction; up to timeoutMs), and cancels it. */
  async syncProbe(rev: number, timeoutMs: number): Promise<void> {
    const p = (this.probe ??= new SideStream(this.server.endpoint));
    const rs = p.client.responses;
    // Only this probe's answers matter (and old ones may hold big events).
    rs.length = 0;
    const from = 0;
    p.create({ key: Buffer.from([0]), range_end: Buffer.from([0]), start_revision: rev });
    const t0 = Date.now();
    const waitFor = async (f: () => Msg | undefined): Promise<Msg | undefined> => {
      for (;;) {
        const m = f();
        if (m !== undefined || p.client.ended || Date.now() - t0 >= timeoutMs) return m;
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    // This probe's answers only (the cancel of the one before may still come).
    const created = await waitFor(() => rs.slice(from).find((r) => r.created === true && r.canceled !== true));
    if (created === undefined) return;
    const id = String(created.watch_id);
    await waitFor(() => rs.slice(from).find((r) => String(r.watch_id) === id && r.created !== true && ((r.events as Msg[]).length > 0 || Number(r.compact_revision) > 0 || r.canceled === true)));
    p.client.cancel(Number(id));
  }

  closeStream(n: number): void {
    this.streams.get(n)?.close();
    this.streams.delete(n);
  }

  /** Moves every stream's new responses into its buckets. */
  absorb(): void {
    for (const s of this.streams.values()) s.absorb(this.leaseNames);
  }

  /** Responses received over all streams (changes while any stream is busy). */
  received(): number {
    let n = 0;
    for (const s of this.streams.values()) n += s.received;
    return n;
  }

  /** Closes its clients, SIGKILLs the server and removes its data dir. */
  async stop(): Promise<void> {
    live.delete(this);
    for (const n of [...this.streams.keys()]) this.closeStream(n);
    this.probe?.close();
    for (const c of Object.values(this.clients)) c.close();
    await this.server.cleanup();
  }
}

/** Stops every side still running (a run that threw, or an interrupted one). */
export async function stopAllSides(): Promise<void> {
  await Promise.all([...live].map((s) => s.stop()));
}
