// The Wing–Gong search with Lowe's memo, over one partition (as in porcupine's checkSingle).
//
// Walk the event list from the head. At a call, try to linearize that operation now: if the model
// accepts its output and the resulting (linearized set, state) is new, push it, lift it out of the
// list and restart from the head. At a return, the operation it belongs to was not linearized
// before its response: backtrack (pop the last linearized operation, unlift it, and try the call
// after it). The history is linearizable when the list becomes empty; it is not when a return is
// reached with nothing to pop.
import { EntryList, HEAD, NONE } from './entry-list.ts';
import { MEMO_ADDED, MEMO_FULL, MemoTable } from './memo.ts';
import type { Model, Operation } from './types.ts';

/** Read the clock once per this many search steps (a power of two): reading it costs more than a step. */
const CLOCK_CHECK_STEPS = 1024;

export interface SearchLimits {
  readonly now: () => number;
  /** Give up (verdict 'unknown') once now() passes this. */
  readonly deadlineMs: number;
  /** Give up (verdict 'unknown') once the memo holds this many configurations. */
  readonly memoEntriesMax: number;
}

/** The deepest point the search reached: where the history stops being linearizable. */
export interface LongestPrefix {
  /** Operation indices, in linearization order. */
  readonly prefix: readonly number[];
  /** The operation whose return was reached without it being linearizable there. */
  readonly blocked: number;
  /** Model state key after the prefix. */
  readonly stateKey: string;
}

export type SearchOutcome =
  | { readonly verdict: 'linearizable'; readonly steps: number }
  | { readonly verdict: 'not linearizable'; readonly steps: number; readonly longest: LongestPrefix }
  | { readonly verdict: 'unknown'; readonly steps: number; readonly reason: 'budget' | 'memo-full' };

/** Interns model state keys as small integers, each with a 32-bit hash for the memo. */
class StateIds {
  readonly #ids = new Map<string, number>();
  readonly hashes: number[] = [];

  idOf(key: string): number {
    let id = this.#ids.get(key);
    if (id === undefined) {
      id = this.hashes.length;
      this.#ids.set(key, id);
      this.hashes.push(mix32(id + 0x51ed270b));
    }
    return id;
  }
}

// The hot loop stays in one function on purpose: every step goes through it, and splitting it would
// put closures or object allocations on the path the memo was built to keep cheap.
export function searchPartition<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  limits: SearchLimits,
): SearchOutcome {
  const n = ops.length;
  const list = new EntryList(ops);
  const { next, opOf, returnOf } = list;
  const inputs = ops.map((op) => op.input);
  const outputs = ops.map((op) => op.output);
  const zobrist = zobristKeys(n);
  const linearized = new Uint32Array(Math.max(1, Math.ceil(n / 32)));
  const memo = new MemoTable(linearized.length, limits.memoEntriesMax);
  const stateIds = new StateIds();
  const callStack = new Int32Array(n);
  const stateStack: S[] = [];
  const deepest: { depth: number; longest: LongestPrefix | undefined } = { depth: -1, longest: undefined };
  let state = model.init();
  let linearizedHash = 0;
  let depth = 0;
  let steps = 0;
  let node = next[HEAD]!;
  while (next[HEAD] !== NONE) {
    steps++;
    if ((steps & (CLOCK_CHECK_STEPS - 1)) === 0 && limits.now() > limits.deadlineMs) {
      return { verdict: 'unknown', steps, reason: 'budget' };
    }
    if (node === NONE) throw new Error(`search: walked off the event list at depth ${depth} of ${n}`);
    const op = opOf[node]!;
    if (returnOf[node] !== NONE) {
      const result = model.step(state, inputs[op]!, outputs[op]);
      if (result.legal) {
        const stateId = stateIds.idOf(model.key(result.next));
        const hash = linearizedHash ^ zobrist[op]! ^ stateIds.hashes[stateId]!;
        const added = memo.addIfAbsent(hash, stateId, linearized, op >>> 5, 1 << (op & 31));
        if (added === MEMO_FULL) return { verdict: 'unknown', steps, reason: 'memo-full' };
        if (added === MEMO_ADDED) {
          callStack[depth] = node;
          stateStack[depth] = state;
          depth++;
          state = result.next;
          linearized[op >>> 5]! |= 1 << (op & 31);
          linearizedHash ^= zobrist[op]!;
          list.lift(node);
          node = next[HEAD]!;
          continue;
        }
      }
      node = next[node]!;
    } else {
      // `op` returned and every way of linearizing it before now has been tried from here.
      if (depth > deepest.depth) {
        deepest.depth = depth;
        deepest.longest = {
          prefix: prefixOf(callStack, depth, opOf),
          blocked: op,
          stateKey: model.key(state),
        };
      }
      if (depth === 0) return { verdict: 'not linearizable', steps, longest: deepest.longest! };
      depth--;
      node = callStack[depth]!;
      state = stateStack[depth]!;
      const undone = opOf[node]!;
      linearized[undone >>> 5]! &= ~(1 << (undone & 31));
      linearizedHash ^= zobrist[undone]!;
      list.unlift(node);
      node = next[node]!;
    }
  }
  if (depth !== n)
    throw new Error(`search: the event list is empty but ${depth} of ${n} operations are linearized`);
  return { verdict: 'linearizable', steps };
}

/**
 * Zobrist hashing: the hash of a linearized set is the XOR of one fixed random word per operation,
 * so it is updated in O(1) as operations are pushed and popped. Derived from the index, not from
 * Math.random: runs are reproducible.
 */
function zobristKeys(n: number): Int32Array {
  const keys = new Int32Array(n);
  for (let i = 0; i < n; i++) keys[i] = mix32(i + 1);
  return keys;
}

function prefixOf(callStack: Int32Array, depth: number, opOf: Int32Array): number[] {
  const prefix: number[] = [];
  for (let i = 0; i < depth; i++) prefix.push(opOf[callStack[i]!]!);
  return prefix;
}

/** A 32-bit integer mix (murmur3 finaliser): spreads consecutive inputs over all bits. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) | 0;
}
