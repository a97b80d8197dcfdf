// Where a KvState's values live: copied once each into slabs (buffers of up to SLAB_BYTES_MAX); a
// key's object (StoredValue) names its slab, offset and length. Per key that is one small object on
// the V8 heap instead of three (a record, a Buffer and its ArrayBuffer with a backing store of its
// own): a major GC marks a third of the objects, and ~250 bytes per key of heap and malloc
// bookkeeping are gone.
//
// A value goes into a slot of its size class (slotBytesFor: at most an eighth more than its
// length); a slab holds slots of one class. An overwritten or deleted value's slot is free again and
// the next value of its class takes it, so keys overwritten at random (values of like sizes) leave
// no garbage behind and move nothing. A slot freed while a capture holds the state (`hold`) is taken
// again only once every capture open at its release has closed: a capture reads the bytes of the
// objects of its moment. So the bytes of a slot change only after no key's object and no open
// capture names them; a reader that keeps a value past the call that read it keeps a copy.
//
// Free slots no value of their class takes (the sizes written changed), the bytes a slot rounds up,
// and a restored state's snapshot buffer (adopted as one slab whose values are read in place, and
// whose space is never taken again) are garbage. Once the garbage is more than GARBAGE_SHARE of the
// live bytes (and more than a slab), the slab with the smallest live share is emptied: each write
// moves up to MOVE_KEYS_PER_WRITE of its keys' values into other slabs, each under a new object (a
// capture holds the old ones), until none is left in it and the slab is let go. So the bytes held
// stay within about (1 + GARBAGE_SHARE) × the live bytes, plus a slab per size class in use, plus
// what a capture still holds.

/** Share of the live bytes that may be garbage in slabs before one is emptied. */
export const GARBAGE_SHARE = 0.25;
/** Largest slab a value is copied into; a size class's first slab is SLAB_BYTES_MIN, each next one twice that. */
export const SLAB_BYTES_MAX = 1024 * 1024;
export const SLAB_BYTES_MIN = 16 * 1024;
/** A value larger than this share of SLAB_BYTES_MAX gets a slab of its own (freed once overwritten). */
const OWN_SLAB_SHARE = 1 / 16;
/**
 * The smallest slot: a slab holds at most one value per this many of its bytes, so that its list of
 * keys stays within an eighth of its size however small the values.
 */
export const SLAB_BYTES_PER_KEY = 32;
/** Keys looked at per write while a slab is emptied: 1,024 values of 1 KiB take 32 writes. */
export const MOVE_KEYS_PER_WRITE = 32;

/**
 * The slot a value of n bytes (n >= 1) goes into: n rounded up to a multiple of an eighth of the
 * power of two below it (at least SLAB_BYTES_PER_KEY), so a slot wastes at most n / 8: eight size
 * classes per doubling.
 */
export function slotBytesFor(n: number): number {
  if (n <= SLAB_BYTES_PER_KEY) return SLAB_BYTES_PER_KEY;
  const step = 2 ** (Math.floor(Math.log2(n - 1)) - 3);
  return Math.ceil(n / step) * step;
}

/** A buffer values are copied into: in slots of one size, or end to end (its own, adopted). */
export class Slab {
  readonly bytes: Buffer;
  /** Bytes [0, used) have been handed out (adopted: the whole buffer). Invariant: 0 <= used <= bytes.length. */
  used = 0;
  /** Sum of the lengths of the values here the state still holds. Invariant: 0 <= live <= used. */
  live = 0;
  /**
   * Slots: keys[i] is the key last placed in slot i (it may since have been rewritten elsewhere or
   * deleted). End to end: every key whose value was written here, in order.
   */
  readonly keys: string[];
  /** Bytes per slot; 0: values laid end to end, never written over (a value of its own, an adopted buffer). */
  readonly slotBytes: number;

  constructor(bytes: Buffer, keys: string[] = [], slotBytes = 0) {
    this.bytes = bytes;
    this.keys = keys;
    this.slotBytes = slotBytes;
  }
}

/** The slabs of one slot size. */
interface SizeClass {
  /** The slab fresh slots are handed out from (at `used`). */
  filling: Slab;
  /**
   * Slots free to take again (no key's object and no open capture names their bytes), newest last:
   * slot freeAts[i] of freeSlabs[i]. Those of a slab since let go or being emptied are passed over.
   */
  readonly freeSlabs: Slab[];
  readonly freeAts: number[];
}

/** The slab of every empty value: holds no bytes, so a key with an empty value pins nothing. */
const NO_SLAB = new Slab(Buffer.alloc(0));
const EMPTY_VALUE = Buffer.alloc(0);

