// The node's invariant check. A broken invariant is a bug: it throws a plain Error carrying the values
// involved, the driver's turn fails, and the node stops (an expected failure is a NodeError instead).

/**
 * Throws when an invariant of the node does not hold; `message` carries the offending values. On hot
 * paths (per entry, per message) pass a function: the message is then built only when it fails.
 */
export function assert(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition)
    throw new Error(`node invariant violated: ${typeof message === 'string' ? message : message()}`);
}
