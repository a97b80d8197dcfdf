// The deadline of a request on this node, computed once, where the request arrives (unary-http2.ts,
// inline or on the client-API worker thread): the client's `grpc-timeout` less a margin, capped by
// the method's limit (`--request_timeout_ms`, longer for Join and Leave). Handlers receive it as
// `deadlineMs` and pass it on (to the node, to a forwarded call) unchanged.
//
// Imports nothing: the client-API worker thread loads it.

/** `grpc-timeout`'s units (the gRPC HTTP/2 protocol: hours … nanoseconds) in ms. */
const TIMEOUT_UNITS_MS: Readonly<Record<string, number>> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 1e-3,
  n: 1e-6,
};
/** At most 8 digits, then the unit, per the protocol; anything else is treated as no timeout. */
const TIMEOUT_PATTERN = /^(\d{1,8})([HMSmun])$/;

/** Most the server's deadline is set ahead of the client's (see deadlineOf). */
const CLIENT_DEADLINE_MARGIN_MS = 100;

/**
 * Absolute deadline in ms since the epoch: `nowMs` + min(limitMs, the client's timeout less a
 * margin); without a (well-formed) `grpc-timeout`, `nowMs + limitMs`. The margin (10 % of what the
 * client allows, at most 100 ms) lets the server's own answer, for example UNAVAILABLE with
 * `ringkv-retry-safe`, reach the client before the client gives up with DEADLINE_EXCEEDED, which
 * would leave a write indeterminate.
 */
export function deadlineOf(
  grpcTimeout: string | string[] | undefined,
  limitMs: number,
  nowMs: number,
): number {
  if (!(limitMs > 0)) throw new Error(`deadlineOf: limitMs must be positive, got ${limitMs}`);
  const clientMs = timeoutMsOf(grpcTimeout);
  const marginMs = Math.min(CLIENT_DEADLINE_MARGIN_MS, clientMs * 0.1);
  return nowMs + Math.min(limitMs, clientMs - marginMs);
}

/** The client's `grpc-timeout` in ms; +Infinity when there is none or it is malformed. */
function timeoutMsOf(value: string | string[] | undefined): number {
  if (typeof value !== 'string') return Number.POSITIVE_INFINITY;
  const m = TIMEOUT_PATTERN.exec(value);
  if (m === null) return Number.POSITIVE_INFINITY;
  return Number(m[1]) * (TIMEOUT_UNITS_MS[m[2] as string] as number);
}
