// Where a KvState's values live: copied once each into slabs (buffers of up to SLAB_BYTES_MAX)
// and never changed there; a key's object (StoredValue) names its slab, offset and length. Per key
// that is one small object on the V8 heap instead of three (a record, a Buffer and its ArrayBuffer
// with a backing store of its own): a major GC marks a third of the objects, and ~250 bytes per key
// of heap and malloc bookkeeping are gone.
//
// An overwritten or deleted value stays in its slab as garbage. Once the garbage is more than
// GARBAGE_SHARE of the live bytes (and more than a slab), the slab with the smallest live share is
// emptied: each write moves up to MOVE_KEYS_PER_WRITE of its keys' values into the slab being
// filled, each under a new object (a capture holds the old ones, whose bytes stay where they were),
// until none is left in it and the slab is let go. So the bytes held stay within about
// (1 + GARBAGE_SHARE) × the live bytes, plus a slab, plus what a capture still holds.
//
// A restored state adopts its snapshot's buffer as one slab (its values are not copied at all) and
// empties it the same way, once it is the emptiest.

/** Share of the live bytes that may be garbage in slabs before one is emptied. */
export const GARBAGE_SHARE = 0.25;
/** Largest slab a value is copied into; the first slab of a state is SLAB_BYTES_MIN, each next one twice that. */
export const SLAB_BYTES_MAX = 1024 * 1024;
export const SLAB_BYTES_MIN = 16 * 1024;
/** A value larger than this share of SLAB_BYTES_MAX gets a slab of its own (freed once overwritten). */
const OWN_SLAB_SHARE = 1 / 16;
/**
 * A slab takes at most one value per this many of its bytes, so that its list of keys stays within
 * an eighth of its size however small the values (smaller ones leave the rest of it unwritten).
 */
export const SLAB_BYTES_PER_KEY = 32;
/** Keys looked at per write while a slab is emptied: 1,024 values of 1 KiB take 32 writes. */
export const MOVE_KEYS_PER_WRITE = 32;

/** A buffer values are copied into, each once, at increasing offsets. */
export class Slab {
  /** Bytes [0, used) are written and never change again (adopted: the whole buffer). */
  readonly bytes: Buffer;
  /** Invariant: 0 <= used <= bytes.length. */
  used = 0;
  /** Sum of the lengths of the values here the state still holds. Invariant: 0 <= live <= used. */
  live = 0;
  /** Every key whose value was written here, in order; some since rewritten elsewhere or deleted. */
  readonly keys: string[];

  constructor(bytes: Buffer, keys: string[] = []) {
    this.bytes = bytes;
    this.keys = keys;
  }
}

/** The slab of every empty value: holds no bytes, so a key with an empty value pins nothing. */
const NO_SLAB = new Slab(Buffer.alloc(0));
const EMPTY_VALUE = Buffer.alloc(0);

/** A key's value and version. Never modified: a write or a move replaces the key's object. */
export class StoredValue {
  readonly slab: Slab;
  readonly offset: number;
  readonly length: number;
  readonly version: number;

  constructor(slab: Slab, offset: number, length: number, version: number) {
    this.slab = slab;
    this.offset = offset;
    this.length = length;
    this.version = version;
  }

  /** A view of the value's bytes (never modified: callers must not write into it). */
  get value(): Buffer {
    return this.length === 0 ? EMPTY_VALUE : this.slab.bytes.subarray(this.offset, this.offset + this.length);
  }

  /** Copies the value's bytes into `target` at `at`. */
  copyTo(target: Uint8Array, at: number): void {
    this.slab.bytes.copy(target, at, this.offset, this.offset + this.length);
  }
}

/** The keys' current values, as KvState's map holds them (the narrow view a move needs). */
export interface ValueIndex {
  get(key: string): StoredValue | undefined;
  set(key: string, value: StoredValue): unknown;
}

export interface ValueSlabsOptions {
  /** Tuning of the slab sizes (tests use tiny slabs to exercise moves): SLAB_BYTES_MIN, SLAB_BYTES_MAX. */
  readonly slabBytesMin?: number;
  readonly slabBytesMax?: number;
}

export class ValueSlabs {
  private readonly slabBytesMin: number;
  private readonly slabBytesMax: number;
  /** A value larger than this gets a slab of its own. */
  private readonly ownSlabBytes: number;
  /** The slab values are copied into; undefined until the first non-empty value. */
  private filling: Slab | undefined;
  /** Slabs no longer filled (own-slab values' and adopted ones included). Invariant: each has live > 0. */
  private readonly full = new Set<Slab>();
  /** Sum of `live` over every slab. */
  private liveBytes = 0;
  /** Sum of `used` over `filling` and `full`. Invariant: usedBytes >= liveBytes. */
  private usedBytes = 0;
  /** The slab being emptied, and its next key to look at. Invariant: emptying.slab is in `full`. */
  private emptying: { readonly slab: Slab; next: number } | undefined;

  constructor(options: ValueSlabsOptions = {}) {
    this.slabBytesMax = options.slabBytesMax ?? SLAB_BYTES_MAX;
    this.slabBytesMin = Math.min(options.slabBytesMin ?? SLAB_BYTES_MIN, this.slabBytesMax);
    if (!(this.slabBytesMin >= SLAB_BYTES_PER_KEY))
      throw new Error(`value-slabs: slabs of ${this.slabBytesMin}..${this.slabBytesMax} bytes`);
    this.ownSlabBytes = Math.max(1, Math.floor(this.slabBytesMax * OWN_SLAB_SHARE));
  }

