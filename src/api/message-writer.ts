// Writes a server stream's messages straight into grpc-js's call, past the object-mode Duplex that
// grpc-js puts in front of it. That Duplex hands the call one message at a time and waits for each
// to reach the socket before the next (a whole write cycle per message); a watch event that goes
// to 100 watchers paid it 100 times. Here every message goes to the HTTP/2 stream at once, and the
// stream is corked until the end of the tick, so what one notify produces leaves in one write.
// The order of messages, the response headers before the first one and the trailers after the last
// one are grpc-js's own: the call sends them, and ending the Duplex ends the HTTP/2 stream after
// what was written to it. Our own gRPC server's calls (grpc/call.ts) write straight to their
// stream already, and the gateway's adapters have their own write(): both keep write().
import type { Writable } from 'node:stream';

export type MessageWriter<T> = (message: T, written: () => void) => void;

interface GrpcCall {
  sendMessage(message: unknown, callback: () => void): void;
}

interface WritableCall<T> {
  write(message: T, callback: () => void): boolean;
}

export function messageWriter<T>(call: WritableCall<T>): MessageWriter<T> {
  const inner: unknown = Reflect.get(call, 'call');
  if (!isGrpcCall(inner)) return (message, written) => void call.write(message, written);
  const stream = http2StreamOf(inner);
  let corked = false;
  const uncork = (): void => {
    corked = false;
    stream?.uncork();
  };
  return (message, written) => {
    if (stream !== undefined && !corked) {
      corked = true;
      stream.cork();
      process.nextTick(uncork);
    }
    inner.sendMessage(message, written);
  };
}

function isGrpcCall(v: unknown): v is GrpcCall {
  return typeof v === 'object' && v !== null && typeof Reflect.get(v, 'sendMessage') === 'function';
}

/** The HTTP/2 stream under grpc-js's call (an intercepting call wraps the base one). */
function http2StreamOf(call: object): Writable | undefined {
  for (let c: unknown = call, depth = 0; typeof c === 'object' && c !== null && depth < 4; depth++) {
    const s: unknown = Reflect.get(c, 'stream');
    if (typeof s === 'object' && s !== null && typeof Reflect.get(s, 'cork') === 'function') return s as Writable;
    c = Reflect.get(c, 'nextCall');
  }
  return undefined;
}
