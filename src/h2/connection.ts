// The server side of one HTTP/2 connection (RFC 9113) over a socket, written for gRPC's use of
// it: many short streams, small frames, no server push, no priorities. node:http2 spends most of
// a small request's CPU on per-stream objects, events and header conversions; here a request is
// parsed straight out of the socket's chunks, handed over as one H2Stream, and every frame written
// in a tick leaves in one socket write.
//
// Flow control: what we receive is given back (WINDOW_UPDATE) as soon as it is handed to the
// stream's handler, in steps of half a window; the layer above bounds what it keeps (gRPC's
// message size limit). What we send waits in the stream (H2Stream.queue) for the peer's windows.
import type { Duplex } from 'node:stream';
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_WINDOW_BYTES,
  ErrorCode,
  FRAME_HEADER_BYTES,
  Flags,
  FrameType,
  MAX_ALLOWED_FRAME_BYTES,
  MAX_WINDOW_BYTES,
  Setting,
  frame,
  goAwayFrame,
  putFrameHeader,
  rstStreamFrame,
  settingsFrame,
  windowUpdateFrame,
} from './frames';
import { HpackDecoder, HpackEncoder, HpackError, type HeaderField } from './hpack';
import { H2Stream, type StreamOwner } from './stream';

/**
 * Bytes the socket may hold unsent before we stop reading from it: a client that sends requests
 * and does not read the answers meets TCP backpressure instead of growing our memory.
 */
const SOCKET_BACKLOG_LIMIT_BYTES = 16 * 1024 * 1024;
/** The payload of our keepalive PINGs, so that their ACKs are told from others'. */
const KEEPALIVE_PING = Buffer.from('etcd-tsK', 'latin1');
/**
 * How long a PING's ACK may wait for other frames to leave with. The Go client sends a BDP
 * PING with nearly every request it writes after a reply; acked at once, the ACK was a socket
 * write of its own standing between the request and its WAL write. Held, it leaves with the
 * reply (or whatever this connection writes next), ahead of it in the same write.
 */
const PING_ACK_DELAY_MS = 1;
/**
 * The buffer a connection's flushes are copied into (see outputRegion), first this size, doubled
 * (up to OUTPUT_SLAB_MAX_BYTES) when a flush does not fit. Reused, it spares an allocation per
 * flush: Buffer.concat's fresh buffers count as external memory, and under a watch fan-out
 * (where few JS objects are made, so no scavenge frees them) that growth started V8's full
 * mark-compact in every 10k-event burst. Small at first, because every connection keeps one.
 */
const OUTPUT_SLAB_BYTES = 16 * 1024;
const OUTPUT_SLAB_MAX_BYTES = 128 * 1024;
/** Streams open at once whatever the setting says (etcd's default setting is 2^32-1). */
const MAX_OPEN_STREAMS = 10_000;

