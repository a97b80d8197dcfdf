// The append messages sent to one follower and not yet acknowledged, bounded in count and in
// bytes. A ring buffer of (last index, size) in the order the messages were sent.

import { assert } from '../errors.ts';

export class Inflights {
  /** Bound on messages in flight. */
  readonly countMax: number;
  /** Bound on entry bytes in flight; 0 means unlimited. */
  readonly bytesMax: number;
  private readonly indexes: number[];
  private readonly sizes: number[];
  private start = 0;
  // Invariant: 0 <= count <= countMax; bytes is the sum of sizes of the live slots.
  private count_ = 0;
  private bytes_ = 0;

  constructor(countMax: number, bytesMax: number) {
    assert(countMax > 0 && bytesMax >= 0, `inflights bounds count ${countMax} bytes ${bytesMax}`);
    this.countMax = countMax;
    this.bytesMax = bytesMax;
    this.indexes = [];
    this.sizes = [];
  }

  get count(): number {
    return this.count_;
  }

  get bytes(): number {
    return this.bytes_;
  }

  /** Records a message whose last entry is `lastIndex`. Indexes must increase. */
  add(lastIndex: number, sizeBytes: number): void {
    assert(
      !this.full(),
      `inflights full: count ${this.count_}/${this.countMax} bytes ${this.bytes_}/${this.bytesMax}`,
    );
    if (this.count_ > 0) {
      const prev = this.indexes[(this.start + this.count_ - 1) % this.countMax]!;
      assert(lastIndex > prev, `inflights index ${lastIndex} not after ${prev}`);
    }
    const slot = (this.start + this.count_) % this.countMax;
    this.indexes[slot] = lastIndex;
    this.sizes[slot] = sizeBytes;
    this.count_++;
    this.bytes_ += sizeBytes;
  }

  /** Frees every message whose last index is <= `upTo` (they were acknowledged). */
  freeLE(upTo: number): void {
    while (this.count_ > 0) {
      const idx = this.indexes[this.start]!;
      if (idx > upTo) break;
      this.bytes_ -= this.sizes[this.start]!;
      this.start = (this.start + 1) % this.countMax;
      this.count_--;
    }
    if (this.count_ === 0) this.start = 0;
  }

  full(): boolean {
    return this.count_ === this.countMax || (this.bytesMax !== 0 && this.bytes_ >= this.bytesMax);
  }

  reset(): void {
    this.start = 0;
    this.count_ = 0;
    this.bytes_ = 0;
  }
}
