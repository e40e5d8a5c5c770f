// gRPC's length-prefixed messages out of a stream's DATA payloads: a flag byte (1: compressed),
// a 4-byte big-endian length, the message. Payloads may split a message anywhere or carry several.
// A declared length over the limit is refused before its bytes are read, so nothing above the
// limit is ever buffered.

export const MESSAGE_PREFIX_BYTES = 5;

export class MessageTooLarge extends Error {
  constructor(readonly declared: number) {
    super(`message of ${declared} bytes`);
  }
}

export interface RawMessage {
  compressed: boolean;
  bytes: Buffer;
}

export class MessageReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxBytes: number) {}

  /** Bytes of an incomplete message held (0 between messages). */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Adds a payload; returns the messages it completed. Throws MessageTooLarge. */
  push(data: Buffer): RawMessage[] {
    if (data.length === 0) return [];
    this.chunks.push(data);
    this.buffered += data.length;
    const out: RawMessage[] = [];
    while (this.buffered >= MESSAGE_PREFIX_BYTES) {
      const head = this.peek(MESSAGE_PREFIX_BYTES);
      const length = head.readUInt32BE(1);
      if (length > this.maxBytes) throw new MessageTooLarge(length);
      if (this.buffered < MESSAGE_PREFIX_BYTES + length) break;
      const whole = this.take(MESSAGE_PREFIX_BYTES + length);
      out.push({ compressed: whole[0] !== 0, bytes: whole.subarray(MESSAGE_PREFIX_BYTES) });
    }
    return out;
  }

  /** The first n buffered bytes without consuming them (n ≤ buffered). */
  private peek(n: number): Buffer {
    const first = this.chunks[0];
    if (first.length >= n) return first;
    const merged = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [merged];
    return merged;
  }

  /**
   * Consumes n bytes, copied: a decoded request keeps its wire bytes (pb/load.ts) until it is
   * proposed, and a view would keep the socket's whole read chunk alive with it.
   */
  private take(n: number): Buffer {
    const first = this.chunks[0];
    let out: Buffer;
    if (first.length >= n) {
      out = Buffer.from(first.subarray(0, n));
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const merged = Buffer.concat(this.chunks, this.buffered);
      out = merged.subarray(0, n);
      this.chunks = merged.length > n ? [merged.subarray(n)] : [];
    }
    this.buffered -= n;
    return out;
  }
}