export interface H2ConnectionOptions {
  maxConcurrentStreams: number;
  /** Our receive window, per stream and for the connection. */
  windowBytes: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce (also bounds a header block's bytes). */
  maxHeaderListBytes: number;
  /**
   * A connection from which nothing has arrived for this long is sent a PING, and closed if no
   * answer comes within keepaliveTimeoutMs (grpc-go's server keepalive, etcd's
   * --grpc-keepalive-interval and --grpc-keepalive-timeout): a client that vanished without
   * closing its connection would otherwise hold its streams (watches) for ever. 0: never.
   */
  keepaliveIntervalMs: number;
  keepaliveTimeoutMs: number;
  /** A new stream's request headers are complete. */
  onStream(stream: H2Stream): void;
  /** The connection ended (closed, or torn down with an error). */
  onClose?(err?: Error): void;
}

/** A connection error: GOAWAY with this code, then the socket is closed. */
class ConnectionError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export class H2Connection implements StreamOwner {
  private readonly streams = new Map<number, H2Stream>();
  private readonly decoder: HpackDecoder;
  private readonly encoder = new HpackEncoder();
  private pending: Buffer | undefined;
  private prefaceSeen = false;
  /** Highest stream id the client opened. */
  private lastStreamId = 0;
  /** A header block spread over CONTINUATION frames: its stream, flags and fragments. */
  private continuation: { stream: number; endStream: boolean; fragments: Buffer[]; bytes: number } | undefined;
  private peerMaxFrameBytes = DEFAULT_MAX_FRAME_BYTES;
  private peerInitialWindow = DEFAULT_WINDOW_BYTES;
  private sendWindow = DEFAULT_WINDOW_BYTES;
  /** Connection-level bytes received and not yet given back. */
  private unacked = 0;
  private out: Buffer[] = [];
  /** Bytes in `out`. */
  private outBytes = 0;
  private flushScheduled = false;
  /** See OUTPUT_SLAB_BYTES: bytes [0, slabUsed) may still be the socket's (handed to write()). */
  private slab: Buffer | undefined;
  private slabUsed = 0;
  /** Sends the held PING ACKs if nothing else has been written by then (PING_ACK_DELAY_MS). */
  private pingAckTimer: NodeJS.Timeout | undefined;
  /** Streams whose data waits for the connection window. */
  private readonly blocked = new Set<H2Stream>();
  private goingAway = false;
  private closed = false;
  /** Reading stopped until the socket drains (see SOCKET_BACKLOG_LIMIT_BYTES). */
  private readPaused = false;
  /** When something last arrived (keepalive). */
  private lastReadMs = Date.now();
  private keepaliveTimer: NodeJS.Timeout | undefined;
  /** The keepalive PING sent and not answered yet: closes the connection when it fires. */
  private pingDeadline: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: Duplex,
    private readonly options: H2ConnectionOptions,
    /** Bytes already read from the socket (a listener that sniffed the protocol). */
    head?: Buffer,
  ) {
    this.decoder = new HpackDecoder();
    this.queue(
      settingsFrame([
        [Setting.MaxConcurrentStreams, options.maxConcurrentStreams],
        [Setting.InitialWindowSize, options.windowBytes],
        [Setting.MaxHeaderListSize, options.maxHeaderListBytes],
        [Setting.EnablePush, 0],
      ]),
    );
    if (options.windowBytes > DEFAULT_WINDOW_BYTES) this.queue(windowUpdateFrame(0, options.windowBytes - DEFAULT_WINDOW_BYTES));
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('drain', () => this.onSocketDrain());
    socket.on('error', (err: Error) => this.teardown(err));
    socket.on('close', () => this.teardown());
    if (head !== undefined && head.length > 0) this.receive(head);
    // A sniffing listener may have paused the socket; adding a 'data' listener does not resume it.
    socket.resume();
    if (options.keepaliveIntervalMs > 0) {
      this.keepaliveTimer = setInterval(() => this.keepalive(), options.keepaliveIntervalMs);
      this.keepaliveTimer.unref();
    }
  }

  /** Streams open now. */
  get activeStreams(): number {
    return this.streams.size;
  }

  /** Graceful: no new streams; the socket closes once the open ones end. */
  close(): void {
    if (this.closed || this.goingAway) return;
    this.goingAway = true;
    this.queue(goAwayFrame(this.lastStreamId, ErrorCode.NoError));
    if (this.streams.size === 0) this.endSocket();
  }

  /** At once: every stream is reset, the socket destroyed. */
  destroy(): void {
    if (this.closed) return;
    this.flush();
    this.socket.destroy();
    this.teardown();
  }

