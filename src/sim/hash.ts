// A 64-bit FNV-1a hash, incremental, in two 32-bit halves (no BigInt: it is hashed on every event).
// Used for trace hashes (determinism checks) and entry fingerprints (safety checks).

/** FNV-1a 64 offset basis, split into high and low 32-bit words. */
const OFFSET_HI = 0xcbf29ce4;
const OFFSET_LO = 0x84222325;
/** FNV-1a 64 prime is 2^40 + 0x1b3. */
const PRIME_LO = 0x1b3;

export class Fnv64 {
  private hi = OFFSET_HI;
  private lo = OFFSET_LO;

  /** Mixes one byte-sized or 16-bit code unit into the hash. */
  private mix(unit: number): void {
    const lo = (this.lo ^ unit) >>> 0;
    // h * (2^40 + 0x1b3) mod 2^64, with lo*0x1b3 exact in a double (< 2^41).
    const loProduct = lo * PRIME_LO;
    const carry = Math.floor(loProduct / 0x1_0000_0000);
    this.lo = loProduct >>> 0;
    this.hi = (Math.imul(this.hi, PRIME_LO) + carry + (lo << 8)) >>> 0;
  }

  addString(s: string): this {
    for (let i = 0; i < s.length; i++) this.mix(s.charCodeAt(i));
    this.mix(0x0a); // separator, so that ["ab","c"] and ["a","bc"] differ
    return this;
  }

  addBytes(bytes: Uint8Array): this {
    for (let i = 0; i < bytes.length; i++) this.mix(bytes[i] as number);
    this.mix(0x100); // out-of-byte-range separator
    return this;
  }

  /** Mixes a non-negative integer below 2^32 (a virtual time) as four bytes, without a string. */
  addTime(n: number): this {
    if (!(Number.isInteger(n) && n >= 0 && n < 0x1_0000_0000)) throw new Error(`Fnv64.addTime: ${n}`);
    this.mix(n & 0xff);
    this.mix((n >>> 8) & 0xff);
    this.mix((n >>> 16) & 0xff);
    this.mix(n >>> 24);
    return this;
  }

  addNumber(n: number): this {
    return this.addString(String(n));
  }

  /** The hash as 16 lowercase hex digits. */
  hex(): string {
    return this.hi.toString(16).padStart(8, '0') + this.lo.toString(16).padStart(8, '0');
  }
}

/** A short fingerprint of a byte array (FNV-1a 64, hex). */
export function hashBytes(bytes: Uint8Array): string {
  return new Fnv64().addBytes(bytes).hex();
}
