// The history as one doubly linked list of call and return events in time order (porcupine's
// "entries"), stored in typed arrays. The search "lifts" an operation (removes its call and return)
// when it linearizes it and "unlifts" it on backtracking; because unlifting happens in exact reverse
// order, the removed nodes keep the links needed to splice them back (dancing links).
import type { Operation } from './types.ts';

/** Node 0 is the head sentinel; nodes 1..2n are the events in time order. */
export const HEAD = 0;
export const NONE = -1;

export class EntryList {
  /** Next node, or NONE after the last one. */
  readonly next: Int32Array;
  readonly prev: Int32Array;
  /** Operation index (into the partition's operations) of each node; -1 for the head. */
  readonly opOf: Int32Array;
  /** For a call node, its return node; NONE for a return node (and the head). */
  readonly returnOf: Int32Array;

  constructor(ops: readonly Operation<unknown, unknown>[]) {
    const n = ops.length;
    const order = sortEvents(ops);
    this.next = new Int32Array(2 * n + 1);
    this.prev = new Int32Array(2 * n + 1);
    this.opOf = new Int32Array(2 * n + 1).fill(-1);
    this.returnOf = new Int32Array(2 * n + 1).fill(NONE);
    const callNode = new Int32Array(n);
    for (let i = 0; i < order.length; i++) {
      const node = i + 1;
      const event = order[i]!;
      const isCall = event < n;
      const op = isCall ? event : event - n;
      this.opOf[node] = op;
      if (isCall) callNode[op] = node;
      else this.returnOf[callNode[op]!] = node;
      this.prev[node] = node - 1;
      this.next[node - 1] = node;
    }
    this.next[2 * n] = NONE;
  }

  /** Removes a call node and its return node. */
  lift(call: number): void {
    const ret = this.returnOf[call]!;
    const next = this.next;
    const prev = this.prev;
    // A call is always followed by its own return, so next[call] is never NONE.
    next[prev[call]!] = next[call]!;
    prev[next[call]!] = prev[call]!;
    next[prev[ret]!] = next[ret]!;
    if (next[ret] !== NONE) prev[next[ret]!] = prev[ret]!;
  }

  /** Undoes the most recent `lift` that has not been undone yet (which must be of `call`). */
  unlift(call: number): void {
    const ret = this.returnOf[call]!;
    const next = this.next;
    const prev = this.prev;
    next[prev[ret]!] = ret;
    if (next[ret] !== NONE) prev[next[ret]!] = ret;
    next[prev[call]!] = call;
    prev[next[call]!] = call;
  }
}

/**
 * Event e < n is the call of operation e, event e >= n the return of operation e - n. Sorted by
 * time; at equal times calls come first, so operations that merely touch count as concurrent
 * (the conservative reading). An indeterminate operation returns at Infinity: after every other
 * event, so it may linearize anywhere after its call (or, equivalently, never).
 */
function sortEvents(ops: readonly Operation<unknown, unknown>[]): Int32Array {
  const n = ops.length;
  const times = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    const op = ops[i]!;
    if (!(Number.isFinite(op.callTime) && op.callTime <= op.returnTime)) {
      throw new Error(
        `operation ${i} (client ${op.clientId}) has callTime ${op.callTime} and returnTime ${op.returnTime}: ` +
          'the call must be finite and not after the return',
      );
    }
    times[i] = op.callTime;
    times[n + i] = op.returnTime;
  }
  const order = new Int32Array(2 * n);
  for (let e = 0; e < 2 * n; e++) order[e] = e;
  order.sort((a, b) => {
    const ta = times[a]!;
    const tb = times[b]!;
    if (ta !== tb) return ta < tb ? -1 : 1;
    const aIsCall = a < n;
    if (aIsCall !== b < n) return aIsCall ? -1 : 1;
    return a - b;
  });
  return order;
}
