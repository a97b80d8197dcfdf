// Where a request is served (here, forwarded to its shard's leader, or passed to a voter of a shard
// this node holds no replica of), and the retry of what failed retry-safe. Runs under the real
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
export function shardOfKey(node: Pick<KvNode, 'shardCount' | 'opts'>, key: Uint8Array): number {
  if (node.shardCount === 0) {
    throw new UnavailableError(
      `${node.opts.nodeId} is still joining the cluster and knows no shards yet; nothing was done, retry at another member`,
      { retrySafe: true },
    );
  }
  return shardOf(key, node.shardCount);
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
 * Where a request for `groupId` should be served: undefined for here (this node leads, or the request
 * was already forwarded once, or no leader address is known: the core forwards to its leader), or the
 * leader's client address, or, when this node holds no replica the shard table places here (none, or
 * a stale one), one of the table's voters. Waits for a leader to be elected, up to the deadline; when the known
 * leader cannot be reached, fails retry-safe so that retrySafely tries again after a pause.
 */
export async function routeTo(
  ctx: KvContext,
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
