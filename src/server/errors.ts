// The one place where a failed request becomes a gRPC status (code, message and trailing metadata).
// Each NodeError code maps to the status of the same name; the trailers carry the leader hint
// (`ringkv-leader-addr`) and, when the node knows the operation did not and will not take effect,
// `ringkv-retry-safe: 1`, and for a stale route the shard's route (`ringkv-stale-route`,
// stale-route.ts). Another node's answer to a forwarded call (RemoteStatusError) is passed
// on as it came. Anything else is a bug: INTERNAL with its message (the server logs it).
import { NodeError, type NodeErrorCode, UnavailableError, WatchCompactedError } from '../node/errors.ts';
import { GrpcStatus, type GrpcStatusCode, statusName } from '../transport/grpc-status.ts';
import { encodeRoute, STALE_ROUTE_KEY, StaleRouteError } from './stale-route.ts';

export const LEADER_ADDR_KEY = 'ringkv-leader-addr';
export const RETRY_SAFE_KEY = 'ringkv-retry-safe';

/** A failed call as the client receives it. */
export interface GrpcError {
  /** Never OK (0). */
  readonly code: GrpcStatusCode;
  readonly details: string;
  /** Custom trailing metadata: only ringkv's own keys. */
  readonly trailers: Readonly<Record<string, string>>;
}

const CODES: Readonly<Record<NodeErrorCode, GrpcStatusCode>> = {
  INVALID_ARGUMENT: GrpcStatus.INVALID_ARGUMENT,
  UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  RESOURCE_EXHAUSTED: GrpcStatus.RESOURCE_EXHAUSTED,
  FAILED_PRECONDITION: GrpcStatus.FAILED_PRECONDITION,
  DEADLINE_EXCEEDED: GrpcStatus.DEADLINE_EXCEEDED,
  NOT_FOUND: GrpcStatus.NOT_FOUND,
  OUT_OF_RANGE: GrpcStatus.OUT_OF_RANGE,
};

/** Trailer of a watch's OUT_OF_RANGE: the oldest log position the replica can watch from. */
export const WATCH_OLDEST_KEY = 'ringkv-watch-oldest';

/**
 * Another node's failed answer to a call this node made for its client (a forwarded request, Join,
 * Status): its status, message and ringkv trailers, to be passed on unchanged.
 */
export class RemoteStatusError extends Error {
  override readonly name = 'RemoteStatusError';
  readonly code: GrpcStatusCode;
  readonly details: string;
  readonly trailers: Readonly<Record<string, string>>;

  constructor(code: GrpcStatusCode, details: string, trailers: Readonly<Record<string, string>>) {
    super(`${statusName(code)}: ${details}`);
    if (code === GrpcStatus.OK) throw new Error(`RemoteStatusError with status OK: ${details}`);
    this.code = code;
    this.details = details;
    this.trailers = trailers;
  }
}

/** The gRPC status of a request that failed with `e`. */
export function toGrpcError(e: unknown): GrpcError {
  if (e instanceof NodeError) {
    const trailers = trailersOf(e.leaderAddr, e.retrySafe);
    if (e instanceof StaleRouteError) trailers[STALE_ROUTE_KEY] = encodeRoute(e.route);
    if (e instanceof WatchCompactedError) trailers[WATCH_OLDEST_KEY] = String(e.oldestIndex);
    return { code: CODES[e.code], details: e.message, trailers };
  }
  if (e instanceof RemoteStatusError) return { code: e.code, details: e.details, trailers: e.trailers };
  const msg = e instanceof Error ? e.message : String(e);
  return { code: GrpcStatus.INTERNAL, details: `internal error: ${msg}`, trailers: {} };
}

/** The trailers of a failure: the leader hint when known, the retry-safe mark when set. */
export function trailersOf(leaderAddr: string, retrySafe: boolean): Record<string, string> {
  const trailers: Record<string, string> = {};
  if (leaderAddr !== '') trailers[LEADER_ADDR_KEY] = leaderAddr;
  if (retrySafe) trailers[RETRY_SAFE_KEY] = '1';
  return trailers;
}

/**
 * Another node's failed answer (its status, message, leader hint and retry-safe mark), as the caller
 * passes it on. A retry-safe UNAVAILABLE (nothing happened there, for example it lost a leadership
 * meanwhile) becomes this node's own retry-safe error again, so that retrySafely (routing.ts) routes
 * the request again instead of handing the refusal to the client; anything else a RemoteStatusError.
 */
export function remoteFailure(
  code: GrpcStatusCode,
  details: string,
  leaderAddr: string,
  retrySafe: boolean,
): UnavailableError | RemoteStatusError {
  if (code === GrpcStatus.UNAVAILABLE && retrySafe) return new UnavailableError(details, { retrySafe });
  return new RemoteStatusError(code, details, trailersOf(leaderAddr, retrySafe));
}
