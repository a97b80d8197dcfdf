// The client's expected failures: one class per outcome a caller may want to handle differently,
// each with a stable `code` to switch on. A key that does not exist is not an error (get returns
// { found: false }). The retry behaviour of each class is written on it.

/** The gRPC status code of a failure, when the failure came from a server or the channel. */
export type GrpcCodeName =
  | 'CANCELLED'
  | 'UNKNOWN'
  | 'INVALID_ARGUMENT'
  | 'DEADLINE_EXCEEDED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'FAILED_PRECONDITION'
  | 'ABORTED'
  | 'OUT_OF_RANGE'
  | 'UNIMPLEMENTED'
  | 'INTERNAL'
  | 'UNAVAILABLE'
  | 'DATA_LOSS'
  | 'UNAUTHENTICATED';

export interface RingkvErrorFields {
  /** The endpoint (host:port) that produced the failure, when one did. */
  readonly endpoint?: string;
  /** The gRPC status behind the failure, when there was one. */
  readonly grpcCode?: GrpcCodeName;
  readonly cause?: unknown;
}

/** Base of every error the client throws on purpose. */
export class RingkvError extends Error {
  override readonly name: string = 'RingkvError';
  readonly code: string = 'RINGKV_ERROR';
  readonly endpoint: string | undefined;
  readonly grpcCode: GrpcCodeName | undefined;

  constructor(message: string, fields: RingkvErrorFields = {}) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.endpoint = fields.endpoint;
    this.grpcCode = fields.grpcCode;
  }
}

/** The request was malformed (empty or oversize key, oversize value…). Never retried. */
export class InvalidArgumentError extends RingkvError {
  override readonly name = 'InvalidArgumentError';
  override readonly code = 'INVALID_ARGUMENT';
}

/** Why a request could not be served. */
export type UnavailableReason =
  /** No endpoint accepted a connection. */
  | 'unreachable'
  /** A node answered UNAVAILABLE (no leader or no quorum, shutting down…). */
  | 'no-quorum';

/**
 * The cluster could not serve the request before the deadline, and it certainly did not take
 * effect (reads, and writes the server marked retry-safe or that never left this process).
 * Retried with backoff within the deadline before being thrown.
 */
export class UnavailableError extends RingkvError {
  override readonly name = 'UnavailableError';
  override readonly code = 'UNAVAILABLE';
  readonly reason: UnavailableReason;
  /** Every endpoint tried. */
  readonly endpointsTried: readonly string[];

  constructor(
    message: string,
    reason: UnavailableReason,
    endpointsTried: readonly string[],
    fields: RingkvErrorFields = {},
  ) {
    super(message, fields);
    this.reason = reason;
    this.endpointsTried = endpointsTried;
  }
}

/** The caller's deadline passed (for a read: no effect; a write in flight becomes IndeterminateError). */
export class DeadlineExceededError extends RingkvError {
  override readonly name = 'DeadlineExceededError';
  override readonly code = 'DEADLINE_EXCEEDED';
}

/** The server is overloaded (too many requests waiting). Not retried: back off and try again. */
export class ResourceExhaustedError extends RingkvError {
  override readonly name = 'ResourceExhaustedError';
  override readonly code = 'RESOURCE_EXHAUSTED';
}

/** The server refused the request in the cluster's current state (e.g. a node id already in use). */
export class FailedPreconditionError extends RingkvError {
  override readonly name = 'FailedPreconditionError';
  override readonly code = 'FAILED_PRECONDITION';
}

/** The caller's AbortSignal fired before an answer arrived (a write in flight becomes IndeterminateError). */
export class CancelledError extends RingkvError {
  override readonly name = 'CancelledError';
  override readonly code = 'CANCELLED';
}

/**
 * A write was sent but its outcome is unknown: it may or may not have taken effect (now or
 * later). `cause` says why the answer was lost. Never retried, since retrying a put or a
 * compare-and-swap that did happen is not the same as doing it once; read the key to find out.
 */
export class IndeterminateError extends RingkvError {
  override readonly name = 'IndeterminateError';
  override readonly code = 'INDETERMINATE';
  override readonly cause: RingkvError;

  constructor(message: string, cause: RingkvError) {
    super(message, {
      cause,
      ...(cause.endpoint === undefined ? {} : { endpoint: cause.endpoint }),
      ...(cause.grpcCode === undefined ? {} : { grpcCode: cause.grpcCode }),
    });
    this.cause = cause;
  }
}

/** Any other server failure (INTERNAL, UNIMPLEMENTED, …): a bug or a version mismatch. */
export class ServerError extends RingkvError {
  override readonly name = 'ServerError';
  override readonly code = 'SERVER_ERROR';
}

/** The client was closed (close() was called): it refuses new calls. Not retried. */
export class ClientClosedError extends RingkvError {
  override readonly name = 'ClientClosedError';
  override readonly code = 'CLIENT_CLOSED';
}
