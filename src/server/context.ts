// What every service handler needs: the node, the clients to other nodes, and the request's
// deadline (the smaller of the client's and the server's own).
import type { Metadata, ServerUnaryCall } from '@grpc/grpc-js';
import type { ResponseHeader } from '../gen/ringkv/v1/kv.ts';
import { NodeError, UnavailableError } from '../node/errors.ts';
import type { KvNode } from '../node/node.ts';
import { FORWARDED_KEY } from './errors.ts';
import type { PeerClients } from './peer-clients.ts';

export interface ServerContext {
  readonly node: KvNode;
  readonly peers: PeerClients;
}

/** Absolute deadline in ms since the epoch: min(client deadline, now + limitMs). */
export function deadlineOf(call: ServerUnaryCall<unknown, unknown>, limitMs: number): number {
  const own = Date.now() + limitMs;
  const d = call.getDeadline();
  const client =
    d instanceof Date
      ? d.getTime()
      : typeof d === 'number' && Number.isFinite(d)
        ? d
        : Number.POSITIVE_INFINITY;
  return Math.min(own, client);
}

export function isForwarded(md: Metadata): boolean {
  return md.get(FORWARDED_KEY)[0] === '1';
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
 * leader's client address. Waits for a leader to be elected, up to the deadline.
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
  return addr === '' || addr === node.opts.clientAddr || ctx.peers.isUnreachable(addr) ? undefined : addr;
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
