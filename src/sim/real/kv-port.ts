// The nodes' client ports in the simulated world, for KVService: a call runs src/server's own
// handlers (kv-handlers.ts: validation, routeTo, replicaElsewhere, refuseStaleRoute, retrySafely)
// on the node with one KvContext per node, as a server holds one, with the deadline deadline.ts
// computes from the caller's timeout. What the handlers forward travels the world's network
// (RpcNetwork, as Join and Status do: a cut link holds the call, a dead callee resets it, the
// deadline may pass first) to the node answering at the address, which runs the same handler with
// the request marked forwarded; a failure there comes back as gRPC carries it (toGrpcError, then
// the caller's remoteFailure: status, message, leader hint and retry-safe mark). Requests and
// answers are not encoded on the way (the handlers neither keep nor change them).

import type { KvNode } from '../../node/node.ts';
import { parseLeaseId } from '../../ring/lease-id.ts';
import { deadlineOf } from '../../server/deadline.ts';
import { LEADER_ADDR_KEY, RETRY_SAFE_KEY, remoteFailure, toGrpcError } from '../../server/errors.ts';
import { KV_HANDLERS, type KvHandler } from '../../server/kv-handlers.ts';
import { type KvForwardable, type KvMethod, type KvPeers, UNREACHABLE_MS } from '../../server/kv-peers.ts';
import { type KvContext, ReplicaTurns, shardOfKey } from '../../server/routing.ts';
import { StaleRouteError } from '../../server/stale-route.ts';
import { statusName } from '../../transport/grpc-status.ts';
import type { RpcNetwork } from './cluster-rpc.ts';

/** The client ports of one world's nodes: a KvContext per node (incarnation), made when first called. */
export class SimKvPorts {
  private readonly net: RpcNetwork;
  private readonly contexts = new WeakMap<KvNode, KvContext>();
  /** Requests forwarded from one node's handler to another's so far. */
  forwarded = 0;
  /** Of those, requests passed on by a node holding no replica of the shard the table places there (replicaElsewhere). */
  passedOn = 0;

  constructor(net: RpcNetwork) {
    this.net = net;
  }

  /**
   * A client's call of KVService `method` at `node`'s client port with `timeoutMs` (its
   * grpc-timeout), not forwarded. Rejects as the handler does (NodeError, RemoteStatusError).
   */
  call<M extends KvMethod>(
    node: KvNode,
    method: M,
    req: KvForwardable[M][0],
    timeoutMs: number,
  ): Promise<KvForwardable[M][1]> {
    return this.serve(node, method, req, timeoutMs, false);
  }

  /** Runs the handler of `method` on `node`: the deadline computed on arrival, as unary-http2.ts does. */
  serve<M extends KvMethod>(
    node: KvNode,
    method: M,
    req: KvForwardable[M][0],
    timeoutMs: number,
    forwarded: boolean,
  ): Promise<KvForwardable[M][1]> {
    // Whole ms: virtual time counts whole ms (the margin may be a fraction of one).
    const deadlineMs = Math.floor(
      deadlineOf(grpcTimeout(timeoutMs), node.opts.requestTimeoutMs, node.clock.nowMs()),
    );
    const handler = KV_HANDLERS[method] as KvHandler<M>;
    return handler(this.contextOf(node), req, deadlineMs, forwarded);
  }

  private contextOf(node: KvNode): KvContext {
    let ctx = this.contexts.get(node);
    if (ctx === undefined) {
      ctx = { node, peers: new SimKvPeers(node, this, this.net), turns: new ReplicaTurns() };
      this.contexts.set(node, ctx);
    }
    return ctx;
  }
}

/** `grpc-timeout` for `ms` (whole milliseconds; a deadline already passed: 0). */
function grpcTimeout(ms: number): string {
  return `${Math.max(0, Math.floor(ms))}m`;
}

/** One node's calls to the others' client ports (src/server's PeerClients in the simulated world). */
class SimKvPeers implements KvPeers {
  private readonly node: KvNode;
  private readonly ports: SimKvPorts;
  private readonly net: RpcNetwork;
  /** Addresses that refused a connection, until when (the node's clock) they count as unreachable. */
  private readonly unreachableUntil = new Map<string, number>();

