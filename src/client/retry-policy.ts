// What to do after a failed attempt: retry (and how), or give up with which typed error. Pure, so
// the whole retry policy can be read (and tested) in one place:
// - a request that never reached a server (no connection, a connection that did not become ready
//   within the attempt's budget, a refused stream) is retried for every kind of request: nothing
//   happened;
// - reads (Get, Scan, Status) and idempotent cluster calls (Join, Leave) retry on UNAVAILABLE;
// - a read whose own attempt budget ran out (the call's deadline had not) is retried on another
//   endpoint: the node it was sent to may be hung, and a read has no effect to repeat;
// - writes retry only when the request never left the process or the server marked the failure
//   retry-safe; any other lost answer to a write is indeterminate. In particular a write that was
//   sent and then timed out is never retried: a put repeated is the same value but not the same
//   version (and may land after a later write by someone else), and a compare-and-swap or delete
//   repeated answers differently. The attempt loop never cuts a sent write short for this reason;
//   its only budget before the deadline is the wait for a connection, which sends nothing;
// - bad input, overload and refused preconditions are never retried.
import { status as GrpcStatus } from '@grpc/grpc-js';
import {
  CancelledError,
  DeadlineExceededError,
  FailedPreconditionError,
  IndeterminateError,
  InvalidArgumentError,
  ResourceExhaustedError,
  type RingkvError,
  ServerError,
  UnavailableError,
} from './errors.ts';
import type { RpcFailure } from './rpc.ts';

/** How a request may be retried. */
export type Safety = 'read' | 'idempotent' | 'write';

export type RetryDecision =
  /**
   * Try again. `unreachable`: the endpoint could not be connected to (the request was never sent);
   * `slow`: the endpoint did not answer within the attempt's budget (pass it over for a while).
   */
  | { readonly action: 'retry'; readonly unreachable: boolean; readonly slow?: boolean }
  | { readonly action: 'throw'; readonly error: RingkvError };

/**
 * `attemptCut`: the deadline that expired was the attempt's own budget, shorter than the call's
 * (see call-loop.ts); the call still has time.
 */
export function decideAfterFailure(
  f: RpcFailure,
  safety: Safety,
  operation: string,
  attemptCut = false,
): RetryDecision {
  const fields = { endpoint: f.endpoint, grpcCode: f.codeName, cause: f };
  // A write whose request may have reached a server has an unknown outcome unless we are told.
  const mayHaveHappened = safety === 'write' && !f.notSent && !f.retrySafe;
  const lost = (e: RingkvError): RetryDecision => ({
    action: 'throw',
    error: mayHaveHappened
      ? new IndeterminateError(`${operation}: the write may or may not have taken effect (${e.message})`, e)
      : e,
  });
  if (f.aborted) return lost(new CancelledError(`${operation} was cancelled by the caller`, fields));
  if (f.notSent) return { action: 'retry', unreachable: true };
  switch (f.grpcCode) {
    case GrpcStatus.UNAVAILABLE:
      if (safety !== 'write' || f.retrySafe) return { action: 'retry', unreachable: false };
      return lost(new UnavailableError(`${operation}: ${f.details}`, 'no-quorum', [f.endpoint], fields));
    case GrpcStatus.DEADLINE_EXCEEDED:
      if (attemptCut && safety === 'read') return { action: 'retry', unreachable: false, slow: true };
      return lost(new DeadlineExceededError(`${operation}: deadline exceeded (${f.details})`, fields));
    case GrpcStatus.CANCELLED:
      // Cancelled by the server side (e.g. it shut down mid-call): like a lost connection.
      if (safety !== 'write' || f.retrySafe) return { action: 'retry', unreachable: false };
      return lost(new UnavailableError(`${operation}: ${f.details}`, 'no-quorum', [f.endpoint], fields));
    case GrpcStatus.INVALID_ARGUMENT:
    case GrpcStatus.OUT_OF_RANGE:
      return { action: 'throw', error: new InvalidArgumentError(`${operation}: ${f.details}`, fields) };
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return { action: 'throw', error: new ResourceExhaustedError(`${operation}: ${f.details}`, fields) };
    case GrpcStatus.FAILED_PRECONDITION:
      return { action: 'throw', error: new FailedPreconditionError(`${operation}: ${f.details}`, fields) };
    case GrpcStatus.UNKNOWN:
    case GrpcStatus.INTERNAL:
    case GrpcStatus.ABORTED:
    case GrpcStatus.DATA_LOSS:
      // The server failed while handling the request: a write may have been proposed.
      return lost(new ServerError(`${operation}: ${f.codeName} from ${f.endpoint}: ${f.details}`, fields));
    default:
      return {
        action: 'throw',
        error: new ServerError(`${operation}: ${f.codeName} from ${f.endpoint}: ${f.details}`, fields),
      };
  }
}

/** "connect ECONNREFUSED 127.0.0.1:50051" out of grpc-js's longer no-connection text. */
export function shortConnectError(details: string): string {
  const m = /Last error: (?:Error: )?(.*?)(?:\. Resolution note:.*)?$/s.exec(details);
  const text = (m?.[1] ?? details).trim();
  return text === '' ? details : text;
}
