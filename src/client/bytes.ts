// Keys and values are bytes on the wire; callers may pass strings (encoded as UTF-8). The hex
// helpers serve the CLI's --hex mode.

/** A key or value: raw bytes, or a string sent as its UTF-8 encoding. */
export type BytesLike = Uint8Array | string;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

export function toBytes(value: BytesLike): Uint8Array {
  return typeof value === 'string' ? encoder.encode(value) : value;
}

/** UTF-8 text of `bytes`; invalid sequences become U+FFFD (use hex to see the exact bytes). */
export function bytesToUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** True when `bytes` is valid UTF-8, so printing it as text loses nothing. */
export function isValidUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Thrown by hexToBytes for text that is not an even number of hex digits. */
export class HexFormatError extends Error {
  override readonly name = 'HexFormatError';
  readonly code = 'BAD_HEX';
}

/** Parses hex digits (an optional 0x prefix is allowed); throws HexFormatError on anything else. */
export function hexToBytes(text: string): Uint8Array {
  const digits = text.startsWith('0x') || text.startsWith('0X') ? text.slice(2) : text;
  if (digits.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(digits)) {
    throw new HexFormatError(
      `not hex bytes: ${JSON.stringify(text)} (expected an even number of digits 0-9a-f)`,
    );
  }
  return new Uint8Array(Buffer.from(digits, 'hex'));
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
