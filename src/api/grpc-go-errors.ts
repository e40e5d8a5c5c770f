// grpc-go's text for a request over the server's receive limit, which clients of etcd (and the
// differential test against etcd) see: "grpc: received message larger than max (N vs. M)".
// grpc-js raises its own text ("Received message larger than max (N vs M)") from inside its
// frame decoder, before any handler or interceptor of ours runs, and sends it as the status as
// is; the only place to give it etcd's text is that decoder. The code (RESOURCE_EXHAUSTED) is
// the same in both. test/etcd-quirks.test.ts checks the text, so a grpc-js upgrade that moves
// the decoder fails there.
import { StreamDecoder } from '@grpc/grpc-js/build/src/stream-decoder';

const GRPC_JS_TOO_LARGE = /^Received message larger than max \((\d+) vs (\d+)\)$/;

let installed = false;

export function useGrpcGoErrorText(): void {
  if (installed) return;
  installed = true;
  const write = StreamDecoder.prototype.write;
  StreamDecoder.prototype.write = function (this: StreamDecoder, data: Buffer): Buffer[] {
    try {
      return write.call(this, data);
    } catch (err) {
      const m = err instanceof Error ? GRPC_JS_TOO_LARGE.exec(err.message) : null;
      if (m !== null) throw new Error(`grpc: received message larger than max (${m[1]} vs. ${m[2]})`);
      throw err;
    }
  };
}
