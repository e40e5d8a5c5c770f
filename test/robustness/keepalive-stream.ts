// One client's LeaseKeepAlive stream to one member, used one renewal at a time: write the lease
// ID, wait for the answer naming it. The stream is opened on first use and on a move to another
// member or with another token (the metadata is the stream's, given when it opens), and dropped
// on any error or a renewal that is not answered in time (a stopped member keeps the stream open
// and silent).
import * as grpc from '@grpc/grpc-js';
import { newClient, type Msg } from './rpc';

type Duplex = grpc.ClientDuplexStream<Msg, Msg>;

interface Open {
  ep: string;
  /** The token the stream was opened with ('' for none). */
  token: string;
  client: grpc.Client;
  stream: Duplex;
  pending?: { id: string; resolve: (m: Msg) => void; reject: (e: unknown) => void };
}

export class KeepAliveStream {
  private open: Open | undefined;

  constructor(private readonly credentials: grpc.ChannelCredentials) {}

  /** One renewal of lease `id` over the stream to ep (opened with md); rejects like a unary call would. */
  renew(ep: string, id: string, timeoutMs: number, md: grpc.Metadata): Promise<Msg> {
    const token = String(md.get('token')[0] ?? '');
    if (this.open === undefined || this.open.ep !== ep || this.open.token !== token) this.start(ep, token, md);
    const ka = this.open;
    if (ka === undefined) return Promise.reject(new Error('no keep-alive stream'));
    return new Promise<Msg>((resolve, reject) => {
      const timer = setTimeout(() => {
        ka.pending = undefined;
        // The stream may be stuck (a stopped member): start afresh next time.
        if (this.open === ka) this.close();
        reject(Object.assign(new Error('keep-alive: no answer in time'), { code: grpc.status.DEADLINE_EXCEEDED, details: 'keep-alive: no answer in time' }));
      }, timeoutMs);
      ka.pending = {
        id,
        resolve: (m) => (clearTimeout(timer), resolve(m)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      ka.stream.write({ ID: id });
    });
  }

  private start(ep: string, token: string, md: grpc.Metadata): void {
    this.close();
    const client = newClient('Lease', ep, this.credentials);
    const stream = (client as unknown as { LeaseKeepAlive: (m: grpc.Metadata) => Duplex }).LeaseKeepAlive(md);
    const ka: Open = { ep, token, client, stream };
    this.open = ka;
    const fail = (e: unknown): void => {
      if (this.open === ka) this.close();
      const p = ka.pending;
      ka.pending = undefined;
      p?.reject(e);
    };
    stream.on('data', (m: Msg) => {
      const p = ka.pending;
      if (p !== undefined && String(m.ID) === p.id) {
        ka.pending = undefined;
        p.resolve(m);
      }
    });
    stream.on('error', fail);
    stream.on('end', () => fail(new Error('keep-alive stream ended')));
  }

  close(): void {
    const ka = this.open;
    this.open = undefined;
    if (ka === undefined) return;
    try {
      ka.stream.cancel();
    } catch {
      // gone
    }
    ka.client.close();
  }
}
