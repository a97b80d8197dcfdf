// HTTP/2 framing (RFC 9113, section 4 and 6): frame types, flags, error codes, settings, and the
// frames a server writes, each built into one Buffer.

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER_BYTES = 9;
/** The frame size every endpoint accepts (SETTINGS_MAX_FRAME_SIZE's initial value). */
export const DEFAULT_MAX_FRAME_BYTES = 16_384;
/** The initial flow-control window of a stream and of the connection. */
export const DEFAULT_WINDOW_BYTES = 65_535;
export const MAX_WINDOW_BYTES = 2 ** 31 - 1;

export const FrameType = {
  Data: 0x0,
  Headers: 0x1,
  Priority: 0x2,
  RstStream: 0x3,
  Settings: 0x4,
  PushPromise: 0x5,
  Ping: 0x6,
  GoAway: 0x7,
  WindowUpdate: 0x8,
  Continuation: 0x9,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export const Flag = {
  EndStream: 0x1,
  Ack: 0x1,
  EndHeaders: 0x4,
  Padded: 0x8,
  Priority: 0x20,
} as const;
export type Flag = (typeof Flag)[keyof typeof Flag];

export const ErrorCode = {
  NoError: 0x0,
  ProtocolError: 0x1,
  InternalError: 0x2,
  FlowControlError: 0x3,
  SettingsTimeout: 0x4,
  StreamClosed: 0x5,
  FrameSizeError: 0x6,
  RefusedStream: 0x7,
  Cancel: 0x8,
  CompressionError: 0x9,
  EnhanceYourCalm: 0xb,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const Setting = {
  HeaderTableSize: 0x1,
  EnablePush: 0x2,
  MaxConcurrentStreams: 0x3,
  InitialWindowSize: 0x4,
  MaxFrameSize: 0x5,
  MaxHeaderListSize: 0x6,
} as const;
export type Setting = (typeof Setting)[keyof typeof Setting];

/** Writes a frame header into `b` at `at`. */
export function writeFrameHeader(
  b: Buffer,
  at: number,
  length: number,
  type: FrameType,
  flags: number,
  stream: number,
): void {
  b[at] = length >>> 16;
  b[at + 1] = (length >>> 8) & 0xff;
  b[at + 2] = length & 0xff;
  b[at + 3] = type;
  b[at + 4] = flags;
  b.writeUInt32BE(stream, at + 5);
}

/** One frame with `payload` (copied). */
export function frame(type: FrameType, flags: number, stream: number, payload: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.byteLength);
  writeFrameHeader(b, 0, payload.byteLength, type, flags, stream);
  b.set(payload, FRAME_HEADER_BYTES);
  return b;
}

export function settingsFrame(settings: ReadonlyMap<Setting, number>): Buffer {
  const payload = Buffer.allocUnsafe(6 * settings.size);
  let at = 0;
  for (const [id, value] of settings) {
    payload.writeUInt16BE(id, at);
    payload.writeUInt32BE(value, at + 2);
    at += 6;
  }
  return frame(FrameType.Settings, 0, 0, payload);
}

export const SETTINGS_ACK = frame(FrameType.Settings, Flag.Ack, 0, new Uint8Array(0));

export function windowUpdateFrame(stream: number, increment: number): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeFrameHeader(b, 0, 4, FrameType.WindowUpdate, 0, stream);
  b.writeUInt32BE(increment, FRAME_HEADER_BYTES);
  return b;
}

export function rstStreamFrame(stream: number, code: ErrorCode): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeFrameHeader(b, 0, 4, FrameType.RstStream, 0, stream);
  b.writeUInt32BE(code, FRAME_HEADER_BYTES);
  return b;
}

export function goAwayFrame(lastStream: number, code: ErrorCode, debug = ''): Buffer {
  const text = Buffer.from(debug, 'utf8');
  const b = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 8 + text.length);
  writeFrameHeader(b, 0, 8 + text.length, FrameType.GoAway, 0, 0);
  b.writeUInt32BE(lastStream, FRAME_HEADER_BYTES);
  b.writeUInt32BE(code, FRAME_HEADER_BYTES + 4);
  text.copy(b, FRAME_HEADER_BYTES + 8);
  return b;
}
