// A protobuf wire-format reader over one byte array, for the peer stream's hot path: varints come out
// as JS numbers (uint64 fields checked below 2^53, never through bigint), length-delimited fields as
// views of the array. Malformed input (a truncated varint or field, a length past the end, a group
// wire type) throws WireFormatError; a value the core cannot represent throws PeerCodecError (the
// caller decides: the one message is dropped, a malformed request refuses the stream).
import { PeerCodecError } from './errors.ts';

export class WireFormatError extends Error {
  override readonly name = 'WireFormatError';
}

/** Wire types (protobuf encoding): what follows a field's tag. */
export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

const TWO_32 = 2 ** 32;
/** The high word of 2^53: a uint64 whose high word reaches it is not a safe integer. */
const SAFE_HI_LIMIT = 2 ** 21;
const utf8 = new TextDecoder();
/**
 * Every empty byte field of the transport (what the reader hands out for one, its copy, a message's
 * default): one shared array, since nothing can be written into it.
 */
export const NO_BYTES: Uint8Array = new Uint8Array(0);

/**
 * Short strings decoded recently (node ids, cluster ids: a handful per cluster, in every message),
 * by their bytes: comparing a few bytes costs less than decoding them. Bounded in entries and in
 * the length of a string kept.
 */
const RECENT_STRINGS_MAX = 16;
const RECENT_STRING_BYTES_MAX = 64;
const recentBytes: Uint8Array[] = [];
const recentStrings: string[] = [];
let recentNext = 0;

/** The string of `buf[at, at + n)`, n ≤ RECENT_STRING_BYTES_MAX: compared in place, a view only to decode. */
function decodeShort(buf: Uint8Array, at: number, n: number): string {
  for (let k = 0; k < recentBytes.length; k++) {
    const kept = recentBytes[k] as Uint8Array;
    if (kept.length !== n) continue;
    let same = true;
    for (let i = 0; i < n; i++) {
      if (kept[i] !== buf[at + i]) {
        same = false;
        break;
      }
    }
    if (same) return recentStrings[k] as string;
  }
  const bytes = buf.subarray(at, at + n);
  const s = utf8.decode(bytes);
  recentBytes[recentNext] = bytes.slice();
  recentStrings[recentNext] = s;
  recentNext = (recentNext + 1) % RECENT_STRINGS_MAX;
  return s;
}

export class WireReader {
  readonly buf: Uint8Array;
  /** Invariant: pos <= end <= buf.length. */
  pos: number;
  readonly end: number;
  /** The last varint read, as its low and high 32-bit words (unsigned). */
  private lo = 0;
  private hi = 0;

  constructor(buf: Uint8Array, pos = 0, end = buf.length) {
    // A plain view: a Buffer's subarray builds a Buffer, which costs more per field.
    this.buf = Buffer.isBuffer(buf) ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) : buf;
    this.pos = pos;
    this.end = end;
  }

  /** Whether every byte up to `end` is read. */
  done(): boolean {
    return this.pos >= this.end;
  }

  /** A field's tag: its number times 8 plus its wire type (0 never appears in valid input). */
  tag(): number {
    this.varint();
    return this.lo;
  }

  /**
   * A uint64 field as a number; PeerCodecError above 2^53 - 1, naming `field` (as `list[at].field`
   * for one in the `at`th element of a repeated field).
   */
  uint64(field: string, list?: string, at?: number): number {
    this.varint();
    if (this.hi >= SAFE_HI_LIMIT)
      throw new PeerCodecError(list === undefined ? field : `${list}[${at}].${field}`, 'exceeds 2^53 - 1');
    return this.hi * TWO_32 + this.lo;
  }

  /** A uint32 field (or an enum as its unsigned low word), as the generated decoder reads it. */
  uint32(): number {
    this.varint();
    return this.lo;
  }

  bool(): boolean {
    this.varint();
    return this.lo !== 0 || this.hi !== 0;
  }

  /**
   * A length-delimited field's bytes, a view of the array (copy what is kept); an empty field is
   * one shared empty array (most messages' context).
   */
  bytes(): Uint8Array {
    const len = this.length();
    const at = this.pos;
    this.pos += len;
    return len === 0 ? NO_BYTES : this.buf.subarray(at, at + len);
  }

  string(): string {
    const len = this.length();
    const at = this.pos;
    this.pos += len;
    if (len === 0) return '';
    return len <= RECENT_STRING_BYTES_MAX
      ? decodeShort(this.buf, at, len)
      : utf8.decode(this.buf.subarray(at, at + len));
  }

  /** A reader over the embedded message that follows (this reader moves past it). */
  message(): WireReader {
    const len = this.length();
    const sub = new WireReader(this.buf, this.pos, this.pos + len);
    this.pos += len;
    return sub;
  }

  /** Skips a field of an unknown number (or of an unexpected wire type), as protobuf requires. */
  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.advance(8);
        return;
      case WIRE_LEN:
        this.advance(this.length());
        return;
      case WIRE_FIXED32:
        this.advance(4);
        return;
      default:
        throw new WireFormatError(`unsupported wire type ${wireType} at byte ${this.pos}`);
    }
  }

  private length(): number {
    const len = this.uint32();
    if (this.hi !== 0 || len > this.end - this.pos)
      throw new WireFormatError(`a length of ${len} at byte ${this.pos} runs past the end (${this.end})`);
    return len;
  }

  private advance(n: number): void {
    if (n > this.end - this.pos) throw new WireFormatError(`a field at byte ${this.pos} runs past the end`);
    this.pos += n;
  }

  /** Reads one varint (at most 10 bytes) into lo/hi. */
  private varint(): void {
    const buf = this.buf;
    let lo = 0;
    let hi = 0;
    // Bounded: at most 10 bytes, each consumed.
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.pos >= this.end) throw new WireFormatError(`a varint runs past the end (${this.end})`);
      const b = buf[this.pos++] as number;
      if (shift < 28) lo |= (b & 0x7f) << shift;
      else if (shift === 28) {
        lo |= (b & 0x0f) << 28;
        hi = (b & 0x7f) >> 4;
      } else hi |= (b & 0x7f) << (shift - 32);
      if ((b & 0x80) === 0) {
        this.lo = lo >>> 0;
        this.hi = hi >>> 0;
        return;
      }
    }
    throw new WireFormatError(`a varint longer than 10 bytes ending at byte ${this.pos}`);
  }
}
