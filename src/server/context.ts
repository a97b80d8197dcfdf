// What every service handler needs: the node, the clients to other nodes, and the request's
// deadline (the smaller of the client's and the server's own).
import type { ServerUnaryCall } from '@grpc/grpc-js';
import type { ResponseHeader } from '../gen/ringkv/v1/kv.ts';
import { NodeError, UnavailableError } from '../node/errors.ts';
import type { KvNode } from '../node/node.ts';
import { FORWARDED_KEY } from './errors.ts';
import type { PeerClients } from './peer-clients.ts';

export interface ServerContext {
  readonly node: KvNode;
  readonly peers: PeerClients;
}

/** Most the server's deadline is set ahead of the client's (see deadlineOf). */
const CLIENT_DEADLINE_MARGIN_MS = 100;

/**
 * Absolute deadline in ms since the epoch: min(now + limitMs, the client's deadline less a margin).
 * The margin (10 % of what the client allows, at most 100 ms) lets the server's own answer, for
 * example UNAVAILABLE with `ringkv-retry-safe`, reach the client before the client gives up with
 * DEADLINE_EXCEEDED, which would leave a write indeterminate.
 */
export function deadlineOf(call: ServerUnaryCall<unknown, unknown>, limitMs: number): number {
  const now = Date.now();
  const own = now + limitMs;
  const d = call.getDeadline();
  const client =
    d instanceof Date
      ? d.getTime()
      : typeof d === 'number' && Number.isFinite(d)
        ? d
        : Number.POSITIVE_INFINITY;
  const margin = Math.min(CLIENT_DEADLINE_MARGIN_MS, Math.max(0, (client - now) * 0.1));
  return Math.min(own, client - margin);
}

/** Metadata `ringkv-forwarded: 1`; read from the call's `forwarded` mark when the server sets one. */
export function isForwarded(call: ServerUnaryCall<unknown, unknown>): boolean {
  const mark = (call as { forwarded?: unknown }).forwarded;
  return typeof mark === 'boolean' ? mark : call.metadata.get(FORWARDED_KEY)[0] === '1';
}

export function header(node: KvNode, shard: number, term: number, index: number): ResponseHeader {
  return {
    nodeId: node.opts.nodeId,
    shardId: shard,
    term: BigInt(term),
    index: BigInt(index),
    leaderAddr: node.leaderAddr(shard),
  };
}

/**
 * Where a request for `groupId` should be served: undefined for here (this node leads, or the request
 * was already forwarded once, or no leader address is known: the core forwards to its leader), or the
 * leader's client address. Waits for a leader to be elected, up to the deadline; when the known
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
  const g = node.group(groupId);
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
