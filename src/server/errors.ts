// The one place where node errors become gRPC statuses. Each NodeError code maps to the status of
// the same name; trailing metadata carries the leader hint (`ringkv-leader-addr`) and, when the node
// knows the operation did not and will not take effect, `ringkv-retry-safe: 1`. Anything else is a
// bug and becomes INTERNAL with its message (and is logged by the caller).
import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { NodeError } from '../node/errors.ts';

export const LEADER_ADDR_KEY = 'ringkv-leader-addr';
export const RETRY_SAFE_KEY = 'ringkv-retry-safe';
/** Set on a request one node forwards to another: the receiver serves it and never forwards again. */
export const FORWARDED_KEY = 'ringkv-forwarded';

const CODES: Record<NodeError['code'], status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  UNAVAILABLE: status.UNAVAILABLE,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  DEADLINE_EXCEEDED: status.DEADLINE_EXCEEDED,
  NOT_FOUND: status.NOT_FOUND,
};

export type GrpcError = Partial<ServiceError> & { code: status; details: string; metadata: Metadata };

/** True for an error that came back from another node's gRPC server (passed through unchanged). */
export function isGrpcError(e: unknown): e is ServiceError {
  return e instanceof Error && typeof (e as Partial<ServiceError>).code === 'number' && 'metadata' in e;
}

export function toGrpcError(e: unknown): GrpcError {
  if (isGrpcError(e)) return { code: e.code, details: e.details, metadata: e.metadata, message: e.details };
  const metadata = new Metadata();
  if (e instanceof NodeError) {
    if (e.leaderAddr !== '') metadata.set(LEADER_ADDR_KEY, e.leaderAddr);
    if (e.retrySafe) metadata.set(RETRY_SAFE_KEY, '1');
    return { code: CODES[e.code], details: e.message, metadata, message: e.message };
  }
  const msg = e instanceof Error ? e.message : String(e);
  return { code: status.INTERNAL, details: `internal error: ${msg}`, metadata, message: msg };
}
