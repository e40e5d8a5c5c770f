// HTTP/2 frame constants and the 9-byte frame header (RFC 9113 §4.1, §6, §7). Frames are built
// straight into buffers: the connection writes many small frames per request.

export const enum FrameType {
  Data = 0x0,
  Headers = 0x1,
  Priority = 0x2,
  RstStream = 0x3,
  Settings = 0x4,
  PushPromise = 0x5,
  Ping = 0x6,
  GoAway = 0x7,
  WindowUpdate = 0x8,
  Continuation = 0x9,
}

export const enum Flags {
  EndStream = 0x1,
  Ack = 0x1,
  EndHeaders = 0x4,
  Padded = 0x8,
  Priority = 0x20,
}

export const enum ErrorCode {
  NoError = 0x0,
  ProtocolError = 0x1,
  InternalError = 0x2,
  FlowControlError = 0x3,
  SettingsTimeout = 0x4,
  StreamClosed = 0x5,
  FrameSizeError = 0x6,
  RefusedStream = 0x7,
  Cancel = 0x8,
  CompressionError = 0x9,
  ConnectError = 0xa,
  EnhanceYourCalm = 0xb,
  InadequateSecurity = 0xc,
  Http11Required = 0xd,
}

export const enum Setting {
  HeaderTableSize = 0x1,
  EnablePush = 0x2,
  MaxConcurrentStreams = 0x3,
  InitialWindowSize = 0x4,
  MaxFrameSize = 0x5,
  MaxHeaderListSize = 0x6,
}

export const FRAME_HEADER_BYTES = 9;
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** The smallest maximum frame size, which both sides start with. */
export const DEFAULT_MAX_FRAME_BYTES = 16_384;
export const MAX_ALLOWED_FRAME_BYTES = 16_777_215;
export const DEFAULT_WINDOW_BYTES = 65_535;
export const MAX_WINDOW_BYTES = 0x7fff_ffff;

export function putFrameHeader(buf: Buffer, pos: number, length: number, type: FrameType, flags: number, stream: number): number {
  buf[pos] = length >>> 16;
  buf[pos + 1] = (length >>> 8) & 0xff;
  buf[pos + 2] = length & 0xff;
  buf[pos + 3] = type;
  buf[pos + 4] = flags;
  buf.writeUInt32BE(stream & 0x7fff_ffff, pos + 5);
  return pos + FRAME_HEADER_BYTES;
}

/** A whole frame with the given payload. */
export function frame(type: FrameType, flags: number, stream: number, payload?: Buffer): Buffer {
  const length = payload === undefined ? 0 : payload.length;
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  putFrameHeader(buf, 0, length, type, flags, stream);
  if (payload !== undefined) payload.copy(buf, FRAME_HEADER_BYTES);
  return buf;
}

export function settingsFrame(settings: readonly [Setting, number][]): Buffer {
  const payload = Buffer.allocUnsafe(6 * settings.length);
  settings.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, 6 * i);
    payload.writeUInt32BE(value, 6 * i + 2);
  });
  return frame(FrameType.Settings, 0, 0, payload);
}

export function windowUpdateFrame(stream: number, increment: number): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  putFrameHeader(buf, 0, 4, FrameType.WindowUpdate, 0, stream);
  buf.writeUInt32BE(increment, FRAME_HEADER_BYTES);
  return buf;
}

export function rstStreamFrame(stream: number, code: ErrorCode): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  putFrameHeader(buf, 0, 4, FrameType.RstStream, 0, stream);
  buf.writeUInt32BE(code, FRAME_HEADER_BYTES);
  return buf;
}

export function goAwayFrame(lastStream: number, code: ErrorCode, debug?: string): Buffer {
  const text = debug === undefined ? undefined : Buffer.from(debug, 'utf8');
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 8 + (text?.length ?? 0));
  putFrameHeader(buf, 0, 8 + (text?.length ?? 0), FrameType.GoAway, 0, 0);
  buf.writeUInt32BE(lastStream & 0x7fff_ffff, FRAME_HEADER_BYTES);
  buf.writeUInt32BE(code, FRAME_HEADER_BYTES + 4);
  text?.copy(buf, FRAME_HEADER_BYTES + 8);
  return buf;
}
