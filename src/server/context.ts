// What every service handler needs: the node and the clients to other nodes (ServerContext), bound
// to each method by `unary`. Where a request is served and the retry of what failed retry-safe are
// routing.ts's; KVService's handlers take only its narrower KvContext (kv-handlers.ts).
import type { ClusterServiceService, KVServiceService, RequestLoad } from '../gen/ringkv/v1/kv.ts';
import type { PeerClients } from './peer-clients.ts';
import type { KvContext } from './routing.ts';
import type { CallContext, ServiceHandlers, UnaryHandler } from './unary-dispatch.ts';

export interface ServerContext extends KvContext {
  /** The gRPC clients to the other nodes' client ports (ClusterService calls them too). */
  readonly peers: PeerClients;
  /** The client requests answered here so far, for Status; absent when the node keeps no metrics. */
  readonly load?: (() => RequestLoad) | undefined;
}

/**
 * A service method written as `(ctx, request, deadlineMs, forwarded)`, as KVService's and
 * ClusterService's are.
 */
export type ContextHandler<Req, Res> = (
  ctx: ServerContext,
  req: Req,
  deadlineMs: number,
  forwarded: boolean,
) => Promise<Res>;

/**
 * The server's handler `(request, { deadlineMs, forwarded })` for `h`, bound to `ctx`. `limitMs`:
 * the longest the method may run whatever the client allows (default `--request_timeout_ms`);
 * the deadline itself is computed where the request arrives (deadline.ts).
 */
export function unary<Req, Res>(
  ctx: ServerContext,
  h: ContextHandler<Req, Res>,
  limitMs?: number,
): UnaryHandler<Req, Res> {
  const handler = (req: Req, call: CallContext): Promise<Res> => h(ctx, req, call.deadlineMs, call.forwarded);
  return limitMs === undefined ? handler : Object.assign(handler, { deadlineLimitMs: limitMs });
}

/** KVService's unary methods (Watch, server-streaming, is served apart: watch.ts). */
export type KvUnaryService = Omit<typeof KVServiceService, 'watch'>;
export type KvHandlers = ServiceHandlers<KvUnaryService>;
export type ClusterHandlers = ServiceHandlers<typeof ClusterServiceService>;
