// HPACK (RFC 7541): decoding the header blocks a client sends, and the few representations we
// write. One HpackDecoder per connection: its dynamic table lives across every header block the
// peer sends, so every block must be decoded, in order, even one whose stream is refused.
//
// Bounded: the dynamic table by the size we advertised (SETTINGS_HEADER_TABLE_SIZE; a size update
// above it is an error), one block's header list by `maxHeaderListBytes` (RFC 7541's size: octets
// of name and value plus 32 per field; beyond it the fields are dropped but the block is still
// decoded, so the table stays in step), integers by MAX_INTEGER.
import { huffmanDecode } from './huffman.ts';

/** RFC 7541 Appendix A, indexes 1–61. */
export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/** The size an entry counts for in the dynamic table and a header list (RFC 7541, 4.1). */
const ENTRY_OVERHEAD = 32;
/** Larger integers are refused: no length or index or table size we accept comes near. */
const MAX_INTEGER = 2 ** 24;

/** A header block that cannot be decoded: the connection must end (COMPRESSION_ERROR). */
export class HpackError extends Error {
  override readonly name = 'HpackError';
}

export class HpackDecoder {
  /** The dynamic table as a ring, newest at `head - 1`; at most `names.length` entries fit. */
  private readonly names: string[];
  private readonly values: string[];
  private head = 0;
  private count = 0;
  private size = 0;
  /** The table's size now (the peer's last size update), at most `maxTableBytes`. */
  private limit: number;
  private readonly maxTableBytes: number;
  private readonly maxHeaderListBytes: number;
  // Where decode() is in its block (fields, so that the helpers return only values).
  private src: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private end = 0;

  /** `maxTableBytes`: our SETTINGS_HEADER_TABLE_SIZE (4096 by default, as the protocol's). */
  constructor(maxTableBytes = 4096, maxHeaderListBytes = 64 * 1024) {
    this.maxTableBytes = maxTableBytes;
    this.limit = maxTableBytes;
    this.maxHeaderListBytes = maxHeaderListBytes;
    const capacity = Math.floor(maxTableBytes / ENTRY_OVERHEAD) + 1;
    this.names = new Array<string>(capacity).fill('');
    this.values = new Array<string>(capacity).fill('');
  }

  /** Entries in the dynamic table (tests). */
  get tableEntries(): number {
    return this.count;
  }

  /** Bytes the dynamic table holds by RFC 7541's count (tests). */
  get tableBytes(): number {
    return this.size;
  }

  /**
   * Decodes the whole block `src[start, end)`, pushing each field's name and value onto `out`
   * (flat: name, value, name, value…). Returns false if the header list exceeded its bound (the
   * fields beyond it were dropped; the table is up to date). Throws HpackError on a malformed block.
   */
  decode(src: Uint8Array, start: number, end: number, out: string[]): boolean {
    this.src = src;
    this.pos = start;
    this.end = end;
    let listBytes = 0;
    let fits = true;
    let fieldsSeen = false;
    while (this.pos < this.end) {
      const b = src[this.pos] as number;
      let name: string;
      let value: string;
      if (b >= 0x80) {
        const index = this.integer(7);
        if (index === 0) throw new HpackError('indexed header field 0');
        name = this.nameAt(index);
        value = this.valueAt(index);
      } else if (b >= 0x40) {
        const index = this.integer(6);
        name = index === 0 ? this.string() : this.nameAt(index);
        value = this.string();
        this.insert(name, value);
      } else if (b >= 0x20) {
        // A dynamic table size update: only before the block's first field (RFC 7541, 4.2).
        if (fieldsSeen) throw new HpackError('dynamic table size update after a header field');
        const size = this.integer(5);
        if (size > this.maxTableBytes)
          throw new HpackError(`dynamic table size ${size} above the ${this.maxTableBytes} allowed`);
        this.limit = size;
        this.evictTo(size);
        continue;
      } else {
        // Without indexing (0000xxxx) or never indexed (0001xxxx): both leave the table alone.
        const index = this.integer(4);
        name = index === 0 ? this.string() : this.nameAt(index);
        value = this.string();
      }
      fieldsSeen = true;
      listBytes += name.length + value.length + ENTRY_OVERHEAD;
      if (listBytes > this.maxHeaderListBytes) fits = false;
      if (fits) out.push(name, value);
    }
    return fits;
  }

