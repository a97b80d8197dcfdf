// Where a request is served (here, on this node's replica, leader or not; or passed to a voter of a
// shard this node holds no replica of), and the retry of what failed retry-safe. Runs under the real
// server and under the simulator (src/sim/real/kv-port.ts), so it reads time and sleeps only on the
// node's Clock (scripts/check-layers.ts keeps the real clock and timers out of it).
import type { ResponseHeader } from '../gen/ringkv/v1/kv.ts';
import { type Clock, sleep } from '../node/clock.ts';
import { NodeError, UnavailableError } from '../node/errors.ts';
import type { GroupView } from '../node/intents.ts';
import type { KvNode } from '../node/node.ts';
import { shardOf } from '../ring/slots.ts';
import type { KvPeers } from './kv-peers.ts';

/** What KVService's handlers need: the node, the other nodes' client ports, this context's turns. */
export interface KvContext {
  readonly node: KvNode;
  readonly peers: KvPeers;
  readonly turns: ReplicaTurns;
}

/**
 * Turns of replicaElsewhere, so that successive requests try a shard's voters in turn. One per
 * context (a server, or a simulated node), so that one simulated run cannot steer another.
 */
export class ReplicaTurns {
  /** Invariant: 0 <= turn < TURNS_MAX. */
  private turn = 0;

  next(): number {
    this.turn = (this.turn + 1) % TURNS_MAX;
    return this.turn;
  }
}

const TURNS_MAX = 1_000_000;

/**
 * The data shard of `key` on `node`. A node still joining (it has not received the cluster's
 * metadata, so it knows no shard count, yet its client port is open) refuses retry-safe: nothing was
 * done, another member serves the request.
 */
export function shardOfKey(
  node: Pick<KvNode, 'shardCount' | 'keyHashing' | 'opts'>,
  key: Uint8Array,
): number {
  refuseWhileJoining(node);
  // Known once the shard table is applied (a restarting node replays it first): a key hashed by the
  // wrong rule would be written into the wrong shard.
  const hashing = node.keyHashing;
  if (hashing === undefined) {
    throw new UnavailableError(
      `${node.opts.nodeId} has not applied the cluster's shard table yet, so it cannot place keys; nothing was done, retry`,
      { retrySafe: true },
    );
  }
  return shardOf(key, node.shardCount, hashing);
}

/** Refuses retry-safe at a node still joining (it knows no shard count): nothing was done. */
export function refuseWhileJoining(node: Pick<KvNode, 'shardCount' | 'opts'>): void {
  if (node.shardCount === 0) {
    throw new UnavailableError(
      `${node.opts.nodeId} is still joining the cluster and knows no shards yet; nothing was done, retry at another member`,
      { retrySafe: true },
    );
  }
}

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
 * Where a request for `groupId` is served: undefined for here, or the client address of another
 * node to pass it to (once, by gRPC, marked forwarded).
 *
 * Here whenever the shard table makes this node a voter of the shard, whether it leads the shard
 * or not: a write is proposed on this replica and its core hands the proposal to the leader inside
 * the Raft stream (one message per batch of the turn's writes), the answer going out once this
 * replica has applied the entry; a linearizable read does its ReadIndex round through the leader
 * the same way and is served here once this replica has applied up to the read index. That is what
 * etcd does, and it costs the leader one Raft message per batch instead of one gRPC call per request.
 * Also here: a request already forwarded once (it is served where it lands).
 *
 * Elsewhere only when this node holds no replica the table places here (none; a stale one; or a
 * learner's, which may be far behind, catching up from a snapshot, and may be rolled back: etcd lets
 * a learner serve only serializable reads, and here a learner serves none): one of the table's voters
 * (replicaElsewhere), since only a replica can propose or confirm a read index.
 *
 * Waits for a leader to be known, up to the deadline (the core refuses a proposal without one): the
 * answer is a promise only then, a plain value otherwise (the common case costs no async frame).
 * When the known leader was reported unreachable within the last second, fails retry-safe instead
 * of proposing: the core would forward the proposal into a lost link, and the caller could then only
 * be told "maybe" at its deadline; retrySafely tries again after a pause, by when a new leader is
 * elected if the old one is down.
 */
export function routeTo(
  ctx: KvContext,
  groupId: number,
  forwarded: boolean,
  deadlineMs: number,
): string | undefined | Promise<string | undefined> {
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
        `this node's replica of shard ${groupId} is not one of its voters in the shard table (a learner, or stale) and none of the voters can be reached; retry later`,
        { retrySafe: true },
      ),
    );
  }
  if (g.leader === '') return awaitLeader(node, g, deadlineMs).then(() => serveHere(node, g));
  return serveHere(node, g);
}

