// One HTTP/2 stream of a server connection, as the layer above (gRPC) sees it: the request's
// header fields, its body as it arrives (through the handler), and the means to answer — response
// headers, data and trailers — and to reset. DATA is sent as the peer's flow-control windows allow;
// what the windows hold back waits here, and write() says when the caller should wait for drain.
import type { HeaderField } from './hpack';
import { ErrorCode, FRAME_HEADER_BYTES } from './frames';

export interface H2StreamHandler {
  /** A DATA payload (valid to keep: socket chunks are not reused); endStream: the peer's last. */
  onData(data: Buffer, endStream: boolean): void;
  /** The stream ended abnormally: reset by the peer, or the connection is gone (code: the h2 error code). */
  onReset(code: ErrorCode): void;
}

/** What a stream needs from its connection. */
export interface StreamOwner {
  sendHeaders(stream: H2Stream, fields: readonly HeaderField[], endStream: boolean): void;
  /** Sends what the windows allow of the stream's queued data (and its trailers after it). */
  pump(stream: H2Stream): void;
  /**
   * Queues one DATA frame of `payload` bytes, `head` (its header's room first) then `parts`, as
   * they are, if the windows and the frame size take it whole now; false (nothing done) if not.
   */
  sendFramedParts(stream: H2Stream, head: Buffer, parts: readonly Buffer[], payload: number): boolean;
  sendReset(stream: H2Stream, code: ErrorCode): void;
  /** Bytes the socket has taken but not sent yet. */
  socketBacklog(): number;
}

/** Queued output per stream (and socket backlog) past which write() asks the caller to wait. */
const HIGH_WATER_BYTES = 1024 * 1024;

export class H2Stream {
  handler: H2StreamHandler | undefined;
  /** DATA waiting for window, oldest first. */
  readonly queue: Buffer[] = [];
  /**
   * Per queue entry: whether its first FRAME_HEADER_BYTES are room left for a DATA frame header
   * (writeFramed), so that a payload that fits the windows goes out in its own buffer, uncopied.
   */
  readonly reserved: boolean[] = [];
  /** Payload bytes queued (reserved header room not counted). */
  queuedBytes = 0;
  /** Trailers to send once the queue is empty (undefined: none yet). */
  pendingTrailers: readonly HeaderField[] | undefined;
  /** end() without trailers: an empty DATA frame with END_STREAM after the queue. */
  pendingEnd = false;
  sendWindow: number;
  /** Bytes received and not yet given back with a WINDOW_UPDATE. */
  unacked = 0;
  headersSent = false;
  /** We sent END_STREAM or RST_STREAM. */
  localClosed = false;
  /** The peer sent END_STREAM (or reset). */
  remoteClosed = false;
  private drainWaiters: (() => void)[] = [];

  constructor(
    readonly id: number,
    readonly headers: readonly HeaderField[],
    private readonly owner: StreamOwner,
    initialSendWindow: number,
  ) {
    this.sendWindow = initialSendWindow;
  }

  /** The first value of a header field (names are lower case on the wire). */
  header(name: string): string | undefined {
    // Indexed: called several times per request, and for-of with destructuring allocated an
    // iterator result per field there (2.5 KB per put at 50 clients in an allocation profile).
    const h = this.headers;
    for (let i = 0; i < h.length; i++) if (h[i][0] === name) return h[i][1];
    return undefined;
  }

  get closed(): boolean {
    return this.localClosed;
  }

  respond(fields: readonly HeaderField[], endStream = false): void {
    if (this.localClosed || this.headersSent) return;
    this.headersSent = true;
    if (endStream) this.localClosed = true;
    this.owner.sendHeaders(this, fields, endStream);
  }

  /** Queues DATA; false when the caller should wait for onDrain before writing more. */
  write(data: Buffer): boolean {
    if (this.localClosed || this.pendingTrailers !== undefined || this.pendingEnd) return false;
    if (data.length > 0) {
      this.queue.push(data);
      this.reserved.push(false);
      this.queuedBytes += data.length;
      this.owner.pump(this);
    }
    return this.queuedBytes + this.owner.socketBacklog() < HIGH_WATER_BYTES;
  }

  /**
   * As write(), for a payload that starts FRAME_HEADER_BYTES into `frame`: the connection writes
   * the DATA frame header there instead of copying the payload into a frame of its own.
   */
  writeFramed(frame: Buffer): boolean {
    if (this.localClosed || this.pendingTrailers !== undefined || this.pendingEnd) return false;
    if (frame.length > FRAME_HEADER_BYTES) {
      this.queue.push(frame);
      this.reserved.push(true);
      this.queuedBytes += frame.length - FRAME_HEADER_BYTES;
      this.owner.pump(this);
    }
    return this.queuedBytes + this.owner.socketBacklog() < HIGH_WATER_BYTES;
  }

  /**
   * As writeFramed, for a payload in pieces: `head` (FRAME_HEADER_BYTES of room, then the
   * payload's first bytes) followed by `parts` (partBytes in all), buffers that may be shared
   * with other streams (a watch event goes to each of its watchers as the same bytes). With
   * nothing queued before it and room in the windows, it goes to the connection as it is; the
   * connection copies it once, into its reused output buffer. Otherwise it is joined here.
   */
  writeFramedParts(head: Buffer, parts: readonly Buffer[], partBytes: number): boolean {
    if (this.localClosed || this.pendingTrailers !== undefined || this.pendingEnd) return false;
    const payload = head.length - FRAME_HEADER_BYTES + partBytes;
    if (this.queue.length > 0 || !this.owner.sendFramedParts(this, head, parts, payload)) {
      return this.writeFramed(Buffer.concat([head, ...parts], head.length + partBytes));
    }
    return this.queuedBytes + this.owner.socketBacklog() < HIGH_WATER_BYTES;
  }

  /** Ends the stream after the queued data: with trailers (a HEADERS frame) or an empty DATA frame. */
  end(trailers?: readonly HeaderField[]): void {
    if (this.localClosed || this.pendingTrailers !== undefined || this.pendingEnd) return;
    if (trailers !== undefined) this.pendingTrailers = trailers;
    else this.pendingEnd = true;
    this.owner.pump(this);
  }

  reset(code: ErrorCode = ErrorCode.Cancel): void {
    if (this.localClosed) return;
    this.localClosed = true;
    this.queue.length = 0;
    this.reserved.length = 0;
    this.queuedBytes = 0;
    this.owner.sendReset(this, code);
  }

  onDrain(waiter: () => void): void {
    this.drainWaiters.push(waiter);
  }

  /** The connection calls this when window or socket room opened up. */
  drained(): void {
    if (this.drainWaiters.length === 0 || this.queuedBytes + this.owner.socketBacklog() >= HIGH_WATER_BYTES) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }
}
