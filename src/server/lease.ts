// KVService's leases: LeaseGrant and LeaseRevoke are writes of one shard (routed and proposed as Put
// is: routing.ts routeTo); LeaseKeepAlive and LeaseTimeToLive need the shard's leader, which alone
// keeps the leases' deadlines (src/node/lease/lessor.ts): forwarded to it by gRPC (routeToLeader),
// or, from a node without a replica of the shard, to one of its voters, which serves it if it leads
// and refuses retry-safe with the leader hint if not. Both first do a ReadIndex round on the leader's
// replica (`current`): a new leader may not have applied every entry committed before its term yet,
// and without the round a lease granted just before the election would look absent (NOT_FOUND: a
// keeper would call it lost). A lease lives in one shard, named by its id (src/ring/lease-id.ts).
import type {
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseKeepAliveRequest,
  LeaseKeepAliveResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
  LeaseTimeToLiveRequest,
  LeaseTimeToLiveResponse,
} from '../gen/ringkv/v1/kv.ts';
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  ResourceExhaustedError,
} from '../node/errors.ts';
import { read, write } from '../node/requests.ts';
import { type LeaseRef, leaseId, parseLeaseId } from '../ring/lease-id.ts';
import { KEYS_PER_LEASE_MAX, LEASE_TTL_MS_MAX, LEASE_TTL_MS_MIN } from '../storage/leases.ts';
import {
  header,
  type KvContext,
  refuseWhileJoining,
  replicaOf,
  retrySafely,
  routeTo,
  routeToLeader,
  shardOfKey,
} from './routing.ts';

/** The shard a grant puts its lease in: its key's, else `shard` (0: shard 1). */
export function grantShard(ctx: KvContext, req: LeaseGrantRequest): number {
  const { node } = ctx;
  if (req.key.byteLength > 0) return shardOfKey(node, req.key);
  refuseWhileJoining(node);
  const shard = req.shard === 0 ? 1 : req.shard;
  if (shard > node.shardCount)
    throw new InvalidArgumentError(`shard ${shard} does not exist: the cluster has ${node.shardCount}`);
  return shard;
}

/** The shard and grant index of a lease id from a request; InvalidArgumentError when none could have it. */
export function leaseOf(ctx: KvContext, id: bigint): LeaseRef {
  const ref = parseLeaseId(id);
  refuseWhileJoining(ctx.node);
  if (ref === undefined || ref.shard > ctx.node.shardCount)
    throw new InvalidArgumentError(`${id} is not a lease id of this cluster (shard << 48 | index)`);
  return ref;
}

/**
 * The put's lease as the shard's state names it (its grant index), or undefined for none; refused
 * FAILED_PRECONDITION when the lease lives in another shard than the key.
 */
export function putLease(ctx: KvContext, id: bigint, keyShard: number): number | undefined {
  if (id === 0n) return undefined;
  const ref = leaseOf(ctx, id);
  if (ref.shard !== keyShard) {
    throw new FailedPreconditionError(
      `the key lives in shard ${keyShard} and lease ${id} in shard ${ref.shard}: a key can only be attached to a lease of its own shard (grant the lease with --key naming the key, or a key sharing its {tag})`,
    );
  }
  return ref.index;
}

/** A put's lease refusal (the state machine wrote nothing) as the error its caller gets. */
export function leaseRefusal(id: bigint | string, refused: 'leaseNotFound' | 'leaseFull'): Error {
  return refused === 'leaseNotFound'
    ? new NotFoundError(`lease ${id} does not exist (expired, revoked or never granted); nothing was written`)
    : new ResourceExhaustedError(
        `lease ${id} holds ${KEYS_PER_LEASE_MAX} keys, the most a lease keeps; nothing was written`,
      );
}

export async function leaseGrant(
  ctx: KvContext,
  req: LeaseGrantRequest,
  deadlineMs: number,
  fwd: boolean,
): Promise<LeaseGrantResponse> {
  const { node, peers } = ctx;
  const ttlMs = req.ttlSeconds * 1000;
  if (ttlMs < LEASE_TTL_MS_MIN || ttlMs > LEASE_TTL_MS_MAX) {
    throw new InvalidArgumentError(
      `a lease's TTL is ${LEASE_TTL_MS_MIN / 1000} to ${LEASE_TTL_MS_MAX / 1000} seconds, not ${req.ttlSeconds}`,
    );
  }
  const shard = grantShard(ctx, req);
  return retrySafely(node.clock, deadlineMs, async () => {
    const to = await routeTo(ctx, shard, fwd, deadlineMs);
    if (to !== undefined) return peers.forward(to, 'leaseGrant', req, deadlineMs);
    const w = await write(node, shard, { op: 'leaseGrant', ttlMs }, deadlineMs);
    if (w.result.refused !== undefined) throw new ResourceExhaustedError(w.result.refused);
    return {
      id: leaseId({ shard, index: w.result.lease }),
      ttlSeconds: req.ttlSeconds,
      header: header(node, shard, w.term, w.index),
    };
  });
}