/** undefined (serve on this replica), unless the leader this node knows was reported unreachable. */
function serveHere(node: KvNode, g: GroupView): undefined {
  if (!g.isLeader() && node.leaderUnreachable(g.id)) {
    throw new UnavailableError(
      `the leader of shard ${g.id} at ${node.leaderAddr(g.id) || g.leader} cannot be reached from this node; nothing was written, retry (a new leader is elected within seconds if it is down)`,
      { retrySafe: true },
    );
  }
  return undefined;
}

/** Resolves once `g` has a leader (as this node knows it); fails retry-safe at the deadline. */
async function awaitLeader(node: KvNode, g: GroupView, deadlineMs: number): Promise<void> {
  if (g.leader !== '') return;
  await node
    .waitFor(() => g.leader !== '', deadlineMs, `a leader of group ${g.id}`)
    .catch(() => {
      throw new UnavailableError(
        `${g.id === 0 ? 'the metadata group' : `shard ${g.id}`} has no leader (fewer than a quorum of its replicas are reachable?); nothing was written, retry later`,
        { retrySafe: true },
      );
    });
}

/**
 * Where a request that only the group's leader can run goes (ClusterService's Join, Leave,
 * SetLeaderPlacement and Configure run their operation on the metadata leader: more than one
 * proposal, so no Raft message can carry it): undefined for here (this node leads, or the request
 * was forwarded once: it is served where it lands, and refused there if that node does not lead),
 * else the leader's client address, to forward the request to by gRPC. Waits for a leader to be
 * known, up to the deadline; fails retry-safe when the leader's client port could not be connected
 * to within the last second (retrySafely tries again after a pause).
 */
export async function routeToLeader(
  ctx: KvContext,
  groupId: number,
  forwarded: boolean,
  deadlineMs: number,
): Promise<string | undefined> {
  const { node } = ctx;
  if (forwarded) return undefined;
  const g = node.group(groupId);
  await awaitLeader(node, g, deadlineMs);
  if (g.isLeader()) return undefined;
  const addr = node.leaderAddr(groupId);
  if (addr === '' || addr === node.opts.clientAddr) return undefined;
  if (ctx.peers.isUnreachable(addr)) {
    throw new UnavailableError(
      `the leader of group ${groupId} at ${addr} cannot be reached; nothing was done, retry (a new leader is elected within seconds if it is down)`,
      { retrySafe: true },
    );
  }
  return addr;
}

/**
 * A shard this node holds no replica of (the table places it on other members): the client address
 * of one of its voters, which serves the request (its Raft core forwards proposals and ReadIndex
 * requests to the shard's leader). Voters known unreachable are skipped; with none left, `notHere`
 * (retry-safe: the table may name new voters by the next attempt).
 */
function replicaElsewhere(ctx: KvContext, groupId: number, notHere: unknown): string {
  const addrs = ctx.node.replicaAddrs(groupId).filter((a) => !ctx.peers.isUnreachable(a));
  if (addrs.length === 0) throw notHere;
  return addrs[ctx.turns.next() % addrs.length] as string;
}

/**
 * The client address of one of the shard's voters other than this node, taken in turn; fails
 * retry-safe when the table names none that can be reached (it may name new ones by the next try).
 */
export function replicaOf(ctx: KvContext, groupId: number): string {
  return replicaElsewhere(
    ctx,
    groupId,
    new UnavailableError(`no replica of shard ${groupId} can be reached from this node; retry later`, {
      retrySafe: true,
    }),
  );
}

/** The first pause of retrySafely, and its bound (it doubles each time). */
const RETRY_PAUSE_FIRST_MS = 20;
const RETRY_PAUSE_MAX_MS = 200;

/**
 * Runs `attempt` again while it fails with a retry-safe UNAVAILABLE (a proposal dropped during an
 * election or a leadership transfer: nothing was written) and the deadline leaves time, re-routing
 * each time. Bounded by the deadline; the pause grows from 20 ms to 200 ms. Time and pauses are the
 * node's `clock`'s, the clock `deadlineMs` is on.
 */
export async function retrySafely<T>(
  clock: Pick<Clock, 'nowMs' | 'after'>,
  deadlineMs: number,
  attempt: () => Promise<T>,
): Promise<T> {
  let pauseMs = RETRY_PAUSE_FIRST_MS;
  for (;;) {
    try {
      return await attempt();
    } catch (e) {
      const retry =
        e instanceof NodeError &&
        e.code === 'UNAVAILABLE' &&
        e.retrySafe &&
        clock.nowMs() + pauseMs < deadlineMs;
      if (!retry) throw e;
      await sleep(clock, pauseMs);
      pauseMs = Math.min(RETRY_PAUSE_MAX_MS, pauseMs * 2);
    }
  }
}
