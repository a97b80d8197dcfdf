// HPACK's static Huffman code (RFC 7541, section 5.2 and Appendix B): header strings a client sends
// Huffman-coded are decoded here; the encoder serves tests and any string we choose to shrink.
//
// The code is canonical: the codes of one length are consecutive in symbol order, and the first
// code of each length follows the last of the one before, shifted. So the table below holds only
// each symbol's length (symbols 0–255, then 256: EOS), and codes are derived from it at load
// (huffman.test.ts checks the derivation against the RFC's printed codes and its examples).
//
// Decoding reads 8 bits at a time through a table of 256 entries per state (a state is an
// internal node of the code's tree): each entry gives the state that follows and the symbols the
// byte completed (at most two: every code is at least 5 bits long). A string may end only at the
// root or at most 7 bits down EOS's path (padding is a prefix of EOS, all ones); EOS itself inside
// a string is an error.

/** Code length in bits of each symbol 0–256 (256 is EOS), RFC 7541 Appendix B. */
const CODE_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28,
  28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7,
  8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19,
  13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13,
  28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21,
  22, 23, 22, 23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23,
  22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25,
  25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

const EOS = 256;
const SYMBOLS = 257;

/** Each symbol's code, right-aligned (`CODES[s]` has `CODE_LENGTHS[s]` significant bits). */
export const CODES: readonly number[] = canonicalCodes(CODE_LENGTHS);

function canonicalCodes(lengths: readonly number[]): number[] {
  if (lengths.length !== SYMBOLS) throw new Error(`huffman: ${lengths.length} code lengths, not ${SYMBOLS}`);
  const order = [...lengths.keys()].sort((a, b) => (lengths[a] as number) - (lengths[b] as number) || a - b);
  const codes = new Array<number>(SYMBOLS).fill(0);
  let code = 0;
  let prevLength = lengths[order[0] as number] as number;
  for (let i = 0; i < order.length; i++) {
    const s = order[i] as number;
    const length = lengths[s] as number;
    if (i > 0) code = (code + 1) * 2 ** (length - prevLength);
    codes[s] = code;
    prevLength = length;
  }
  return codes;
}

/**
 * The decoding automaton. For state s and input byte b, entry s * 256 + b packs:
 *   bits 0–8: the next state; bit 9: a first symbol was completed, bits 10–17: which;
 *   bit 18: a second one, bits 19–26: which; bit 27: the byte completes EOS (invalid).
 */
const NEXT_MASK = 0x1ff;
const FIRST = 1 << 9;
const FIRST_SHIFT = 10;
const SECOND = 1 << 18;
const SECOND_SHIFT = 19;
const INVALID = 1 << 27;
/** The longest padding: a string's last byte holds at least one bit of a symbol. */
const PADDING_BITS_MAX = 7;

const { table: TABLE, mayEnd: MAY_END } = buildAutomaton();

function buildAutomaton(): { table: Uint32Array; mayEnd: Uint8Array } {
  // The tree: children[node * 2 + bit] is an internal node (> 0), a leaf (-1 - symbol), or absent (0).
  const children: number[] = [0, 0];
  const depth: number[] = [0];
  for (let s = 0; s < SYMBOLS; s++) {
    const length = CODE_LENGTHS[s] as number;
    const code = CODES[s] as number;
    let node = 0;
    for (let i = length - 1; i >= 0; i--) {
      const slot = node * 2 + (Math.floor(code / 2 ** i) % 2);
      if (i === 0) {
        if (children[slot] !== 0) throw new Error(`huffman: the code of symbol ${s} is not prefix-free`);
        children[slot] = -1 - s;
        break;
      }
      if (children[slot] === 0) {
        children[slot] = depth.length;
        depth.push(length - i);
        children.push(0, 0);
      }
      node = children[slot] as number;
      if (node < 0) throw new Error(`huffman: the code of symbol ${s} is not prefix-free`);
    }
  }
  const states = depth.length;
  if (states > NEXT_MASK + 1) throw new Error(`huffman: ${states} states do not fit the table`);
  const mayEnd = new Uint8Array(states);
  // The root, and the nodes reached by ones only (EOS's path), up to the longest padding.
  for (let node = 0; (depth[node] as number) <= PADDING_BITS_MAX; ) {
    mayEnd[node] = 1;
    node = children[node * 2 + 1] as number; // EOS is 30 bits long: an internal node this near the root
  }
  const table = new Uint32Array(states * 256);
  for (let state = 0; state < states; state++) {
    for (let byte = 0; byte < 256; byte++) {
      let node = state;
      let entry = 0;
      let emitted = 0;
      for (let i = 7; i >= 0; i--) {
        const child = children[node * 2 + ((byte >> i) & 1)] as number;
        if (child > 0) {
          node = child;
          continue;
        }
        const symbol = -1 - child;
        if (symbol === EOS) {
          entry |= INVALID;
          break;
        }
        entry |= emitted === 0 ? FIRST | (symbol << FIRST_SHIFT) : SECOND | (symbol << SECOND_SHIFT);
        emitted++;
        node = 0;
      }
      table[state * 256 + byte] = (entry | node) >>> 0;
    }
  }
  return { table, mayEnd };
}

/** A Huffman-coded string that is not valid (RFC 7541, 5.2: a decoding error). */
export class HuffmanError extends Error {
  override readonly name = 'HuffmanError';
}

/**
 * Decodes `src[start, end)` into a latin1 string (header names and values are octets; gRPC's are
 * ASCII, and a binary `-bin` value is base64). Throws HuffmanError on padding longer than 7 bits,
 * padding that is not a prefix of EOS, or EOS inside the string.
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number): string {
  let state = 0;
  let out = '';
  for (let i = start; i < end; i++) {
    const entry = TABLE[state * 256 + (src[i] as number)] as number;
    if ((entry & INVALID) !== 0) throw new HuffmanError('EOS inside a Huffman-coded string');
    if ((entry & FIRST) !== 0) {
      out += String.fromCharCode((entry >>> FIRST_SHIFT) & 0xff);
      if ((entry & SECOND) !== 0) out += String.fromCharCode((entry >>> SECOND_SHIFT) & 0xff);
    }
    state = entry & NEXT_MASK;
  }
  if (MAY_END[state] !== 1)
    throw new HuffmanError('Huffman padding not a prefix of EOS, or longer than 7 bits');
  return out;
}

/** The Huffman-coded length in bytes of latin1 string `s`. */
export function huffmanLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += CODE_LENGTHS[s.charCodeAt(i) & 0xff] as number;
  return Math.ceil(bits / 8);
}

/** Encodes latin1 string `s` (each char an octet) with the static code, padded with ones. */
export function huffmanEncode(s: string): Uint8Array {
  const out = new Uint8Array(huffmanLength(s));
  let acc = 0; // pending bits, right-aligned
  let accBits = 0;
  let o = 0;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    const length = CODE_LENGTHS[sym] as number;
    const code = CODES[sym] as number;
    // Feed the code in pieces of at most 8 bits, so `acc` stays within 16 bits.
    for (let left = length; left > 0; ) {
      const take = Math.min(left, 8);
      left -= take;
      acc = (acc << take) | (Math.floor(code / 2 ** left) & ((1 << take) - 1));
      accBits += take;
      while (accBits >= 8) {
        accBits -= 8;
        out[o++] = (acc >> accBits) & 0xff;
      }
      acc &= (1 << accBits) - 1;
    }
  }
  if (accBits > 0) out[o++] = ((acc << (8 - accBits)) | ((1 << (8 - accBits)) - 1)) & 0xff;
  return out;
}