export async function leaseRevoke(
  ctx: KvContext,
  req: LeaseRevokeRequest,
  deadlineMs: number,
  fwd: boolean,
): Promise<LeaseRevokeResponse> {
  const { node, peers } = ctx;
  const { shard, index } = leaseOf(ctx, req.id);
  return retrySafely(node.clock, deadlineMs, async () => {
    const to = await routeTo(ctx, shard, fwd, deadlineMs);
    if (to !== undefined) return peers.forward(to, 'leaseRevoke', req, deadlineMs);
    const w = await write(node, shard, { op: 'leaseRevoke', lease: index }, deadlineMs);
    return {
      found: w.result.found,
      deleted: BigInt(w.result.deleted),
      header: header(node, shard, w.term, w.index),
    };
  });
}

export async function leaseKeepAlive(
  ctx: KvContext,
  req: LeaseKeepAliveRequest,
  deadlineMs: number,
  fwd: boolean,
): Promise<LeaseKeepAliveResponse> {
  const { node, peers } = ctx;
  const { shard, index } = leaseOf(ctx, req.id);
  return retrySafely(node.clock, deadlineMs, async () => {
    const to = await leaderOf(ctx, shard, fwd, deadlineMs);
    if (to !== undefined) return peers.forward(to, 'leaseKeepAlive', req, deadlineMs);
    await current(ctx, shard, deadlineMs);
    const ttlMs = node.leaseKeepAlive(shard, index);
    if (ttlMs === undefined)
      throw new NotFoundError(`lease ${req.id} does not exist (expired, revoked or never granted)`);
    return { id: req.id, ttlSeconds: Math.round(ttlMs / 1000), header: leaderHeader(ctx, shard) };
  });
}

export async function leaseTimeToLive(
  ctx: KvContext,
  req: LeaseTimeToLiveRequest,
  deadlineMs: number,
  fwd: boolean,
): Promise<LeaseTimeToLiveResponse> {
  const { node, peers } = ctx;
  const { shard, index } = leaseOf(ctx, req.id);
  return retrySafely(node.clock, deadlineMs, async () => {
    const to = await leaderOf(ctx, shard, fwd, deadlineMs);
    if (to !== undefined) return peers.forward(to, 'leaseTimeToLive', req, deadlineMs);
    await current(ctx, shard, deadlineMs);
    const t = node.leaseTimeToLive(shard, index);
    return {
      id: req.id,
      found: t !== undefined,
      ttlSeconds: t === undefined ? 0 : Math.round(t.ttlMs / 1000),
      remainingMs: BigInt(t?.remainingMs ?? 0),
      keys: req.keys && t !== undefined ? t.keys.map((k) => Buffer.from(k, 'latin1')) : [],
      header: leaderHeader(ctx, shard),
    };
  });
}

/** Where a request only the shard's leader serves goes: undefined for here, else a client address. */
async function leaderOf(
  ctx: KvContext,
  shard: number,
  fwd: boolean,
  deadlineMs: number,
): Promise<string | undefined> {
  if (fwd) return undefined;
  let hosted = true;
  try {
    ctx.node.group(shard);
  } catch {
    hosted = false;
  }
  return hosted ? routeToLeader(ctx, shard, fwd, deadlineMs) : replicaOf(ctx, shard);
}

function leaderHeader(ctx: KvContext, shard: number): ReturnType<typeof header> {
  const g = ctx.node.group(shard);
  return header(ctx.node, shard, g.term, g.applied);
}

/**
 * A ReadIndex round on this node's replica of `shard`: once it returns, the replica has applied
 * every entry committed when it began, those of earlier terms included.
 */
async function current(ctx: KvContext, shard: number, deadlineMs: number): Promise<void> {
  await read(ctx.node, shard, false, deadlineMs, () => undefined);
}
