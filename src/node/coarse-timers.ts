// Timers for the deadlines of waiting requests: one underlying clock timer per time slot in use,
// however many requests wait on it. Every proposal and linearizable read waits with a deadline, and
// almost none reaches it; a Node timer each (an object with an async id, inserted in a list per
// distinct duration, removed when the request settles) costs about a microsecond per request on the
// leader. Here a timer is a small entry in its slot's Set: due times are rounded UP to the next
// multiple of the grain, so a callback runs at most `grainMs` after its due time, and never before.
//
// The same contract as the Clock's `after`/`cancel` (clock.ts): callbacks run on the event loop,
// never inside the call that set them; timers of one slot run in the order they were set.
import type { Clock, Timer } from './clock.ts';

/** The rounding of due times: a deadline fires at most this much late. */
export const DEADLINE_GRAIN_MS = 10;

interface Entry {
  readonly fn: () => void;
  /** The slot (its due time, a multiple of the grain) whose Set holds this entry. */
  readonly slot: number;
}

export class CoarseTimers implements Pick<Clock, 'nowMs' | 'after' | 'cancel'> {
  private readonly clock: Pick<Clock, 'nowMs' | 'after'>;
  private readonly grainMs: number;
  /** Slot due time → its entries in the order set. Invariant: a slot here has a clock timer pending. */
  private readonly slots = new Map<number, Set<Entry>>();

  constructor(clock: Pick<Clock, 'nowMs' | 'after'>, grainMs = DEADLINE_GRAIN_MS) {
    if (!Number.isInteger(grainMs) || grainMs < 1)
      throw new Error(`coarse timers: the grain must be a positive integer of ms, got ${grainMs}`);
    this.clock = clock;
    this.grainMs = grainMs;
  }

  nowMs(): number {
    return this.clock.nowMs();
  }

  /** Slots with entries or a timer pending (for tests: bounded by the deadlines' spread / grain). */
  get slotCount(): number {
    return this.slots.size;
  }

  after(delayMs: number, fn: () => void): Timer {
    if (!(delayMs >= 0)) throw new Error(`coarse timers: delay must be >= 0, got ${delayMs}`);
    const now = this.clock.nowMs();
    const slot = Math.ceil((now + delayMs) / this.grainMs) * this.grainMs;
    const entry: Entry = { fn, slot };
    let set = this.slots.get(slot);
    if (set === undefined) {
      set = new Set();
      this.slots.set(slot, set);
      // An infinite delay (no deadline) sets no clock timer: the entry only waits to be cancelled.
      if (Number.isFinite(slot)) this.clock.after(Math.max(0, slot - now), () => this.fire(slot));
    }
    set.add(entry);
    return entry as unknown as Timer;
  }

  cancel(timer: Timer): void {
    const entry = timer as unknown as Entry;
    const set = this.slots.get(entry.slot);
    // The slot's timer stays set: it finds the Set empty (or gone) and does nothing.
    set?.delete(entry);
    if (set !== undefined && set.size === 0 && !Number.isFinite(entry.slot)) this.slots.delete(entry.slot);
  }

  private fire(slot: number): void {
    const set = this.slots.get(slot);
    if (set === undefined) return;
    // The Set stays in place while its callbacks run: one that cancels a later entry of this slot
    // removes it before it runs, and one that sets a timer due by now adds it here, to run after it.
    for (const e of set) e.fn();
    this.slots.delete(slot);
  }
}
