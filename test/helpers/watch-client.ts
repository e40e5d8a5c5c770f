// A Watch stream over our own grpc-js client, for tests: send create / cancel / progress
// requests, and read the responses in order (all of them are kept).
import type * as grpc from '@grpc/grpc-js';
import { serviceClient, type Msg } from './grpc-client';

export interface WatchCreate {
  key: Buffer;
  range_end?: Buffer;
  start_revision?: number;
  progress_notify?: boolean;
  /** 0 NOPUT, 1 NODELETE */
  filters?: number[];
  prev_kv?: boolean;
  watch_id?: number;
  fragment?: boolean;
}

export class WatchClient {
  readonly responses: Msg[] = [];
  error: grpc.ServiceError | undefined;
  ended = false;
  private readonly client: grpc.Client;
  private readonly stream: grpc.ClientDuplexStream<Msg, Msg>;
  private waiters: (() => void)[] = [];
  private read = 0;

  constructor(endpoint: string, metadata?: grpc.Metadata, options: grpc.ChannelOptions = {}) {
    this.client = serviceClient('Watch', endpoint, options);
    const fn = (this.client as unknown as Record<string, (md?: grpc.Metadata) => grpc.ClientDuplexStream<Msg, Msg>>).Watch;
    this.stream = fn.call(this.client, metadata);
    this.stream.on('data', (m: Msg) => {
      this.responses.push(m);
      this.wake();
    });
    this.stream.on('error', (e: grpc.ServiceError) => {
      this.error = e;
      this.ended = true;
      this.wake();
    });
    this.stream.on('end', () => {
      this.ended = true;
      this.wake();
    });
  }

  create(c: WatchCreate): void {
    this.stream.write({ create_request: { ...c, range_end: c.range_end ?? Buffer.alloc(0) } });
  }

  cancel(watchId: number): void {
    this.stream.write({ cancel_request: { watch_id: watchId } });
  }

  progress(): void {
    this.stream.write({ progress_request: {} });
  }

  /** The next response not read yet (waits up to timeoutMs). */
  async next(timeoutMs = 5000): Promise<Msg> {
    const deadline = Date.now() + timeoutMs;
    while (this.read >= this.responses.length) {
      if (this.ended) throw new Error(`watch stream ended: ${this.error?.message ?? 'end'}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no watch response within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.responses[this.read++];
  }

  /** Reads responses until one matches (returns it); fails after timeoutMs. */
  async until(match: (m: Msg) => boolean, timeoutMs = 5000): Promise<Msg> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = await this.next(Math.max(1, deadline - Date.now()));
      if (match(m)) return m;
    }
  }

  /** Events of every response read so far and from now on until `count` events have arrived. */
  async events(count: number, timeoutMs = 10_000): Promise<Msg[]> {
    const out: Msg[] = [];
    const deadline = Date.now() + timeoutMs;
    while (out.length < count) {
      const m = await this.next(Math.max(1, deadline - Date.now()));
      out.push(...(m.events as Msg[]));
    }
    return out;
  }

  /** Stops reading from the connection (HTTP/2 flow control then holds the server back). */
  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  close(): void {
    this.stream.end();
    this.stream.cancel();
    this.client.close();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
