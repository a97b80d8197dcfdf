// A client's stale route. Every keyed request carries the epoch of its key's shard in the client's
// cached shard table (`shard_epoch`; 0: no table). A node that holds no replica of the shard and has
// applied a newer table refuses the request, retry-safe (nothing was done), with the shard's
// current epoch and voters in the trailer `ringkv-stale-route` and its leader (or a voter) as the
// leader hint: the client learns the route and sends the request there itself, instead of this node
// forwarding each request of a client that would never learn. A request without an epoch (another
// gRPC client), with one at least as new as this node's, or already forwarded, is served or
// forwarded as before.
import { NodeError } from '../node/errors.ts';

export const STALE_ROUTE_KEY = 'ringkv-stale-route';

/** Where a shard is now, as the trailer carries it (JSON: ASCII, as gRPC metadata needs). */
export interface ShardRoute {
  readonly shard: number;
  readonly epoch: number;
  /** The client addresses of the shard's voters. */
  readonly voters: readonly string[];
}

export class StaleRouteError extends NodeError {
  override readonly name = 'StaleRouteError';
  readonly route: ShardRoute;

  constructor(route: ShardRoute, leaderAddr: string, clientEpoch: bigint) {
    super(
      'UNAVAILABLE',
      `shard ${route.shard} is not on this node: the client's shard table is at epoch ${clientEpoch}, the shard's is ${route.epoch} (voters ${route.voters.join(', ')}); nothing was done, send it there`,
      { leaderAddr, retrySafe: true },
    );
    this.route = route;
  }
}

/** What the check needs of the node. */
export interface RouteHost {
  /** The shard's epoch in the table this node applied (0: no table). */
  shardEpoch(shard: number): number;
  /** The table makes this node a voter of the shard. */
  placedHere(shard: number): boolean;
  /** The client addresses of the shard's voters, this node excluded. */
  replicaAddrs(shard: number): string[];
  /** The shard leader's client address when known, else ''. */
  leaderAddr(shard: number): string;
}

/** Throws StaleRouteError when the request should go elsewhere by a table newer than the client's. */
export function refuseStaleRoute(
  node: RouteHost,
  shard: number,
  clientEpoch: bigint,
  forwarded: boolean,
): void {
  if (forwarded || clientEpoch === 0n) return;
  const epoch = node.shardEpoch(shard);
  if (BigInt(epoch) <= clientEpoch || node.placedHere(shard)) return;
  const voters = node.replicaAddrs(shard);
  if (voters.length === 0) return; // nowhere better to send it: forwarding tries
  const leader = node.leaderAddr(shard);
  throw new StaleRouteError(
    { shard, epoch, voters },
    leader !== '' ? leader : (voters[0] as string),
    clientEpoch,
  );
}

/** The trailer's value. */
export function encodeRoute(r: ShardRoute): string {
  return JSON.stringify({ shard: r.shard, epoch: r.epoch, voters: r.voters });
}
