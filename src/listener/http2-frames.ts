// The few pieces of HTTP/2 framing (RFC 9113 section 4, 6) the client listener needs to look at
// a client's first bytes and to rebuild HEADERS frames.

/** What every HTTP/2 client sends first (RFC 9113 section 3.4). */
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FRAME_HEADER_BYTES = 9;
/** SETTINGS_MAX_FRAME_SIZE's initial value; Node's server does not raise it. */
export const DEFAULT_MAX_FRAME_SIZE = 16384;

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  SETTINGS: 0x4,
  CONTINUATION: 0x9,
} as const;

export const Flag = {
  /** SETTINGS and PING. */
  ACK: 0x1,
  END_STREAM: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export interface FrameHeader {
  length: number;
  type: number;
  flags: number;
  streamId: number;
}

export function readFrameHeader(buf: Uint8Array, offset: number): FrameHeader {
  return {
    length: (buf[offset] << 16) | (buf[offset + 1] << 8) | buf[offset + 2],
    type: buf[offset + 3],
    flags: buf[offset + 4],
    streamId: ((buf[offset + 5] & 0x7f) << 24 | (buf[offset + 6] << 16) | (buf[offset + 7] << 8) | buf[offset + 8]) >>> 0,
  };
}

export function frameHeader(h: FrameHeader): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  b.writeUIntBE(h.length, 0, 3);
  b[3] = h.type;
  b[4] = h.flags;
  b.writeUInt32BE(h.streamId & 0x7fffffff, 5);
  return b;
}

/** The SETTINGS frame with no settings: it changes nothing, and a client must answer it. */
export const EMPTY_SETTINGS = frameHeader({ length: 0, type: FrameType.SETTINGS, flags: 0, streamId: 0 });

export function isSettingsAck(h: FrameHeader): boolean {
  return h.type === FrameType.SETTINGS && (h.flags & Flag.ACK) !== 0;
}

/** A HEADERS frame's payload split into its parts; undefined when the padding does not fit. */
export function splitHeadersPayload(flags: number, payload: Uint8Array): { priority: Uint8Array; fragment: Uint8Array } | undefined {
  let start = 0;
  let end = payload.length;
  if (flags & Flag.PADDED) {
    if (payload.length < 1) return undefined;
    end -= payload[0];
    start = 1;
  }
  const priorityEnd = flags & Flag.PRIORITY ? start + 5 : start;
  if (priorityEnd > end) return undefined;
  return { priority: payload.subarray(start, priorityEnd), fragment: payload.subarray(priorityEnd, end) };
}

/**
 * A header block as one HEADERS frame (END_HEADERS set, no padding, END_STREAM and PRIORITY kept
 * from the original flags), or HEADERS plus CONTINUATIONs when it exceeds the frame size.
 */
export function headerBlockFrames(streamId: number, originalFlags: number, priority: Uint8Array, block: Uint8Array, maxFrameSize = DEFAULT_MAX_FRAME_SIZE): Buffer {
  const keep = originalFlags & (Flag.END_STREAM | Flag.PRIORITY);
  const payload = Buffer.concat([priority, block]);
  const out: Buffer[] = [];
  let offset = 0;
  let first = true;
  do {
    const chunk = payload.subarray(offset, offset + maxFrameSize);
    offset += chunk.length;
    const last = offset >= payload.length;
    out.push(
      frameHeader({
        length: chunk.length,
        type: first ? FrameType.HEADERS : FrameType.CONTINUATION,
        flags: (first ? keep : 0) | (last ? Flag.END_HEADERS : 0),
        streamId,
      }),
      chunk,
    );
    first = false;
  } while (offset < payload.length);
  return Buffer.concat(out);
}
