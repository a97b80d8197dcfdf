// Lowe's memo for the WGL search: the set of configurations (linearized operations, model state)
// already explored. Revisiting one cannot lead anywhere new, so the search skips it; this is what
// turns the exponential WGL search into something that finishes on real histories.
//
// Open addressing over typed arrays: a probe allocates nothing, and an entry costs
// (words + 2) * 4 bytes plus its slot, so a few million entries fit comfortably.

const EMPTY_SLOT = 0;

/** What `addIfAbsent` found. */
export const MEMO_ADDED = 1;
export const MEMO_PRESENT = 0;
export const MEMO_FULL = -1;

export class MemoTable {
  /** Words (32 bits each) per linearized-set bitset. */
  readonly #words: number;
  readonly #entriesMax: number;
  /** Slot → entry index + 1 (0 = empty). Invariant: length is a power of two, at most half full. */
  #slots: Int32Array;
  #hashes: Int32Array;
  #stateIds: Int32Array;
  /** Bitset of entry e is #bits[e * #words .. (e + 1) * #words). */
  #bits: Uint32Array;
  #size = 0;

  constructor(words: number, entriesMax: number) {
    if (!(Number.isInteger(words) && words >= 1))
      throw new Error(`MemoTable: words must be >= 1, got ${words}`);
    if (!(Number.isInteger(entriesMax) && entriesMax >= 1)) {
      throw new Error(`MemoTable: entriesMax must be >= 1, got ${entriesMax}`);
    }
    this.#words = words;
    this.#entriesMax = entriesMax;
    const capacity = 1024;
    this.#slots = new Int32Array(capacity * 2);
    this.#hashes = new Int32Array(capacity);
    this.#stateIds = new Int32Array(capacity);
    this.#bits = new Uint32Array(capacity * words);
  }

  get size(): number {
    return this.#size;
  }

  /**
   * Records the configuration (`linearized` with bit `opWord`/`opMask` also set, `stateId`) unless
   * it is already present. `hash` must be a function of exactly that configuration.
   * Returns MEMO_ADDED, MEMO_PRESENT, or MEMO_FULL when the bound on entries is reached.
   */
  addIfAbsent(
    hash: number,
    stateId: number,
    linearized: Uint32Array,
    opWord: number,
    opMask: number,
  ): number {
    const words = this.#words;
    const mask = this.#slots.length - 1;
    let slot = hash & mask;
    for (let probe = 0; probe <= mask; probe++) {
      const stored = this.#slots[slot]!;
      if (stored === EMPTY_SLOT) return this.#insert(slot, hash, stateId, linearized, opWord, opMask);
      const e = stored - 1;
      if (this.#hashes[e] === hash && this.#stateIds[e] === stateId) {
        const base = e * words;
        let same = true;
        for (let w = 0; w < words; w++) {
          const want = w === opWord ? (linearized[w]! | opMask) >>> 0 : linearized[w]!;
          if (this.#bits[base + w] !== want) {
            same = false;
            break;
          }
        }
        if (same) return MEMO_PRESENT;
      }
      slot = (slot + 1) & mask;
    }
    throw new Error(
      `MemoTable: no free slot among ${mask + 1} (size ${this.#size}); the load bound is broken`,
    );
  }

  #insert(
    slot: number,
    hash: number,
    stateId: number,
    linearized: Uint32Array,
    opWord: number,
    opMask: number,
  ) {
    if (this.#size >= this.#entriesMax) return MEMO_FULL;
    const e = this.#size;
    if (e === this.#hashes.length) this.#growEntries();
    const words = this.#words;
    this.#hashes[e] = hash;
    this.#stateIds[e] = stateId;
    const base = e * words;
    for (let w = 0; w < words; w++) this.#bits[base + w] = linearized[w]!;
    this.#bits[base + opWord] = (linearized[opWord]! | opMask) >>> 0;
    this.#slots[slot] = e + 1;
    this.#size = e + 1;
    if (this.#size * 2 > this.#slots.length) this.#rehash();
    return MEMO_ADDED;
  }

  #growEntries(): void {
    const capacity = this.#hashes.length * 2;
    const hashes = new Int32Array(capacity);
    hashes.set(this.#hashes);
    const stateIds = new Int32Array(capacity);
    stateIds.set(this.#stateIds);
    const bits = new Uint32Array(capacity * this.#words);
    bits.set(this.#bits);
    this.#hashes = hashes;
    this.#stateIds = stateIds;
    this.#bits = bits;
  }

  #rehash(): void {
    const slots = new Int32Array(this.#slots.length * 2);
    const mask = slots.length - 1;
    for (let e = 0; e < this.#size; e++) {
      let slot = this.#hashes[e]! & mask;
      while (slots[slot] !== EMPTY_SLOT) slot = (slot + 1) & mask;
      slots[slot] = e + 1;
    }
    this.#slots = slots;
  }
}
