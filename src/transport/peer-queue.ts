// The outgoing queue of one peer: FIFO, bounded in messages and in bytes. Raft tolerates loss, so a
// full queue never blocks and never grows: it evicts the oldest ordinary item (keeping precious
// ones such as votes and snapshot chunks while it can) and reports how many items it dropped.

export interface QueueItem {
  /** An upper bound of the item's encoded size. */
  readonly sizeBytes: number;
  /** Evicted only when no ordinary item is left. */
  readonly precious: boolean;
}

export interface QueueLimits {
  readonly messagesMax: number;
  readonly bytesMax: number;
}

// Dead slots at the front of a Fifo are reclaimed once they outnumber the live ones (and are this many).
const COMPACT_HEAD_MIN = 1024;

/** An array-backed FIFO with O(1) amortised push and shift. */
class Fifo<T> {
  // Live items are slots[head..]; slots before head are dead (undefined).
  private slots: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.slots.length - this.head;
  }

  peek(): T | undefined {
    return this.slots[this.head];
  }

  push(item: T): void {
    this.slots.push(item);
  }

  clear(): void {
    this.slots = [];
    this.head = 0;
  }

  shift(): T {
    if (this.length === 0) throw new Error('Fifo: shift on an empty queue');
    const item = this.slots[this.head] as T;
    this.slots[this.head] = undefined;
    this.head++;
    if (this.length === 0) {
      this.slots = [];
      this.head = 0;
    } else if (this.head >= COMPACT_HEAD_MIN && this.head * 2 >= this.slots.length) {
      this.slots = this.slots.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

interface Slot<T> {
  /** Arrival order across both FIFOs. */
  readonly seq: number;
  readonly item: T;
}

/**
 * Two FIFOs, ordinary and precious, merged by arrival order on take(): eviction and take are both
 * O(1) per item, however the two kinds interleave.
 */
export class PeerQueue<T extends QueueItem> {
  private readonly limits: QueueLimits;
  private readonly ordinary = new Fifo<Slot<T>>();
  private readonly precious = new Fifo<Slot<T>>();
  private nextSeq = 0;
  // Invariant: queuedBytes === sum of sizeBytes of queued items <= limits.bytesMax.
  private queuedBytes = 0;

  constructor(limits: QueueLimits) {
    if (!(Number.isSafeInteger(limits.messagesMax) && limits.messagesMax >= 1)) {
      throw new Error(`PeerQueue: messagesMax must be a positive integer, got ${limits.messagesMax}`);
    }
    if (!(Number.isSafeInteger(limits.bytesMax) && limits.bytesMax >= 1)) {
      throw new Error(`PeerQueue: bytesMax must be a positive integer, got ${limits.bytesMax}`);
    }
    this.limits = limits;
  }

  get length(): number {
    return this.ordinary.length + this.precious.length;
  }

  get sizeBytes(): number {
    return this.queuedBytes;
  }

  /**
   * Appends `item`, evicting older items until it fits. Returns how many items were dropped:
   * evicted ones, or 1 for `item` itself when it alone exceeds the byte bound.
   */
  push(item: T): number {
    if (!(Number.isSafeInteger(item.sizeBytes) && item.sizeBytes >= 0)) {
      throw new Error(`PeerQueue: sizeBytes must be a non-negative integer, got ${item.sizeBytes}`);
    }
    if (item.sizeBytes > this.limits.bytesMax) return 1;
    let dropped = 0;
    while (
      this.length >= this.limits.messagesMax ||
      this.queuedBytes + item.sizeBytes > this.limits.bytesMax
    ) {
      // Terminates: every pass removes one item, and an empty queue has room for this one.
      this.remove(this.ordinary.length > 0 ? this.ordinary : this.precious);
      dropped++;
    }
    (item.precious ? this.precious : this.ordinary).push({ seq: this.nextSeq++, item });
    this.queuedBytes += item.sizeBytes;
    return dropped;
  }

  /** Removes and returns the oldest items, at most messagesMax and bytesMax, but at least one. */
  take(messagesMax: number, bytesMax: number): T[] {
    const taken: T[] = [];
    let takenBytes = 0;
    while (this.length > 0 && taken.length < messagesMax) {
      const fifo = this.oldest();
      const next = (fifo.peek() as Slot<T>).item;
      if (taken.length > 0 && takenBytes + next.sizeBytes > bytesMax) break;
      taken.push(this.remove(fifo));
      takenBytes += next.sizeBytes;
    }
    return taken;
  }

  /** Empties the queue; returns how many items were dropped. */
  clear(): number {
    const dropped = this.length;
    this.ordinary.clear();
    this.precious.clear();
    this.queuedBytes = 0;
    return dropped;
  }

  private oldest(): Fifo<Slot<T>> {
    const o = this.ordinary.peek();
    const p = this.precious.peek();
    if (o === undefined) return this.precious;
    if (p === undefined) return this.ordinary;
    return o.seq < p.seq ? this.ordinary : this.precious;
  }

  private remove(fifo: Fifo<Slot<T>>): T {
    const { item } = fifo.shift();
    this.queuedBytes -= item.sizeBytes;
    return item;
  }
}
