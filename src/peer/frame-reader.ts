// Splits a peer stream's bytes into length-prefixed frames (u32 big-endian length | body).
// Chunks are kept in a list and joined once per frame: joining the pending bytes with every
// chunk as it came (16 KiB HTTP/2 DATA frames) made a multi-megabyte frame cost quadratic copying,
// seconds of CPU for a follower catching up after a pause (found by SIGSTOP/SIGCONT under load:
// 6 s of a 8 s recovery were Buffer.concat).

export class FrameTooLargeError extends Error {}

export class FrameReader {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly maxFrameBytes: number) {}

  /** Bytes held that do not make a whole frame yet. */
  get pendingBytes(): number {
    return this.size;
  }

  /** Adds a chunk; returns the frame bodies it completed (throws FrameTooLargeError). */
  push(chunk: Buffer): Buffer[] {
    this.add(chunk);
    const frames: Buffer[] = [];
    for (let f = this.next(); f !== undefined; f = this.next()) frames.push(f);
    return frames;
  }

  /** Adds a chunk; returns the first whole frame, if there is one, leaving what follows unread. */
  pushOne(chunk: Buffer): Buffer | undefined {
    this.add(chunk);
    return this.next();
  }

  private add(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  private next(): Buffer | undefined {
    if (this.size < 4) return undefined;
    if (this.chunks[0].length < 4) this.join(4);
    const len = this.chunks[0].readUInt32BE(0);
    if (len > this.maxFrameBytes) throw new FrameTooLargeError(`frame of ${len} bytes`);
    if (this.size < 4 + len) return undefined;
    return this.take(4 + len).subarray(4);
  }

  /** Takes the held bytes that are not a frame (e.g. what follows a header frame). */
  rest(): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size);
    this.chunks = [];
    this.size = 0;
    return all;
  }

  /** Makes the first chunk at least n bytes long (n <= size). */
  private join(n: number): void {
    let have = 0;
    let count = 0;
    while (have < n) have += this.chunks[count++].length;
    this.chunks.splice(0, count, Buffer.concat(this.chunks.slice(0, count), have));
  }

  /** Removes and returns the first n bytes (n <= size). */
  private take(n: number): Buffer {
    if (this.chunks[0].length < n) this.join(n);
    const first = this.chunks[0];
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.size -= n;
    return out;
  }
}
