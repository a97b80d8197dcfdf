// The node's invariant check. A broken invariant is a bug: it throws a plain Error carrying the values
// involved, the driver's turn fails, and the node stops (an expected failure is a NodeError instead).

/** Throws when an invariant of the node does not hold; `message` carries the offending values. */
export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`node invariant violated: ${message}`);
}