  /** An integer with an N-bit prefix (RFC 7541, 5.1). */
  private integer(prefixBits: number): number {
    const max = (1 << prefixBits) - 1;
    let value = (this.src[this.pos++] as number) & max;
    if (value < max) return value;
    for (let shift = 0; ; shift += 7) {
      if (this.pos >= this.end) throw new HpackError('integer cut off at the end of the block');
      const b = this.src[this.pos++] as number;
      value += (b & 0x7f) * 2 ** shift;
      if (value > MAX_INTEGER) throw new HpackError(`integer above ${MAX_INTEGER}`);
      if (b < 0x80) return value;
    }
  }

  /** A string literal (RFC 7541, 5.2), Huffman-coded or not, as latin1. */
  private string(): string {
    if (this.pos >= this.end) throw new HpackError('string literal missing at the end of the block');
    const huffman = ((this.src[this.pos] as number) & 0x80) !== 0;
    const length = this.integer(7);
    const start = this.pos;
    if (length > this.end - start) throw new HpackError(`string of ${length} bytes beyond the block`);
    this.pos = start + length;
    if (huffman) {
      try {
        return huffmanDecode(this.src, start, this.pos);
      } catch (e) {
        throw new HpackError((e as Error).message);
      }
    }
    return latin1(this.src, start, this.pos);
  }

  private nameAt(index: number): string {
    if (index <= STATIC_TABLE.length) return (STATIC_TABLE[index - 1] as readonly [string, string])[0];
    return this.names[this.slotOf(index)] as string;
  }

  private valueAt(index: number): string {
    if (index <= STATIC_TABLE.length) return (STATIC_TABLE[index - 1] as readonly [string, string])[1];
    return this.values[this.slotOf(index)] as string;
  }

  /** The ring slot of dynamic index `index` (62: the newest entry). */
  private slotOf(index: number): number {
    const age = index - STATIC_TABLE.length - 1;
    if (age >= this.count) throw new HpackError(`header index ${index} beyond the table`);
    const capacity = this.names.length;
    return (this.head - 1 - age + capacity * 2) % capacity;
  }

  private insert(name: string, value: string): void {
    const entryBytes = name.length + value.length + ENTRY_OVERHEAD;
    if (entryBytes > this.limit) {
      // Larger than the whole table: it empties the table and is not added (RFC 7541, 4.4).
      this.evictTo(0);
      return;
    }
    this.evictTo(this.limit - entryBytes);
    const capacity = this.names.length;
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.head = (this.head + 1) % capacity;
    this.count++;
    this.size += entryBytes;
  }

  /** Evicts the oldest entries until the table holds at most `bytes`. */
  private evictTo(bytes: number): void {
    const capacity = this.names.length;
    while (this.size > bytes) {
      const oldest = (this.head - this.count + capacity) % capacity;
      this.size -=
        (this.names[oldest] as string).length + (this.values[oldest] as string).length + ENTRY_OVERHEAD;
      this.names[oldest] = '';
      this.values[oldest] = '';
      this.count--;
    }
  }
}

function latin1(src: Uint8Array, start: number, end: number): string {
  return Buffer.from(src.buffer, src.byteOffset, src.byteLength).toString('latin1', start, end);
}

/** An integer with an N-bit prefix, the prefix's other bits `flags`, appended to `out`. */
export function encodeInteger(value: number, prefixBits: number, flags: number, out: number[]): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(flags | value);
    return;
  }
  out.push(flags | max);
  let rest = value - max;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
}

/**
 * A header field as a literal without indexing and with a literal name, neither Huffman-coded
 * (RFC 7541, 6.2.2): what we send leaves the peer's dynamic table alone, so a block can be built
 * once and sent on every stream of every connection. `name` and `value` must be latin1.
 */
export function encodeLiteral(name: string, value: string, out: number[]): void {
  out.push(0x00);
  for (const s of [name, value]) {
    encodeInteger(s.length, 7, 0x00, out);
    for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i) & 0xff);
  }
}

/** A field of the static table, whole (an indexed header field, RFC 7541 6.1). */
export function encodeIndexed(index: number, out: number[]): void {
  encodeInteger(index, 7, 0x80, out);
}
