// Expected failures of the node, as typed errors with a stable `code`. The server maps each code one
// to one onto a gRPC status (`toGrpcError` in src/server/errors.ts). A broken invariant is a plain
// Error instead (assert.ts).

export type NodeErrorCode =
  | 'INVALID_ARGUMENT'
  | 'UNAVAILABLE'
  | 'RESOURCE_EXHAUSTED'
  | 'FAILED_PRECONDITION'
  | 'DEADLINE_EXCEEDED'
  | 'NOT_FOUND'
  | 'OUT_OF_RANGE';

export interface NodeErrorDetails {
  /** Client address of the leader of the shard involved, when known ('' otherwise). */
  readonly leaderAddr?: string;
  /** True when the node KNOWS the operation did not and will not take effect. */
  readonly retrySafe?: boolean;
}

export class NodeError extends Error {
  override readonly name: string = 'NodeError';
  readonly code: NodeErrorCode;
  readonly leaderAddr: string;
  readonly retrySafe: boolean;

  constructor(code: NodeErrorCode, message: string, details: NodeErrorDetails = {}) {
    super(message);
    this.code = code;
    this.leaderAddr = details.leaderAddr ?? '';
    this.retrySafe = details.retrySafe ?? false;
  }
}

/** Bad input from the caller (empty or oversize key/value, malformed request). Never retried. */
export class InvalidArgumentError extends NodeError {
  override readonly name = 'InvalidArgumentError';
  constructor(message: string) {
    super('INVALID_ARGUMENT', message, { retrySafe: true });
  }
}

/** No leader or quorum within the deadline, or the node is shutting down. */
export class UnavailableError extends NodeError {
  override readonly name = 'UnavailableError';
  constructor(message: string, details: NodeErrorDetails = {}) {
    super('UNAVAILABLE', message, details);
  }
}

/** Too many requests are waiting on this node. The request was not started. */
export class ResourceExhaustedError extends NodeError {
  override readonly name = 'ResourceExhaustedError';
  constructor(message: string) {
    super('RESOURCE_EXHAUSTED', message, { retrySafe: true });
  }
}

/** The request conflicts with the cluster's state (e.g. a node id owned by another member). */
export class FailedPreconditionError extends NodeError {
  override readonly name = 'FailedPreconditionError';
  constructor(message: string) {
    super('FAILED_PRECONDITION', message, { retrySafe: true });
  }
}

/** Something named in the request does not exist (e.g. leaving a node that is not a member). */
export class NotFoundError extends NodeError {
  override readonly name = 'NotFoundError';
  constructor(message: string) {
    super('NOT_FOUND', message, { retrySafe: true });
  }
}

/**
 * A watch asked to start at a log position this replica no longer keeps the events of (older than
 * its recent events and its log since the last snapshot): `oldestIndex` is the first it can serve.
 */
export class WatchCompactedError extends NodeError {
  override readonly name = 'WatchCompactedError';
  readonly oldestIndex: number;
  constructor(shard: number, fromIndex: number, oldestIndex: number) {
    super(
      'OUT_OF_RANGE',
      `shard ${shard}: position ${fromIndex} is compacted; the oldest position this replica can watch from is ${oldestIndex} (watch from there, or from 0 for new changes only, after reading the current values)`,
      { retrySafe: true },
    );
    this.oldestIndex = oldestIndex;
  }
}

/** The node's data cannot be used (bad identity file, wrong node id, corrupt log): it must not start. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
  readonly code = 'STARTUP_FAILED';
}

/** The command line does not fit the data directory (e.g. neither --bootstrap nor --join_addr on an empty one). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'USAGE';
}