  // ---- reading ----

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    this.lastReadMs = Date.now();
    const buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = undefined;
    let pos = 0;
    try {
      if (!this.prefaceSeen) {
        if (buf.length < CLIENT_PREFACE.length) {
          if (!CLIENT_PREFACE.subarray(0, buf.length).equals(buf)) throw new ConnectionError(ErrorCode.ProtocolError, 'bad connection preface');
          this.pending = buf;
          return;
        }
        if (!CLIENT_PREFACE.equals(buf.subarray(0, CLIENT_PREFACE.length))) throw new ConnectionError(ErrorCode.ProtocolError, 'bad connection preface');
        this.prefaceSeen = true;
        pos = CLIENT_PREFACE.length;
      }
      while (buf.length - pos >= FRAME_HEADER_BYTES) {
        const length = (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2];
        if (length > DEFAULT_MAX_FRAME_BYTES) throw new ConnectionError(ErrorCode.FrameSizeError, `frame of ${length} bytes`);
        if (buf.length - pos < FRAME_HEADER_BYTES + length) break;
        const type = buf[pos + 3];
        const flags = buf[pos + 4];
        const stream = buf.readUInt32BE(pos + 5) & 0x7fff_ffff;
        const payload = buf.subarray(pos + FRAME_HEADER_BYTES, pos + FRAME_HEADER_BYTES + length);
        pos += FRAME_HEADER_BYTES + length;
        this.onFrame(type, flags, stream, payload);
        if (this.closed) return;
      }
    } catch (err) {
      this.fail(err);
      return;
    }
    // What this produced (acks, window updates) leaves with the tick's other frames.
    if (pos < buf.length) this.pending = pos === 0 ? buf : buf.subarray(pos);
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.continuation !== undefined && (type !== FrameType.Continuation || id !== this.continuation.stream)) {
      throw new ConnectionError(ErrorCode.ProtocolError, 'expected CONTINUATION');
    }
    switch (type) {
      case FrameType.Data:
        return this.onData(flags, id, payload);
      case FrameType.Headers:
        return this.onHeaders(flags, id, payload);
      case FrameType.Continuation:
        return this.onContinuation(flags, id, payload);
      case FrameType.Priority:
        if (id === 0) throw new ConnectionError(ErrorCode.ProtocolError, 'PRIORITY on stream 0');
        if (payload.length !== 5) this.resetId(id, ErrorCode.FrameSizeError);
        return;
      case FrameType.RstStream:
        return this.onRstStream(id, payload);
      case FrameType.Settings:
        return this.onSettings(flags, id, payload);
      case FrameType.PushPromise:
        throw new ConnectionError(ErrorCode.ProtocolError, 'PUSH_PROMISE from a client');
      case FrameType.Ping:
        if (id !== 0) throw new ConnectionError(ErrorCode.ProtocolError, 'PING on a stream');
        if (payload.length !== 8) throw new ConnectionError(ErrorCode.FrameSizeError, 'PING of the wrong size');
        if ((flags & Flags.Ack) === 0) this.queuePingAck(frame(FrameType.Ping, Flags.Ack, 0, payload));
        else if (payload.equals(KEEPALIVE_PING) && this.pingDeadline !== undefined) {
          clearTimeout(this.pingDeadline);
          this.pingDeadline = undefined;
        }
        return;
      case FrameType.GoAway:
        if (id !== 0) throw new ConnectionError(ErrorCode.ProtocolError, 'GOAWAY on a stream');
        // The client will open no more streams; those open end as they will.
        this.goingAway = true;
        if (this.streams.size === 0) this.endSocket();
        return;
      case FrameType.WindowUpdate:
        return this.onWindowUpdate(id, payload);
      default:
        // Unknown frame types are ignored (§4.1).
        return;
    }
  }

  private onData(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(ErrorCode.ProtocolError, 'DATA on stream 0');
    // Flow control counts the whole payload, padding included, whatever the stream's state.
    this.consumed(payload.length);
    const body = (flags & Flags.Padded) !== 0 ? unpad(payload) : payload;
    const s = this.streams.get(id);
    if (s === undefined) {
      if (id > this.lastStreamId) throw new ConnectionError(ErrorCode.ProtocolError, 'DATA on an idle stream');
      return; // a stream we reset or ended: what was in flight is dropped
    }
    if (s.remoteClosed) {
      this.resetStream(s, ErrorCode.StreamClosed);
      return;
    }
    const end = (flags & Flags.EndStream) !== 0;
    if (s.unacked + payload.length > this.options.windowBytes) {
      this.resetStream(s, ErrorCode.FlowControlError);
      return;
    }
    if (!end) {
      s.unacked += payload.length;
      if (s.unacked >= this.options.windowBytes / 2) {
        this.queue(windowUpdateFrame(id, s.unacked));
        s.unacked = 0;
      }
    } else {
      s.remoteClosed = true;
    }
    s.handler?.onData(body, end);
    if (end) this.maybeForget(s);
  }

  private consumed(bytes: number): void {
    this.unacked += bytes;
    if (this.unacked > this.options.windowBytes) throw new ConnectionError(ErrorCode.FlowControlError, 'connection window exceeded');
    if (this.unacked >= this.options.windowBytes / 2) {
      this.queue(windowUpdateFrame(0, this.unacked));
      this.unacked = 0;
    }
  }

  private onHeaders(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(ErrorCode.ProtocolError, 'HEADERS on stream 0');
    let fragment = (flags & Flags.Padded) !== 0 ? unpad(payload) : payload;
    if ((flags & Flags.Priority) !== 0) {
      if (fragment.length < 5) throw new ConnectionError(ErrorCode.FrameSizeError, 'HEADERS too short for its priority');
      fragment = fragment.subarray(5);
    }
    const endStream = (flags & Flags.EndStream) !== 0;
    if ((flags & Flags.EndHeaders) === 0) {
      this.continuation = { stream: id, endStream, fragments: [fragment], bytes: fragment.length };
      this.checkBlockBytes(fragment.length);
      return;
    }
    this.onHeaderBlock(id, endStream, fragment);
  }

  private onContinuation(flags: number, id: number, payload: Buffer): void {
    const c = this.continuation;
    if (c === undefined) throw new ConnectionError(ErrorCode.ProtocolError, 'CONTINUATION without HEADERS');
    c.fragments.push(payload);
    c.bytes += payload.length;
    this.checkBlockBytes(c.bytes);
    if ((flags & Flags.EndHeaders) === 0) return;
    this.continuation = undefined;
    this.onHeaderBlock(id, c.endStream, Buffer.concat(c.fragments, c.bytes));
  }

  private checkBlockBytes(bytes: number): void {
    // A header block larger than the list it may decode to is refused before it is buffered.
    if (bytes > this.options.maxHeaderListBytes) throw new ConnectionError(ErrorCode.EnhanceYourCalm, 'header block too large');
  }

  private onHeaderBlock(id: number, endStream: boolean, block: Buffer): void {
    let fields: HeaderField[];
    try {
      // Always decoded, even for a stream refused below: the HPACK state is the connection's.
      fields = this.decoder.decode(block, this.options.maxHeaderListBytes);
    } catch (err) {
      if (err instanceof HpackError) throw new ConnectionError(ErrorCode.CompressionError, err.message);
      throw err;
    }
    const existing = this.streams.get(id);
    if (existing !== undefined) {
      // Trailers: gRPC clients send none, but they are legal; they must end the stream.
      if (existing.remoteClosed || !endStream) {
        this.resetStream(existing, ErrorCode.ProtocolError);
        return;
      }
      existing.remoteClosed = true;
      existing.handler?.onData(Buffer.alloc(0), true);
      this.maybeForget(existing);
      return;
    }
    if (id <= this.lastStreamId || id % 2 === 0) throw new ConnectionError(ErrorCode.ProtocolError, `HEADERS opening stream ${id}`);
    this.lastStreamId = id;
    if (this.goingAway || this.streams.size >= Math.min(this.options.maxConcurrentStreams, MAX_OPEN_STREAMS)) {
      this.queue(rstStreamFrame(id, ErrorCode.RefusedStream));
      return;
    }
    const s = new H2Stream(id, fields, this, this.peerInitialWindow);
    s.remoteClosed = endStream;
    this.streams.set(id, s);
    this.options.onStream(s);
    if (endStream) s.handler?.onData(Buffer.alloc(0), true);
  }

  private onRstStream(id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(ErrorCode.ProtocolError, 'RST_STREAM on stream 0');
    if (payload.length !== 4) throw new ConnectionError(ErrorCode.FrameSizeError, 'RST_STREAM of the wrong size');
    if (id > this.lastStreamId) throw new ConnectionError(ErrorCode.ProtocolError, 'RST_STREAM on an idle stream');
    const s = this.streams.get(id);
    if (s === undefined) return;
    s.localClosed = true;
    s.remoteClosed = true;
    const handler = s.handler;
    this.forget(s);
    handler?.onReset(payload.readUInt32BE(0) as ErrorCode);
  }

  private onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new ConnectionError(ErrorCode.ProtocolError, 'SETTINGS on a stream');
    if ((flags & Flags.Ack) !== 0) {
      if (payload.length !== 0) throw new ConnectionError(ErrorCode.FrameSizeError, 'SETTINGS ack with a payload');
      return;
    }
    if (payload.length % 6 !== 0) throw new ConnectionError(ErrorCode.FrameSizeError, 'SETTINGS of the wrong size');
    for (let p = 0; p < payload.length; p += 6) {
      const setting = payload.readUInt16BE(p);
      const value = payload.readUInt32BE(p + 2);
      switch (setting) {
        case Setting.HeaderTableSize:
          this.encoder.setMaxTableSize(value);
          break;
        case Setting.EnablePush:
          if (value > 1) throw new ConnectionError(ErrorCode.ProtocolError, 'ENABLE_PUSH above 1');
          break;
        case Setting.InitialWindowSize: {
          if (value > MAX_WINDOW_BYTES) throw new ConnectionError(ErrorCode.FlowControlError, 'INITIAL_WINDOW_SIZE above 2^31-1');
          const delta = value - this.peerInitialWindow;
          this.peerInitialWindow = value;
          for (const s of this.streams.values()) {
            s.sendWindow += delta;
            if (s.sendWindow > MAX_WINDOW_BYTES) throw new ConnectionError(ErrorCode.FlowControlError, 'a stream window above 2^31-1');
          }
          if (delta > 0) for (const s of this.streams.values()) this.pump(s);
          break;
        }
        case Setting.MaxFrameSize:
          if (value < DEFAULT_MAX_FRAME_BYTES || value > MAX_ALLOWED_FRAME_BYTES) throw new ConnectionError(ErrorCode.ProtocolError, 'MAX_FRAME_SIZE out of range');
          this.peerMaxFrameBytes = value;
          break;
        default:
          // MAX_CONCURRENT_STREAMS and MAX_HEADER_LIST_SIZE bound what we would initiate or send
          // unasked: nothing here. Unknown settings are ignored.
          break;
      }
    }
    this.queue(frame(FrameType.Settings, Flags.Ack, 0));
  }

  private onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ConnectionError(ErrorCode.FrameSizeError, 'WINDOW_UPDATE of the wrong size');
    const increment = payload.readUInt32BE(0) & 0x7fff_ffff;
    if (id === 0) {
      if (increment === 0) throw new ConnectionError(ErrorCode.ProtocolError, 'WINDOW_UPDATE of 0');
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW_BYTES) throw new ConnectionError(ErrorCode.FlowControlError, 'connection window above 2^31-1');
      const waiting = [...this.blocked];
      this.blocked.clear();
      for (const s of waiting) this.pump(s);
      return;
    }
    const s = this.streams.get(id);
    if (s === undefined) {
      if (id > this.lastStreamId) throw new ConnectionError(ErrorCode.ProtocolError, 'WINDOW_UPDATE on an idle stream');
      return;
    }
    if (increment === 0) {
      this.resetStream(s, ErrorCode.ProtocolError);
      return;
    }
    s.sendWindow += increment;
    if (s.sendWindow > MAX_WINDOW_BYTES) {
      this.resetStream(s, ErrorCode.FlowControlError);
      return;
    }
    this.pump(s);
  }

  private keepalive(): void {
    if (this.closed || this.pingDeadline !== undefined) return;
    if (Date.now() - this.lastReadMs < this.options.keepaliveIntervalMs) return;
    this.queue(frame(FrameType.Ping, 0, 0, KEEPALIVE_PING));
    this.pingDeadline = setTimeout(() => {
      this.pingDeadline = undefined;
      this.fail(new ConnectionError(ErrorCode.NoError, 'keepalive ping not answered'));
    }, this.options.keepaliveTimeoutMs);
    this.pingDeadline.unref();
  }

  // ---- writing (StreamOwner) ----

  sendHeaders(stream: H2Stream, fields: readonly HeaderField[], endStream: boolean): void {
    if (this.closed) return;
    this.queueHeaderBlock(stream.id, this.encoder.encode(fields), endStream);
    if (endStream) this.endLocally(stream);
  }

  pump(s: H2Stream): void {
    if (this.closed || s.localClosed) return;
    while (s.queue.length > 0) {
      const room = Math.min(s.sendWindow, this.sendWindow, this.peerMaxFrameBytes);
      if (room <= 0) {
        if (this.sendWindow <= 0) this.blocked.add(s);
        return;
      }
      let head = s.queue[0];
      if (s.reserved[0]) {
        const payload = head.length - FRAME_HEADER_BYTES;
        if (payload <= room) {
          // Room was left for the header: the payload goes out in its own buffer, uncopied.
          const isLast = s.queue.length === 1 && s.pendingEnd;
          putFrameHeader(head, 0, payload, FrameType.Data, isLast ? Flags.EndStream : 0, s.id);
          this.queue(head);
          s.sendWindow -= payload;
          this.sendWindow -= payload;
          s.queuedBytes -= payload;
          s.queue.shift();
          s.reserved.shift();
          if (isLast) {
            s.pendingEnd = false;
            this.endLocally(s);
            return;
          }
          continue;
        }
        // Larger than the windows or the frame size allow: sent in pieces, as plain data.
        head = s.queue[0] = head.subarray(FRAME_HEADER_BYTES);
        s.reserved[0] = false;
      }
      const n = Math.min(room, head.length);
      const isLast = n === head.length && s.queue.length === 1 && s.pendingEnd;
      const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + n);
      putFrameHeader(buf, 0, n, FrameType.Data, isLast ? Flags.EndStream : 0, s.id);
      head.copy(buf, FRAME_HEADER_BYTES, 0, n);
      this.queue(buf);
      s.sendWindow -= n;
      this.sendWindow -= n;
      s.queuedBytes -= n;
      if (n === head.length) {
        s.queue.shift();
        s.reserved.shift();
      } else s.queue[0] = head.subarray(n);
      if (isLast) {
        s.pendingEnd = false;
        this.endLocally(s);
        return;
      }
    }
    // All data is out: the end the stream was given, if any, follows it.
    if (s.pendingTrailers !== undefined) {
      this.queueHeaderBlock(s.id, this.encoder.encode(s.pendingTrailers), true);
      s.pendingTrailers = undefined;
    } else if (s.pendingEnd) {
      this.queue(frame(FrameType.Data, Flags.EndStream, s.id));
      s.pendingEnd = false;
    } else {
      s.drained();
      return;
    }
    this.endLocally(s);
  }

  sendFramedParts(s: H2Stream, head: Buffer, parts: readonly Buffer[], payload: number): boolean {
    if (this.closed || s.localClosed || payload > Math.min(s.sendWindow, this.sendWindow, this.peerMaxFrameBytes)) return false;
    putFrameHeader(head, 0, payload, FrameType.Data, 0, s.id);
    this.queue(head);
    for (let i = 0; i < parts.length; i++) this.queue(parts[i]);
    s.sendWindow -= payload;
    this.sendWindow -= payload;
    return true;
  }

  sendReset(s: H2Stream, code: ErrorCode): void {
    if (this.closed) return;
    this.queue(rstStreamFrame(s.id, code));
    s.remoteClosed = true;
    this.forget(s);
  }

  socketBacklog(): number {
    return this.socket.writableLength + this.outBytes;
  }

  /**
   * We sent the stream's END_STREAM. If the client is still sending, it is told to stop with
   * RST_STREAM NO_ERROR (RFC 9113 §8.1), as gRPC servers do when they answer before the request's end.
   */
  private endLocally(s: H2Stream): void {
    s.localClosed = true;
    if (!s.remoteClosed) {
      this.queue(rstStreamFrame(s.id, ErrorCode.NoError));
      s.remoteClosed = true;
    }
    this.forget(s);
  }

  private maybeForget(s: H2Stream): void {
    if (s.localClosed && s.remoteClosed) this.forget(s);
  }

  private forget(s: H2Stream): void {
    if (!this.streams.delete(s.id)) return;
    // The handler's closures hold the call; a stream promoted to the old generation would keep
    // them (and what they point to) alive through every minor GC until a full one (see
    // etcdserver/proposals.ts, forget).
    s.handler = undefined;
    this.blocked.delete(s);
    if (this.goingAway && this.streams.size === 0) this.endSocket();
  }

  private resetId(id: number, code: ErrorCode): void {
    const s = this.streams.get(id);
    if (s !== undefined) this.resetStream(s, code);
    else this.queue(rstStreamFrame(id, code));
  }

  /** A stream error: RST_STREAM, and the handler hears of it. */
  private resetStream(s: H2Stream, code: ErrorCode): void {
    s.localClosed = true;
    const handler = s.handler;
    this.sendReset(s, code);
    handler?.onReset(code);
  }

  private queueHeaderBlock(id: number, block: Buffer, endStream: boolean): void {
    const max = this.peerMaxFrameBytes;
    const endFlag = endStream ? Flags.EndStream : 0;
    if (block.length <= max) {
      const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + block.length);
      putFrameHeader(buf, 0, block.length, FrameType.Headers, endFlag | Flags.EndHeaders, id);
      block.copy(buf, FRAME_HEADER_BYTES);
      this.queue(buf);
      return;
    }
    for (let pos = 0; pos < block.length; pos += max) {
      const part = block.subarray(pos, pos + max);
      const last = pos + max >= block.length;
      const type = pos === 0 ? FrameType.Headers : FrameType.Continuation;
      const flags = (pos === 0 ? endFlag : 0) | (last ? Flags.EndHeaders : 0);
      this.queue(frame(type, flags, id, part));
    }
  }

  /** Adds a frame to the next flush (false: the connection is closed). */
  private push(buf: Buffer): boolean {
    if (this.closed) return false;
    this.out.push(buf);
    this.outBytes += buf.length;
    return true;
  }

  private queuePingAck(buf: Buffer): void {
    if (!this.push(buf)) return;
    if (!this.flushScheduled && this.pingAckTimer === undefined) {
      this.pingAckTimer = setTimeout(() => {
        this.pingAckTimer = undefined;
        this.flush();
      }, PING_ACK_DELAY_MS);
    }
  }

  private queue(buf: Buffer): void {
    if (!this.push(buf)) return;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // After the current tick's promise callbacks: the replies a batch of applied writes
      // releases together leave in one socket write.
      process.nextTick(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pingAckTimer !== undefined) {
      clearTimeout(this.pingAckTimer);
      this.pingAckTimer = undefined;
    }
    if (this.closed || this.out.length === 0) return;
    const out = this.out;
    const total = this.outBytes;
    this.out = [];
    this.outBytes = 0;
    if (out.length === 1) this.socket.write(out[0]);
    else if (total <= OUTPUT_SLAB_MAX_BYTES) {
      // Small frames are copied into one buffer; large ones go as they are (one writev).
      const region = this.outputRegion(total);
      let pos = 0;
      for (let i = 0; i < out.length; i++) pos += out[i].copy(region, pos);
      this.socket.write(region);
    } else {
      this.socket.cork();
      for (const b of out) this.socket.write(b);
      this.socket.uncork();
    }
    if (!this.readPaused && this.socket.writableLength > SOCKET_BACKLOG_LIMIT_BYTES) {
      this.readPaused = true;
      this.socket.pause();
    }
  }

  /**
   * n bytes of the output slab for one socket write. What was handed to write() stays the
   * socket's until that write completes, and the socket counts it in writableLength until then:
   * at 0, every earlier write is done and the slab is free from its start again. Otherwise the
   * region comes after the bytes in flight, or from a new slab (the old one is let go; the
   * socket holds it until its writes are done).
   */
  private outputRegion(n: number): Buffer {
    if (this.socket.writableLength === 0) this.slabUsed = 0;
    if (this.slab === undefined || this.slabUsed + n > this.slab.length) {
      let size = this.slab === undefined ? OUTPUT_SLAB_BYTES : this.slab.length;
      while (size < n) size *= 2;
      this.slab = Buffer.allocUnsafeSlow(size);
      this.slabUsed = 0;
    }
    const start = this.slabUsed;
    this.slabUsed += n;
    return this.slab.subarray(start, start + n);
  }

  private onSocketDrain(): void {
    if (this.readPaused) {
      this.readPaused = false;
      this.socket.resume();
    }
    for (const s of [...this.streams.values()]) s.drained();
  }

  private endSocket(): void {
    this.flush();
    this.socket.end();
  }

  private fail(err: unknown): void {
    if (this.closed) return;
    const code = err instanceof ConnectionError ? err.code : ErrorCode.InternalError;
    const message = err instanceof Error ? err.message : String(err);
    this.queue(goAwayFrame(this.lastStreamId, code, message));
    this.flush();
    this.socket.end();
    this.teardown(err instanceof Error ? err : new Error(message));
  }

  private teardown(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    if (this.keepaliveTimer !== undefined) clearInterval(this.keepaliveTimer);
    if (this.pingDeadline !== undefined) clearTimeout(this.pingDeadline);
    if (this.pingAckTimer !== undefined) clearTimeout(this.pingAckTimer);
    this.slab = undefined;
    this.out = [];
    this.outBytes = 0;
    const streams = [...this.streams.values()];
    this.streams.clear();
    this.blocked.clear();
    for (const s of streams) {
      s.localClosed = true;
      s.remoteClosed = true;
      s.handler?.onReset(ErrorCode.Cancel);
    }
    this.options.onClose?.(err);
  }
}

/** A padded payload without its pad length byte and padding (§6.1). */
function unpad(payload: Buffer): Buffer {
  if (payload.length < 1) throw new ConnectionError(ErrorCode.FrameSizeError, 'padded frame without a pad length');
  const pad = payload[0];
  if (pad >= payload.length) throw new ConnectionError(ErrorCode.ProtocolError, 'padding longer than the frame');
  return payload.subarray(1, payload.length - pad);
}