/** A key's value and version. Never modified: a write or a move replaces the key's object. */
export class StoredValue {
  /**
   * The key, as the state's map holds it: a write of the key passes this string on to the value that
   * replaces this one, so every structure that names the key (the map, the sorted index, the slabs'
   * keys, the leases) shares one string object, not one per write (a key's string is about 32 bytes,
   * a reference 8).
   */
  readonly key: string;
  readonly slab: Slab;
  readonly offset: number;
  readonly length: number;
  readonly version: number;

  constructor(key: string, slab: Slab, offset: number, length: number, version: number) {
    this.key = key;
    this.slab = slab;
    this.offset = offset;
    this.length = length;
    this.version = version;
  }

  /**
   * A view of the value's bytes: not to be written into, and not to be kept once the value is
   * released (its slot may take another value then) unless a capture holding this object is open.
   */
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
  /** By slot size. */
  private readonly classes = new Map<number, SizeClass>();
  /** Every slab but the classes' filling ones. Invariant: each has live > 0. */
  private readonly full = new Set<Slab>();
  /** Sum of `live` over every slab. */
  private liveBytes = 0;
  /** Sum of `used` over the filling slabs and `full`. Invariant: usedBytes >= liveBytes. */
  private usedBytes = 0;
  /** The slab being emptied, and its next key to look at. Invariant: emptying.slab is in `full`. */
  private emptying: { readonly slab: Slab; next: number } | undefined;
  /** Ids of the holds not yet closed (hold()); ids grow from 1. */
  private readonly holdsOpen = new Set<number>();
  private lastHold = 0;
  /**
   * Slots released while holds were open, in release order, each with the last hold taken by then:
   * free once every hold up to it has closed. Entries [0, deferredHead) are done.
   */
  private deferred: { readonly slab: Slab; readonly offset: number; readonly newestHold: number }[] = [];
  private deferredHead = 0;

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
    if (n === 0) return new StoredValue(key, NO_SLAB, 0, 0, version);
    const v = this.place(key, n, version);
    v.slab.bytes.set(bytes, v.offset);
    return v;
  }

  /**
   * Takes `bytes` (a snapshot read back, never changed after) as one slab whose values are read in
   * place: `value(key, offset, length, version)` names each, and `end()` follows the last (a slab
   * left with no value is let go at once); `keys` must list every key given a value.
   */
  adopt(
    bytes: Buffer,
    keys: string[],
  ): {
    value: (key: string, offset: number, length: number, version: number) => StoredValue;
    end: () => void;
  } {
    const slab = new Slab(bytes, keys);
    slab.used = bytes.length;
    this.full.add(slab);
    this.usedBytes += slab.used;
    return {
      value: (key, offset, length, version) => {
        if (length === 0) return new StoredValue(key, NO_SLAB, 0, 0, version);
        if (!(offset >= 0 && offset + length <= bytes.length))
          throw new Error(
            `value-slabs: value [${offset}, +${length}) outside an adopted ${bytes.length} bytes`,
          );
        slab.live += length;
        this.liveBytes += length;
        return new StoredValue(key, slab, offset, length, version);
      },
      end: () => {
        if (slab.live === 0) this.drop(slab);
      },
    };
  }

  /**
   * `v` is no longer any key's value (overwritten or deleted, after its successor was stored): its
   * slot is free again (once the holds now open have closed), its slab goes once nothing in it is.
   */
  release(v: StoredValue): void {
    if (v.length === 0) return;
    const slab = v.slab;
    slab.live -= v.length;
    this.liveBytes -= v.length;
    if (slab.live < 0) throw new Error(`value-slabs: a slab's live bytes went to ${slab.live}`);
    if (slab.live === 0 && !this.isFilling(slab)) {
      this.drop(slab);
      return;
    }
    if (slab.slotBytes === 0) return;
    if (this.holdsOpen.size === 0) this.freeSlot(slab, v.offset);
    else this.deferred.push({ slab, offset: v.offset, newestHold: this.lastHold });
  }

  /**
   * While a capture of the state reads the objects of its moment: no slot released until the
   * returned function is called is taken again before it is (nor before earlier holds close).
   */
  hold(): () => void {
    const id = ++this.lastHold;
    this.holdsOpen.add(id);
    return () => {
      if (!this.holdsOpen.delete(id)) return;
      let oldest = Number.POSITIVE_INFINITY;
      for (const h of this.holdsOpen) oldest = Math.min(oldest, h);
      const d = this.deferred;
      for (; this.deferredHead < d.length; this.deferredHead++) {
        const e = d[this.deferredHead]!;
        if (e.newestHold >= oldest) break;
        this.freeSlot(e.slab, e.offset);
      }
      if (this.deferredHead === d.length) {
        this.deferred = [];
        this.deferredHead = 0;
      }
    };
  }

  /**
   * Bounded work after a write: while the garbage is over its bound, moves up to MOVE_KEYS_PER_WRITE
   * values of the emptiest slab into other slabs (under new objects in `index`).
   */
  compactSome(index: ValueIndex): void {
    if (this.emptying === undefined) {
      const garbage = this.usedBytes - this.liveBytes;
      if (garbage <= this.liveBytes * GARBAGE_SHARE || garbage <= this.slabBytesMax) return;
      const slab = this.emptiest();
      if (slab === undefined) return;
      this.emptying = { slab, next: 0 }; // its free slots are not taken again: it is to hold nothing
    }
    const e = this.emptying;
    const { slab } = e;
    const end = Math.min(slab.keys.length, e.next + MOVE_KEYS_PER_WRITE);
    for (; e.next < end && this.emptying === e; e.next++) {
      const k = slab.keys[e.next] as string;
      const v = index.get(k);
      if (v === undefined || v.slab !== slab) continue;
      if (slab.slotBytes > 0 && v.offset !== e.next * slab.slotBytes) continue; // k is in another slot now
      const to = this.place(v.key, v.length, v.version);
      v.copyTo(to.slab.bytes, to.offset);
      index.set(k, to);
      this.release(v);
    }
    if (this.emptying !== e) return; // the last value moved out: released, dropped
    if (e.next === slab.keys.length) {
      throw new Error(
        `value-slabs: ${slab.live} live bytes left in a slab after all its ${slab.keys.length} keys moved out`,
      );
    }
  }

  /** Bytes of values the state holds, and bytes handed out in the slabs it keeps (tests, metrics). */
  get stats(): { readonly liveBytes: number; readonly usedBytes: number; readonly slabs: number } {
    return {
      liveBytes: this.liveBytes,
      usedBytes: this.usedBytes,
      slabs: this.full.size + this.classes.size,
    };
  }

  /** Bytes of the values read from `bytes` (an adopted buffer); 0 once it is let go. */
  liveIn(bytes: Buffer): number {
    for (const s of this.full) if (s.bytes === bytes) return s.live;
    return 0;
  }

  /** Room for `key`'s n bytes (n >= 1), counted as live: a slab of its own, a free slot, or a fresh one. */
  private place(key: string, n: number, version: number): StoredValue {
    if (n > this.ownSlabBytes) {
      const own = new Slab(Buffer.allocUnsafeSlow(n));
      own.used = n;
      own.keys.push(key);
      this.full.add(own);
      this.usedBytes += n;
      return this.counted(key, own, 0, n, version);
    }
    const slotBytes = slotBytesFor(n);
    const c = this.classOf(slotBytes);
    while (c.freeSlabs.length > 0) {
      const s = c.freeSlabs.pop() as Slab;
      const at = c.freeAts.pop() as number;
      if (!this.takes(s)) continue;
      s.keys[at / slotBytes] = key;
      return this.counted(key, s, at, n, version);
    }
    let f = c.filling;
    if (f.used + slotBytes > f.bytes.length) {
      if (f.live === 0) this.forget(f);
      else this.full.add(f);
      f = this.newSlotSlab(slotBytes, Math.min(this.slabBytesMax, f.bytes.length * 2));
      c.filling = f;
    }
    const at = f.used;
    f.used += slotBytes;
    this.usedBytes += slotBytes;
    f.keys.push(key);
    return this.counted(key, f, at, n, version);
  }

  private counted(key: string, slab: Slab, at: number, n: number, version: number): StoredValue {
    slab.live += n;
    this.liveBytes += n;
    return new StoredValue(key, slab, at, n, version);
  }

  private classOf(slotBytes: number): SizeClass {
    let c = this.classes.get(slotBytes);
    if (c === undefined) {
      c = { filling: this.newSlotSlab(slotBytes, this.slabBytesMin), freeSlabs: [], freeAts: [] };
      this.classes.set(slotBytes, c);
    }
    return c;
  }

  private newSlotSlab(slotBytes: number, size: number): Slab {
    const slots = Math.max(1, Math.floor(size / slotBytes));
    return new Slab(Buffer.allocUnsafeSlow(slots * slotBytes), [], slotBytes);
  }

  private isFilling(slab: Slab): boolean {
    return slab.slotBytes > 0 && this.classes.get(slab.slotBytes)?.filling === slab;
  }

  /** Whether `slab`'s free slots may take values: it is kept and not being emptied. */
  private takes(slab: Slab): boolean {
    return this.emptying?.slab !== slab && (this.full.has(slab) || this.isFilling(slab));
  }

  /** Slot `at` of `slab` may take a value again (unless, when its turn comes, the slab does not take any). */
  private freeSlot(slab: Slab, at: number): void {
    if (!this.takes(slab)) return;
    const c = this.classes.get(slab.slotBytes) as SizeClass;
    c.freeSlabs.push(slab);
    c.freeAts.push(at);
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
    this.forget(slab);
    if (this.emptying?.slab === slab) this.emptying = undefined;
  }

  private forget(slab: Slab): void {
    this.usedBytes -= slab.used;
  }
}
