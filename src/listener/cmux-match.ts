// cmux's HTTP1() matcher (github.com/soheilhy/cmux, matchers.go), which decides for etcd whether
// a client connection that is not HTTP/2 goes to its HTTP/1 server at all: it reads the first
// line through a 4096-byte buffer and matches only "<method> <target> HTTP/1.<digit>". What does
// not match is closed unanswered; what matches is served, bad or not, by Go's HTTP server.
import type { Duplex } from 'node:stream';

/** cmux reads at most this much for the first line, its line ending included. */
const MAX_FIRST_LINE_BYTES = 4096;
/** cmux's parseRequestLine + ParseHTTPVersion: major version 1, one digit after the dot. */
const HTTP1_REQUEST_LINE = /^[^ ]* [^ ]* HTTP\/1\.[0-9]$/;

/**
 * Reads `connection` up to the end of its first line (the bytes stay in it, paused) and calls
 * `matched` when cmux would hand it to HTTP/1; otherwise, or after `maxWaitMs`, destroys it.
 */
export function matchHttp1(connection: Duplex, maxWaitMs: number, matched: () => void): void {
  const chunks: Buffer[] = [];
  let have = 0;

  const stop = (): void => {
    clearTimeout(timer);
    connection.off('data', onData);
    connection.off('end', drop);
    connection.off('close', drop);
    connection.off('error', drop);
  };
  const drop = (): void => {
    stop();
    connection.destroy();
  };
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk);
    have += chunk.length;
    const head = Buffer.concat(chunks);
    const nl = head.subarray(0, MAX_FIRST_LINE_BYTES).indexOf(0x0a);
    if (nl === -1) {
      if (have >= MAX_FIRST_LINE_BYTES) drop();
      return;
    }
    stop();
    if (!HTTP1_REQUEST_LINE.test(head.subarray(0, nl).toString('latin1').replace(/\r$/, ''))) {
      connection.destroy();
      return;
    }
    connection.pause();
    connection.unshift(head);
    matched();
  };

  const timer = setTimeout(drop, maxWaitMs);
  connection.on('data', onData);
  connection.on('end', drop);
  connection.on('close', drop);
  connection.on('error', drop);
  // The sniffing step paused the connection with its first bytes put back: they come first.
  connection.resume();
}
