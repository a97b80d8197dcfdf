// A shard's recent changes, per applied entry, bounded in entries and bytes: a watch that resumes
// from a recent position (a client back after a reconnect, on this replica or another) is served
// from here without re-applying the log (replay.ts). Entries that changed nothing (a skipped copy, a
// failed compare) are not kept, but the ring still covers their positions.
import type { KvChange } from '../../storage/kv-change.ts';
import { assert } from '../assert.ts';

/** The changes of one applied entry, in the order it made them. */
export interface EntryChanges {
  readonly index: number;
  readonly changes: readonly KvChange[];
  /** Keys, values and previous values: what keeping it holds alive. */
  readonly bytes: number;
}

export interface EventRingBounds {
  readonly entriesMax: number;
  readonly bytesMax: number;
}

/** What a shard keeps at most while it is watched (and for as many entries after its last watcher left). */
export const EVENT_RING_DEFAULTS: EventRingBounds = { entriesMax: 1024, bytesMax: 1024 * 1024 };

export class EventRing {
  private readonly bounds: EventRingBounds;
  /** Invariant: indexes strictly increase; every one is in [coveredFrom, lastIndex]. */
  private entries: EntryChanges[] = [];
  /** Where `entries` starts (the ones before it were evicted). Invariant: head <= entries.length. */
  private head = 0;
  /** Invariant: the sum of the bytes of entries[head..]; <= bounds.bytesMax, or one entry alone. */
  private bytes = 0;
  /**
   * The first position whose changes the ring knows: every entry applied in [coveredFrom,
   * lastIndex] that changed a key is held. Invariant: coveredFrom <= lastIndex + 1.
   */
  coveredFrom: number;
  /** The last position applied (reported by `applied`). */
  lastIndex: number;

  constructor(appliedIndex: number, bounds: EventRingBounds = EVENT_RING_DEFAULTS) {
    assert(
      bounds.entriesMax >= 1 && bounds.bytesMax >= 1,
      () => `event ring bounds ${JSON.stringify(bounds)}`,
    );
    this.bounds = bounds;
    this.coveredFrom = appliedIndex + 1;
    this.lastIndex = appliedIndex;
  }

  /** Records the entry applied at `index` (its changes may be none). */
  applied(index: number, changes: readonly KvChange[]): EntryChanges | undefined {
    this.assertAfter(index);
    this.lastIndex = index;
    if (changes.length === 0) return undefined;
    let bytes = 0;
    for (const c of changes) bytes += c.key.byteLength + c.value.byteLength + (c.prev?.value.byteLength ?? 0);
    const e: EntryChanges = { index, changes, bytes };
    this.entries.push(e);
    this.bytes += bytes;
    while (this.size() > this.bounds.entriesMax || (this.bytes > this.bounds.bytesMax && this.size() > 1))
      this.evict();
    return e;
  }

  /** Forgets everything: the state jumped to `appliedIndex` (a snapshot installed). */
  reset(appliedIndex: number): void {
    this.entries = [];
    this.head = 0;
    this.bytes = 0;
    this.coveredFrom = appliedIndex + 1;
    this.lastIndex = appliedIndex;
  }

  /**
   * The entry at `index` was applied and is not recorded (nobody watches the shard): the ring keeps
   * nothing and covers only what comes after it. Allocates nothing once empty.
   */
  passed(index: number): void {
    this.assertAfter(index);
    if (this.size() > 0) this.reset(index);
    this.coveredFrom = index + 1;
    this.lastIndex = index;
  }

  /** The entries at `from` or after, oldest first; undefined when `from` is older than the ring covers. */
  since(from: number): EntryChanges[] | undefined {
    if (from < this.coveredFrom) return undefined;
    const out: EntryChanges[] = [];
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i] as EntryChanges;
      if (e.index >= from) out.push(e);
    }
    return out;
  }

  /** Per entry: the passing case allocates nothing (no message closure). */
  private assertAfter(index: number): void {
    if (index > this.lastIndex) return;
    assert(false, `event ring: index ${index} after ${this.lastIndex}`);
  }

  size(): number {
    return this.entries.length - this.head;
  }

  private evict(): void {
    const e = this.entries[this.head] as EntryChanges;
    this.head++;
    this.bytes -= e.bytes;
    this.coveredFrom = e.index + 1;
    if (this.head > 64 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}