  /** Copies `bytes` into a slab as `key`'s value at `version`. */
  store(key: string, bytes: Uint8Array, version: number): StoredValue {
    const n = bytes.byteLength;
    if (n === 0) return new StoredValue(NO_SLAB, 0, 0, version);
    const slab = this.slabFor(n);
    const at = slab.used;
    slab.bytes.set(bytes, at);
    return this.placed(slab, key, at, n, version);
  }

  /**
   * Takes `bytes` (a snapshot read back, never changed after) as one slab whose values are read in
   * place: `value(offset, length, version)` names each, and `end()` follows the last (a slab left
   * with no value is let go at once); `keys` must list every key given a value.
   */
  adopt(
    bytes: Buffer,
    keys: string[],
  ): { value: (offset: number, length: number, version: number) => StoredValue; end: () => void } {
    const slab = new Slab(bytes, keys);
    slab.used = bytes.length;
    this.full.add(slab);
    this.usedBytes += slab.used;
    return {
      value: (offset, length, version) => {
        if (length === 0) return new StoredValue(NO_SLAB, 0, 0, version);
        if (!(offset >= 0 && offset + length <= bytes.length))
          throw new Error(
            `value-slabs: value [${offset}, +${length}) outside an adopted ${bytes.length} bytes`,
          );
        slab.live += length;
        this.liveBytes += length;
        return new StoredValue(slab, offset, length, version);
      },
      end: () => {
        if (slab.live === 0) this.drop(slab);
      },
    };
  }

  /** `v` is no longer any key's value (overwritten or deleted); its slab goes once nothing in it is. */
  release(v: StoredValue): void {
    if (v.length === 0) return;
    const slab = v.slab;
    slab.live -= v.length;
    this.liveBytes -= v.length;
    if (slab.live < 0) throw new Error(`value-slabs: a slab's live bytes went to ${slab.live}`);
    if (slab.live === 0 && slab !== this.filling) this.drop(slab);
  }

  /**
   * Bounded work after a write: while the garbage is over its bound, moves up to MOVE_KEYS_PER_WRITE
   * values of the emptiest slab into the one being filled (under new objects in `index`).
   */
  compactSome(index: ValueIndex): void {
    if (this.emptying === undefined) {
      const garbage = this.usedBytes - this.liveBytes;
      if (garbage <= this.liveBytes * GARBAGE_SHARE || garbage <= this.slabBytesMax) return;
      const slab = this.emptiest();
      if (slab === undefined) return;
      this.emptying = { slab, next: 0 };
    }
    const e = this.emptying;
    const { slab } = e;
    const end = Math.min(slab.keys.length, e.next + MOVE_KEYS_PER_WRITE);
    for (; e.next < end && this.emptying === e; e.next++) {
      const k = slab.keys[e.next] as string;
      const v = index.get(k);
      if (v === undefined || v.slab !== slab) continue;
      const to = this.slabFor(v.length);
      const at = to.used;
      v.copyTo(to.bytes, at);
      index.set(k, this.placed(to, k, at, v.length, v.version));
      this.release(v);
    }
    if (this.emptying !== e) return; // the last value moved out: released, dropped
    if (e.next === slab.keys.length) {
      throw new Error(
        `value-slabs: ${slab.live} live bytes left in a slab after all its ${slab.keys.length} keys moved out`,
      );
    }
  }

  /** Bytes of values the state holds, and bytes written into the slabs it keeps (tests, metrics). */
  get stats(): { readonly liveBytes: number; readonly usedBytes: number; readonly slabs: number } {
    return {
      liveBytes: this.liveBytes,
      usedBytes: this.usedBytes,
      slabs: this.full.size + (this.filling === undefined ? 0 : 1),
    };
  }

  /** Whether `bytes` (an adopted buffer) is still held for any value. */
  holds(bytes: Buffer): boolean {
    for (const s of this.full) if (s.bytes === bytes) return true;
    return false;
  }

  private placed(slab: Slab, key: string, at: number, n: number, version: number): StoredValue {
    slab.used = at + n;
    slab.live += n;
    slab.keys.push(key);
    this.usedBytes += n;
    this.liveBytes += n;
    return new StoredValue(slab, at, n, version);
  }

  /** A slab with room for n more bytes: the one being filled, a new one after it, or one of n's own. */
  private slabFor(n: number): Slab {
    if (n > this.ownSlabBytes) {
      const own = new Slab(Buffer.allocUnsafeSlow(n));
      this.full.add(own);
      return own;
    }
    const f = this.filling;
    if (
      f !== undefined &&
      f.used + n <= f.bytes.length &&
      f.keys.length < f.bytes.length / SLAB_BYTES_PER_KEY
    )
      return f;
    const size = f === undefined ? this.slabBytesMin : Math.min(this.slabBytesMax, f.bytes.length * 2);
    if (f !== undefined) {
      if (f.live === 0) this.forget(f);
      else this.full.add(f);
    }
    const next = new Slab(Buffer.allocUnsafeSlow(Math.max(size, n)));
    this.filling = next;
    return next;
  }

  /** The full slab with the smallest share of live bytes (not one being filled). */
  private emptiest(): Slab | undefined {
    let best: Slab | undefined;
    for (const s of this.full) {
      if (best === undefined || s.live * best.used < best.live * s.used) best = s;
    }
    return best;
  }

  /** A slab with no live value left: no longer counted, no longer emptied; a capture may still hold it. */
  private drop(slab: Slab): void {
    if (!this.full.delete(slab)) return;
    this.usedBytes -= slab.used;
    if (this.emptying?.slab === slab) this.emptying = undefined;
  }

  private forget(slab: Slab): void {
    this.usedBytes -= slab.used;
  }
}
