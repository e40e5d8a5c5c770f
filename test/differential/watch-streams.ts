// One side's watch streams. Responses are sorted into buckets by watch ID, in arrival order: the
// order within a watch ID is etcd's (its created answer, then its events revision by revision, then
// its cancel), while the order between watch IDs on one stream depends on scheduling, so only
// buckets are compared (runner.ts), never the interleaving.
import type { Msg } from './steps';
import { WatchClient, type WatchCreate } from '../helpers/watch-client';
import { normaliseWatchResponse, type LeaseNames } from './normalise';

export class SideStream {
  readonly client: WatchClient;
  /** Normalised responses by String(watch_id); a stream error under 'stream'. */
  readonly buckets = new Map<string, Msg[]>();
  /** Watch IDs created and not canceled (by a cancel, a compaction or an error). */
  readonly open = new Set<number>();
  private taken = 0;
  private endSeen = false;

  constructor(endpoint: string) {
    this.client = new WatchClient(endpoint, undefined, { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 });
  }

  /** How many responses have arrived (for waiting until a stream is quiet). */
  get received(): number {
    return this.client.responses.length + (this.client.ended ? 1 : 0);
  }

  create(req: Msg): void {
    this.client.create(req as WatchCreate);
  }

  /** Moves the responses that arrived since the last call into their buckets. */
  absorb(names: LeaseNames): void {
    const rs = this.client.responses;
    for (; this.taken < rs.length; this.taken++) {
      const m = normaliseWatchResponse(rs[this.taken], names);
      const id = Number(m.watch_id);
      if (m.created === true && m.canceled !== true) this.open.add(id);
      if (m.canceled === true) this.open.delete(id);
      this.push(String(m.watch_id), m);
    }
    if (this.client.ended && !this.endSeen) {
      this.endSeen = true;
      const e = this.client.error;
      this.push('stream', { stream_end: e === undefined ? 'end' : { code: e.code, message: e.details } });
    }
  }

  close(): void {
    this.client.close();
  }

  private push(key: string, m: Msg): void {
    const b = this.buckets.get(key) ?? [];
    b.push(m);
    this.buckets.set(key, b);
  }
}
