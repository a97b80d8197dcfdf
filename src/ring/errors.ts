// The two error channels of the ring's state (shard-table.ts, move.ts, rebalance.ts). A broken
// invariant is a bug: `ringAssert` throws a plain Error carrying the values. An operation the
// table refuses (an unknown member, a second move on a shard, a step out of order) is expected —
// two metadata leaders may race, an operator may ask for the impossible — and comes back as a
// `ShardTableError` with a stable `code`, a `reason` to switch on and the values involved.

/**
 * Throws when an invariant does not hold; `message` should carry the offending values (a function
 * when building it costs: checks that run on every change must not pay for their messages).
 */
export function ringAssert(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new Error(`shard table invariant violated: ${typeof message === 'string' ? message : message()}`);
  }
}

export type ShardTableRejection =
  | 'notInitialised'
  | 'alreadyInitialised'
  | 'badSettings'
  | 'badMember'
  | 'unknownMember'
  | 'memberExists'
  | 'membersMax'
  | 'badTransition'
  | 'memberHoldsReplicas'
  | 'unknownShard'
  | 'moveInFlight'
  | 'movesInFlightMax'
  | 'badMove'
  | 'targetNotUp'
  | 'targetBusy'
  | 'noSuchMove'
  | 'wrongStep';

/** The shard table refused an operation; the table is unchanged. */
export class ShardTableError extends Error {
  override readonly name = 'ShardTableError';
  readonly code = 'SHARD_TABLE_REJECTED';
  readonly reason: ShardTableRejection;
  /** The refused operation's number. */
  readonly op: number;
  /** The values that made it refused (ids, states, counts), for logs and for the operator. */
  readonly values: Readonly<Record<string, string | number | null>>;

  constructor(
    reason: ShardTableRejection,
    op: number,
    detail: string,
    values: Readonly<Record<string, string | number | null>> = {},
  ) {
    super(`shard table refused op ${op}: ${reason}: ${detail}`);
    this.reason = reason;
    this.op = op;
    this.values = values;
  }
}
