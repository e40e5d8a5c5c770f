// The client-to-server byte stream of one HTTP/2 connection, frame by frame: header blocks are
// collected and have a refused :authority rewritten (see authority.ts); every other frame is
// forwarded as it arrives, byte for byte, without being held. It also drops the client's first
// SETTINGS ACK: that one answers the empty SETTINGS the listener sent before Node's session
// existed, and Node must see exactly one ACK for its own SETTINGS.
import { rewriteAuthority } from './authority';
import { requestsGrpc } from './grpc-match';
import { HpackError } from './hpack/huffman';
import {
  CLIENT_PREFACE,
  Flag,
  FRAME_HEADER_BYTES,
  FrameType,
  headerBlockFrames,
  isSettingsAck,
  readFrameHeader,
  splitHeadersPayload,
  type FrameHeader,
} from './http2-frames';

/**
 * A header block (HEADERS and its CONTINUATIONs) larger than this is passed on unexamined. Node
 * refuses header lists over 64 KiB decoded (its SETTINGS_MAX_HEADER_LIST_SIZE), which a block
 * this size exceeds, so it fails there anyway.
 */
export const MAX_HEADER_BLOCK_BYTES = 256 * 1024;

interface Block {
  streamId: number;
  flags: number;
  priority: Uint8Array;
  fragments: Uint8Array[];
  /** The frames as received, for when the block goes on unchanged. */
  originals: Buffer[];
  bytes: number;
}

type State =
  | { at: 'preface'; left: number }
  | { at: 'frame-header' }
  /** Forwarding a payload as it arrives. */
  | { at: 'forward'; left: number }
  /** Collecting a HEADERS or CONTINUATION payload. */
  | { at: 'collect'; header: FrameHeader; raw: Buffer; chunks: Buffer[]; left: number };

export class AuthorityRewriter {
  private state: State = { at: 'preface', left: CLIENT_PREFACE.length };
  private headerBytes: Buffer[] = [];
  private headerHave = 0;
  private block: Block | undefined;
  /** Inside a block too large or malformed to examine: its CONTINUATIONs are forwarded too. */
  private forwardingBlock = false;
  private consumed = 0;

  /** Input offset of the dropped SETTINGS ACK, once dropped. */
  ackDroppedAt: number | undefined;
  /** Header blocks that have been passed on (rewritten or not). */
  headerBlocks = 0;
  /** Header blocks whose :authority was rewritten. */
  rewrites = 0;
  /** Whether the first header block asks for gRPC (grpc-match.ts); undefined before it is complete. */
  firstRequestGrpc: boolean | undefined;

  /** Takes the next bytes from the client; returns the bytes to hand to Node's session. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let rest = chunk;
    while (rest.length > 0) {
      const s = this.state;
      if (s.at === 'preface' || s.at === 'forward') {
        const n = Math.min(s.left, rest.length);
        out.push(rest.subarray(0, n));
        this.consumed += n;
        rest = rest.subarray(n);
        s.left -= n;
        if (s.left === 0) this.state = { at: 'frame-header' };
      } else if (s.at === 'frame-header') {
        const n = Math.min(FRAME_HEADER_BYTES - this.headerHave, rest.length);
        this.headerBytes.push(rest.subarray(0, n));
        this.headerHave += n;
        this.consumed += n;
        rest = rest.subarray(n);
        if (this.headerHave === FRAME_HEADER_BYTES) {
          const raw = Buffer.concat(this.headerBytes);
          this.headerBytes = [];
          this.headerHave = 0;
          this.onFrameHeader(raw, out);
        }
      } else {
        const n = Math.min(s.left, rest.length);
        s.chunks.push(rest.subarray(0, n));
        this.consumed += n;
        rest = rest.subarray(n);
        s.left -= n;
        if (s.left === 0) {
          this.state = { at: 'frame-header' };
          this.onFramePayload(s.header, s.raw, Buffer.concat(s.chunks), out);
        }
      }
    }
    return out;
  }

  private onFrameHeader(raw: Buffer, out: Buffer[]): void {
    const h = readFrameHeader(raw, 0);
    if (this.ackDroppedAt === undefined && isSettingsAck(h) && h.length === 0) {
      this.ackDroppedAt = this.consumed - FRAME_HEADER_BYTES;
      return;
    }
    if (this.forwardingBlock) {
      this.forwardingBlock = h.type === FrameType.CONTINUATION && (h.flags & Flag.END_HEADERS) === 0;
      return this.forward(raw, h, out);
    }
    const continues = this.block !== undefined && h.type === FrameType.CONTINUATION && h.streamId === this.block.streamId;
    if (this.block !== undefined && !continues) {
      // Anything but the block's CONTINUATION is a connection error; Node's session reports it.
      this.flushBlock(out);
    }
    if (h.type !== FrameType.HEADERS && !continues) return this.forward(raw, h, out);
    const have = this.block?.bytes ?? 0;
    if (have + FRAME_HEADER_BYTES + h.length > MAX_HEADER_BLOCK_BYTES) {
      this.flushBlock(out);
      this.forwardingBlock = (h.flags & Flag.END_HEADERS) === 0;
      return this.forward(raw, h, out);
    }
    if (h.length === 0) return this.onFramePayload(h, raw, Buffer.alloc(0), out);
    this.state = { at: 'collect', header: h, raw, chunks: [], left: h.length };
  }

  private forward(raw: Buffer, h: FrameHeader, out: Buffer[]): void {
    out.push(raw);
    if (h.length > 0) this.state = { at: 'forward', left: h.length };
  }

  private onFramePayload(h: FrameHeader, raw: Buffer, payload: Buffer, out: Buffer[]): void {
    if (h.type === FrameType.HEADERS) {
      const parts = splitHeadersPayload(h.flags, payload);
      const frame = Buffer.concat([raw, payload]);
      if (parts === undefined) {
        // Padding longer than the frame: a protocol error, Node's to report.
        out.push(frame);
        this.forwardingBlock = (h.flags & Flag.END_HEADERS) === 0;
        return;
      }
      this.block = { streamId: h.streamId, flags: h.flags, priority: parts.priority, fragments: [parts.fragment], originals: [frame], bytes: frame.length };
    } else {
      const b = this.block as Block;
      b.fragments.push(payload);
      b.originals.push(raw, payload);
      b.bytes += raw.length + payload.length;
    }
    if (h.flags & Flag.END_HEADERS) this.finishBlock(out);
  }

  private finishBlock(out: Buffer[]): void {
    const b = this.block as Block;
    this.block = undefined;
    this.headerBlocks++;
    const block = Buffer.concat(b.fragments);
    let rewritten: Buffer | undefined;
    try {
      this.firstRequestGrpc ??= requestsGrpc(block);
      rewritten = rewriteAuthority(block);
    } catch (err) {
      // A block Node cannot decode either; it answers with COMPRESSION_ERROR.
      if (!(err instanceof HpackError)) throw err;
    }
    if (rewritten === undefined) {
      out.push(...b.originals);
      return;
    }
    this.rewrites++;
    out.push(headerBlockFrames(b.streamId, b.flags, b.priority, rewritten));
  }

  private flushBlock(out: Buffer[]): void {
    if (this.block === undefined) return;
    out.push(...this.block.originals);
    this.block = undefined;
  }
}
