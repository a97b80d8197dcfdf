// What every service handler needs: the node and the clients to other nodes (ServerContext), bound
// to each method by `unary`; where a request is served (here, or forwarded to its shard's leader);
// the retry of what failed retry-safe.
import type {
  ClusterServiceService,
  KVServiceService,
  RequestLoad,
  ResponseHeader,
} from '../gen/ringkv/v1/kv.ts';
import { NodeError, UnavailableError } from '../node/errors.ts';
import type { GroupView } from '../node/intents.ts';
import type { KvNode } from '../node/node.ts';
import type { PeerClients } from './peer-clients.ts';
import type { CallContext, ServiceHandlers, UnaryHandler } from './unary-dispatch.ts';

export interface ServerContext {
  readonly node: KvNode;
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

export type KvHandlers = ServiceHandlers<typeof KVServiceService>;
export type ClusterHandlers = ServiceHandlers<typeof ClusterServiceService>;

export function header(node: KvNode, shard: number, term: number, index: number): ResponseHeader {
  return {
    nodeId: node.opts.nodeId,
    shardId: shard,
    term: BigInt(term),
    index: BigInt(index),
    leaderAddr: node.leaderAddr(shard),
    shardEpoch: BigInt(node.shardEpoch(shard)),
  };
}

/**
 * Where a request for `groupId` should be served: undefined for here (this node leads, or the request
 * was already forwarded once, or no leader address is known: the core forwards to its leader), or the
 * leader's client address, or, when this node holds no replica the shard table places here (none, or
 * a stale one), one of the table's voters. Waits for a leader to be elected, up to the deadline; when the known
 * leader cannot be reached, fails retry-safe so that retrySafely tries again after a pause.
 */
export async function routeTo(
  ctx: ServerContext,
  groupId: number,
  forwarded: boolean,
  deadlineMs: number,
): Promise<string | undefined> {
  const { node } = ctx;
  if (forwarded) return undefined;
  let g: GroupView;
  try {
    g = node.group(groupId);
  } catch (e) {
    return replicaElsewhere(ctx, groupId, e);
  }
  if (!node.placedHere(groupId)) {
    return replicaElsewhere(
      ctx,
      groupId,
      new UnavailableError(
        `this node's replica of shard ${groupId} is stale (the shard table places it on other members) and none of them can be reached; retry later`,
        { retrySafe: true },
      ),
    );
  }
  if (g.leader === '') {
    await node
      .waitFor(() => g.leader !== '', deadlineMs, `a leader of group ${groupId}`)
      .catch(() => {
        throw new UnavailableError(
          `shard ${groupId} has no leader (fewer than a quorum of its replicas are reachable?); nothing was written, retry later`,
          { retrySafe: true },
        );
      });
  }
  if (g.isLeader()) return undefined;
  const addr = node.leaderAddr(groupId);
  if (addr !== '' && addr !== node.opts.clientAddr && ctx.peers.isUnreachable(addr)) {
    // Proposing here would let Raft forward the proposal to the unreachable leader, where it is
    // lost without a word, and the caller could only be told "maybe". Waiting is better: the
    // shard elects a new leader when the old one is gone, and retrySafely routes there.
    throw new UnavailableError(
      `the leader of shard ${groupId} at ${addr} cannot be reached; nothing was written, retry (a new leader is elected within seconds if it is down)`,
      { retrySafe: true },
    );
  }
  return addr === '' || addr === node.opts.clientAddr ? undefined : addr;
}

/** Turns of replicaElsewhere, so that successive requests try the shard's voters in turn. */
let replicaTurn = 0;

/**
 * A shard this node holds no replica of (the table places it on other members): the client address
 * of one of its voters, which serves the request (its Raft core forwards proposals and ReadIndex
 * requests to the shard's leader). Voters known unreachable are skipped; with none left, `notHere`
 * (retry-safe: the table may name new voters by the next attempt).
 */
function replicaElsewhere(ctx: ServerContext, groupId: number, notHere: unknown): string {
  const addrs = ctx.node.replicaAddrs(groupId).filter((a) => !ctx.peers.isUnreachable(a));
  if (addrs.length === 0) throw notHere;
  replicaTurn = (replicaTurn + 1) % 1_000_000;
  return addrs[replicaTurn % addrs.length] as string;
}

/**
 * The client address of one of the shard's voters other than this node, taken in turn; fails
 * retry-safe when the table names none that can be reached (it may name new ones by the next try).
 */
export function replicaOf(ctx: ServerContext, groupId: number): string {
  return replicaElsewhere(
    ctx,
    groupId,
    new UnavailableError(`no replica of shard ${groupId} can be reached from this node; retry later`, {
      retrySafe: true,
    }),
  );
}

/**
 * Runs `attempt` again while it fails with a retry-safe UNAVAILABLE (a proposal dropped during an
 * election or a leadership transfer: nothing was written) and the deadline leaves time, re-routing
 * each time. Bounded by the deadline; the pause grows from 20 ms to 200 ms.
 */
export async function retrySafely<T>(deadlineMs: number, attempt: () => Promise<T>): Promise<T> {
  let pauseMs = 20;
  for (;;) {
    try {
      return await attempt();
    } catch (e) {
      const retry =
        e instanceof NodeError &&
        e.code === 'UNAVAILABLE' &&
        e.retrySafe &&
        Date.now() + pauseMs < deadlineMs;
      if (!retry) throw e;
      await new Promise((r) => setTimeout(r, pauseMs));
      pauseMs = Math.min(200, pauseMs * 2);
    }
  }
}