  constructor(node: KvNode, ports: SimKvPorts, net: RpcNetwork) {
    this.node = node;
    this.ports = ports;
    this.net = net;
  }

  isUnreachable(addr: string): boolean {
    const until = this.unreachableUntil.get(addr);
    if (until === undefined) return false;
    if (until > this.node.clock.nowMs()) return true;
    this.unreachableUntil.delete(addr);
    return false;
  }

  async forward<M extends KvMethod>(
    addr: string,
    method: M,
    req: KvForwardable[M][0],
    deadlineMs: number,
  ): Promise<KvForwardable[M][1]> {
    this.ports.forwarded++;
    if (!this.node.placedHere(shardOfRequest(this.node, req))) this.ports.passedOn++;
    // grpc-js sends the time left as grpc-timeout; the callee's deadline starts from its arrival.
    const timeoutMs = deadlineMs - this.node.clock.nowMs();
    let arrived = false;
    try {
      return await this.net.call(this.node.id, addr, deadlineMs, (callee) => {
        arrived = true;
        return this.ports.serve(callee, method, req, timeoutMs, true).catch((e: unknown) => {
          throw overTheWire(e);
        });
      });
    } catch (e) {
      // Nothing answered at the address (the world refuses the connection, retry-safe): as
      // PeerClients does, it counts as unreachable for a while.
      if (!arrived && retrySafe(e)) this.unreachableUntil.set(addr, this.node.clock.nowMs() + UNREACHABLE_MS);
      throw e;
    }
  }
}

/** A callee's failure as its caller receives it over gRPC (errors.ts, both ends). */
export function overTheWire(e: unknown): Error {
  const g = toGrpcError(e);
  return remoteFailure(
    g.code,
    g.details,
    g.trailers[LEADER_ADDR_KEY] ?? '',
    g.trailers[RETRY_SAFE_KEY] === '1',
  );
}

/** What a client learns of a failed call (the status and trailers a gRPC client would read). */
export interface CallFailure {
  /** The status's name (UNAVAILABLE, INTERNAL, …). */
  readonly status: string;
  readonly details: string;
  /** The `ringkv-retry-safe` mark: nothing was done. */
  readonly retrySafe: boolean;
  /** A stale route's refusal: the shard's epoch and where to send the request instead. */
  readonly staleRoute?: { readonly epoch: bigint; readonly leaderAddr: string };
}

export function failureOf(e: unknown): CallFailure {
  const g = toGrpcError(e);
  const f = { status: statusName(g.code), details: g.details, retrySafe: retrySafe(e) };
  if (!(e instanceof StaleRouteError)) return f;
  return { ...f, staleRoute: { epoch: BigInt(e.route.epoch), leaderAddr: e.leaderAddr } };
}

/** Whether a client told of `e` (a call's failure) knows that nothing was done: the `ringkv-retry-safe` trailer. */
function retrySafe(e: unknown): boolean {
  return toGrpcError(e).trailers[RETRY_SAFE_KEY] === '1';
}

/** The shard a forwarded request is for: its key's, a range delete's own, a transaction's first key's, a lease's. */
function shardOfRequest(node: KvNode, req: KvForwardable[KvMethod][0]): number {
  if ('id' in req) return parseLeaseId(req.id)?.shard ?? 0;
  if ('ttlSeconds' in req) return req.key.byteLength > 0 ? shardOfKey(node, req.key) : req.shard || 1;
  if ('key' in req) return shardOfKey(node, req.key);
  if ('shard' in req) return req.shard;
  const first = req.compares[0]?.key ?? keyOfOp(req.success[0]) ?? keyOfOp(req.failure[0]);
  return first === undefined ? 0 : shardOfKey(node, first);
}

function keyOfOp(o: KvForwardable['txn'][0]['success'][number] | undefined): Uint8Array | undefined {
  const op = o?.op;
  if (op === undefined) return undefined;
  return op.$case === 'put' ? op.value.key : op.value;
}
