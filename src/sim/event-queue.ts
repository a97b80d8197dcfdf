// Virtual time and the event queue. Time only moves when the run loop takes the next event; events
// at the same virtual millisecond run in the order they were scheduled (insertion sequence), so a
// run is a pure function of its seed.

interface Slot<E> {
  readonly atMs: number;
  readonly seq: number;
  readonly event: E;
}

/** A binary min-heap ordered by (atMs, seq). Bounded: scheduling beyond `capacity` is a bug. */
export class EventQueue<E> {
  private readonly heap: Slot<E>[] = [];
  private seq = 0;
  private nowMs = 0;
  private readonly capacity: number;

  constructor(capacity = 1_000_000) {
    this.capacity = capacity;
  }

  /** The virtual time of the event being (or last) processed. */
  now(): number {
    return this.nowMs;
  }

  get size(): number {
    return this.heap.length;
  }

  /** Schedules `event` at absolute virtual time `atMs` (never in the past). */
  at(atMs: number, event: E): void {
    if (!(atMs >= this.nowMs))
      throw new Error(`EventQueue: event at ${atMs} ms is before now (${this.nowMs} ms)`);
    if (this.heap.length >= this.capacity)
      throw new Error(`EventQueue: more than ${this.capacity} pending events`);
    const slot: Slot<E> = { atMs, seq: this.seq++, event };
    this.heap.push(slot);
    this.siftUp(this.heap.length - 1);
  }

  /** Schedules `event` after `delayMs` virtual milliseconds. */
  after(delayMs: number, event: E): void {
    this.at(this.nowMs + delayMs, event);
  }

  /** The time of the next event, or Infinity when empty. */
  peekTimeMs(): number {
    return this.heap[0]?.atMs ?? Number.POSITIVE_INFINITY;
  }

  /** Removes the next event and advances virtual time to it. */
  pop(): E | undefined {
    const top = this.heap[0];
    if (top === undefined) return undefined;
    const last = this.heap.pop() as Slot<E>;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.siftDown(0);
    }
    if (top.atMs < this.nowMs) throw new Error(`EventQueue: time went backwards ${top.atMs} < ${this.nowMs}`);
    this.nowMs = top.atMs;
    return top.event;
  }

  private less(i: number, j: number): boolean {
    const a = this.heap[i] as Slot<E>;
    const b = this.heap[j] as Slot<E>;
    return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
  }

  private swap(i: number, j: number): void {
    const t = this.heap[i] as Slot<E>;
    this.heap[i] = this.heap[j] as Slot<E>;
    this.heap[j] = t;
  }

  private siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const n = this.heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(l, m)) m = l;
      if (r < n && this.less(r, m)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}
