// The gRPC status codes the raft port and the client port (src/server) send and understand (the
// standard numbering, so that any gRPC peer reads them the same way), without depending on a gRPC
// library for a dozen numbers.
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

export type GrpcStatusCode = number;

const NAMES: ReadonlyMap<number, string> = new Map(Object.entries(GrpcStatus).map(([k, v]) => [v, k]));

/** 'FAILED_PRECONDITION' for 9; the number itself for a code we do not name. */
export function statusName(code: GrpcStatusCode): string {
  return NAMES.get(code) ?? String(code);
}

/** A `grpc-status` header value as a code; UNKNOWN when it is missing or malformed. */
export function parseStatus(value: string | string[] | undefined): GrpcStatusCode {
  if (typeof value !== 'string' || !/^\d{1,3}$/.test(value)) return GrpcStatus.UNKNOWN;
  return Number(value);
}

/** `grpc-message` is percent-encoded on the wire; encodeURI/decodeURI is what grpc-js uses. */
export function encodeGrpcMessage(details: string): string {
  return encodeURI(details);
}

export function decodeGrpcMessage(value: string | string[] | undefined): string {
  if (typeof value !== 'string') return '';
  try {
    return decodeURI(value);
  } catch {
    return value; // a malformed escape: show it as it came
  }
}
