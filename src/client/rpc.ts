// One attempt of one unary call: a promise around grpc-js's callback API that honours an absolute
// deadline and an AbortSignal, and turns a failure into an RpcFailure that says what the client's
// retry logic needs to know (was it sent at all, is it safe to retry, where is the leader).
import {
  type CallOptions,
  type ClientUnaryCall,
  status as GrpcStatus,
  Metadata,
  type ServiceError,
} from '@grpc/grpc-js';
import type { GrpcCodeName } from './errors.ts';

/** Trailer: the client address of the shard's leader, when the node knows it. */
export const LEADER_ADDR_TRAILER = 'ringkv-leader-addr';
/** Trailer "1": the server knows the operation did not and will not take effect. */
export const RETRY_SAFE_TRAILER = 'ringkv-retry-safe';
/** Trailer: the route of a shard the client's table has wrong (src/server/stale-route.ts), as JSON. */
export const STALE_ROUTE_TRAILER = 'ringkv-stale-route';

/** Where a shard is now: the node's answer to a request routed by an older shard table. */
export interface ShardRoute {
  readonly shard: number;
  readonly epoch: bigint;
  /** The client addresses of its voters. */
  readonly voters: readonly string[];
}

export type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

/** A failed attempt, as seen by the retry logic. */
export class RpcFailure extends Error {
  override readonly name = 'RpcFailure';
  readonly grpcCode: number;
  readonly details: string;
  readonly endpoint: string;
  /** The request never reached the server's application (no connection, refused stream): nothing happened. */
  readonly notSent: boolean;
  /** The server said the operation did not and will not take effect. */
  readonly retrySafe: boolean;
  /** The shard leader's client address from the trailers, or undefined. */
  readonly leaderHint: string | undefined;
  /** The shard's current route, when the node refused the request as routed by a stale table. */
  readonly staleRoute: ShardRoute | undefined;
  /** The caller's AbortSignal ended the attempt. */
  readonly aborted: boolean;
  /** The attempt gave up waiting for a connection (RpcFailure.notConnected); implies notSent. */
  readonly connectTimedOut: boolean;

  constructor(error: ServiceError, endpoint: string, aborted: boolean) {
    super(`${codeName(error.code)} from ${endpoint}: ${error.details || error.message}`);
    this.grpcCode = error.code;
    this.details = error.details || error.message;
    this.endpoint = endpoint;
    this.aborted = aborted;
    this.notSent = neverSent(error.code, this.details);
    this.connectTimedOut =
      error.code === GrpcStatus.UNAVAILABLE && this.details.startsWith(NOT_CONNECTED_DETAILS);
    const trailers = error.metadata instanceof Metadata ? error.metadata : undefined;
    this.retrySafe = firstString(trailers, RETRY_SAFE_TRAILER) === '1';
    const hint = firstString(trailers, LEADER_ADDR_TRAILER);
    this.leaderHint = hint === undefined || hint === '' ? undefined : hint;
    this.staleRoute = parseRoute(firstString(trailers, STALE_ROUTE_TRAILER));
  }

  /**
   * The attempt was given up before it was sent: the channel to `endpoint` did not become ready
   * within `waitedMs` (a hung or overloaded node, or a network that drops packets).
   */
  static notConnected(endpoint: string, waitedMs: number): RpcFailure {
    const details = `${NOT_CONNECTED_DETAILS} ${Math.round(waitedMs)} ms: is the node hung or overloaded?`;
    const error = Object.assign(new Error(details), {
      code: GrpcStatus.UNAVAILABLE,
      details,
      metadata: new Metadata(),
    });
    return new RpcFailure(error, endpoint, false);
  }

  get codeName(): GrpcCodeName {
    return codeName(this.grpcCode);
  }
}

/**
 * True when grpc-js failed the call before it left this process, so the server cannot have seen
 * it. Only grpc-js's own texts count (the version is pinned in package.json):
 * - "No connection established…": UNAVAILABLE at once, the channel had no connection;
 * - "Stream refused by server": HTTP/2 REFUSED_STREAM, which guarantees the server did not process
 *   the request (RFC 9113 §8.7), e.g. because it is shutting down;
 * - DEADLINE_EXCEEDED whose timing ends in "Waiting for LB pick": the deadline passed while the call
 *   waited for a connection (a node that accepts TCP but never completes the HTTP/2 handshake, such
 *   as a stopped process); a call that was sent says "remote_addr=…" there instead.
 * - our own NOT_CONNECTED_DETAILS (RpcFailure.notConnected).
 */
function neverSent(code: number, details: string): boolean {
  if (code === GrpcStatus.UNAVAILABLE) {
    return (
      details.includes('No connection established') ||
      details === 'Stream refused by server' ||
      details.startsWith(NOT_CONNECTED_DETAILS)
    );
  }
  return (
    code === GrpcStatus.DEADLINE_EXCEEDED &&
    details.includes('Waiting for LB pick') &&
    !details.includes('remote_addr=')
  );
}

/** Start of the details of RpcFailure.notConnected. */
const NOT_CONNECTED_DETAILS = 'no connection within';

/** Voters in a route, at most (a route naming more is refused whole). */
const ROUTE_VOTERS_MAX = 16;

/** The stale-route trailer, or undefined when absent or malformed (then the hint alone is used). */
export function parseRoute(text: string | undefined): ShardRoute | undefined {
  if (text === undefined || text.length > 4096) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const { shard, epoch, voters } = v as Record<string, unknown>;
  if (!(Number.isSafeInteger(shard) && (shard as number) >= 1)) return undefined;
  if (!(Number.isSafeInteger(epoch) && (epoch as number) >= 1)) return undefined;
  if (!Array.isArray(voters) || voters.length > ROUTE_VOTERS_MAX) return undefined;
  if (!voters.every((a) => typeof a === 'string' && a.length > 0 && a.length <= 256)) return undefined;
  return { shard: shard as number, epoch: BigInt(epoch as number), voters: voters as string[] };
}

function firstString(md: Metadata | undefined, key: string): string | undefined {
  const v = md?.get(key)[0];
  return typeof v === 'string' ? v : v === undefined ? undefined : v.toString('utf8');
}

const CODE_NAMES: readonly GrpcCodeName[] = [
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

export function codeName(code: number): GrpcCodeName {
  return CODE_NAMES[code - 1] ?? 'UNKNOWN';
}

/**
 * Runs one call. Resolves with the response or rejects with an RpcFailure (never anything else).
 * `deadlineMs` is absolute (Date.now() scale).
 */
export function callUnary<Req, Res>(
  method: UnaryMethod<Req, Res>,
  request: Req,
  endpoint: string,
  deadlineMs: number,
  signal: AbortSignal | undefined,
): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    let aborted = false;
    const call = method(request, new Metadata(), { deadline: new Date(deadlineMs) }, (error, response) => {
      signal?.removeEventListener('abort', onAbort);
      if (error === null) resolve(response);
      else reject(new RpcFailure(error, endpoint, aborted));
    });
    function onAbort(): void {
      aborted = true;
      call.cancel();
    }
    if (signal?.aborted === true) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}
