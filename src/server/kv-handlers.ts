// KVService's Put (with a lease: lease.ts), Get, Delete and CompareAndSwap: validate, route (routing.ts: served on this node's
// replica whether it leads the shard or not; passed to a voter only when this node holds no replica
// the shard table places here), then propose (writes) or read (Get: ReadIndex unless serializable)
// on the local replica; on a follower the Raft core carries both to the leader. Apart from HTTP/2 and gRPC: each is
// `(ctx, request, deadlineMs, forwarded)` over a KvContext (routing.ts), so the simulator's clients
// (src/sim/real/kv-port.ts) enter through them as real clients do, and pass on over its network.
// They read time only on the node's Clock (scripts/check-layers.ts keeps the real one out).
import type {
  CompareAndSwapRequest,
  CompareAndSwapResponse,
  DeleteRequest,
  DeleteResponse,
  GetRequest,
  GetResponse,
  PutRequest,
  PutResponse,
} from '../gen/ringkv/v1/kv.ts';
import { InvalidArgumentError } from '../node/errors.ts';
import { checkKeyValue, getValue, read, write } from '../node/requests.ts';
import type { CasExpect } from '../storage/command.ts';
import { deleteRange } from './delete-range.ts';
import type { KvForwardable, KvMethod } from './kv-peers.ts';
import { leaseGrant, leaseKeepAlive, leaseRefusal, leaseRevoke, leaseTimeToLive, putLease } from './lease.ts';
import { header, type KvContext, retrySafely, routeTo, shardOfKey } from './routing.ts';
import { refuseStaleRoute } from './stale-route.ts';
import { txn } from './txn.ts';

export async function put(
  ctx: KvContext,
  req: PutRequest,
  deadlineMs: number,
  fwd: boolean,
): Promise<PutResponse> {
  const { node, peers } = ctx;
  checkKeyValue(node, req.key, req.value);
  const shard = shardOfKey(node, req.key);
  const lease = putLease(ctx, req.lease, shard);
  refuseStaleRoute(node, shard, req.shardEpoch, fwd);
  return retrySafely(node.clock, deadlineMs, async () => {
    const route = routeTo(ctx, shard, fwd, deadlineMs);
    // Known at once while the shard has a leader: no await (a microtask) on the hot path.
    const to = typeof route === 'object' ? await route : route;
    if (to !== undefined) return peers.forward(to, 'put', req, deadlineMs);
    const body = { op: 'put', key: req.key, value: req.value } as const;
    const w = await write(node, shard, lease === undefined ? body : { ...body, lease }, deadlineMs);
    if (w.result.refused !== undefined) throw leaseRefusal(req.lease, w.result.refused);
    return { header: header(node, shard, w.term, w.index), version: BigInt(w.index) };
  });
}

export async function get(
  ctx: KvContext,
  req: GetRequest,
  deadlineMs: number,
  fwd: boolean,
): Promise<GetResponse> {
  const { node, peers } = ctx;
  checkKeyValue(node, req.key);
  const shard = shardOfKey(node, req.key);
  refuseStaleRoute(node, shard, req.shardEpoch, fwd);
  return retrySafely(node.clock, deadlineMs, async () => {
    // A serializable read is served by any replica the table places here, never by a stale one.
    if (!req.serializable || !node.placedHere(shard)) {
      const route = routeTo(ctx, shard, fwd, deadlineMs);
      const to = typeof route === 'object' ? await route : route;
      if (to !== undefined) return peers.forward(to, 'get', req, deadlineMs);
    }
    const r = await read(node, shard, req.serializable, deadlineMs, (m) => getValue(m, req.key));
    const v = r.value;
    return {
      found: v !== undefined,
      value: v?.value ?? new Uint8Array(0),
      version: BigInt(v?.version ?? 0),
      header: header(node, shard, r.term, r.index),
    };
  });
}

export async function del(
  ctx: KvContext,
  req: DeleteRequest,
  deadlineMs: number,
  fwd: boolean,
): Promise<DeleteResponse> {
  const { node, peers } = ctx;
  checkKeyValue(node, req.key);
  const shard = shardOfKey(node, req.key);
  refuseStaleRoute(node, shard, req.shardEpoch, fwd);
  return retrySafely(node.clock, deadlineMs, async () => {
    const to = await routeTo(ctx, shard, fwd, deadlineMs);
    if (to !== undefined) return peers.forward(to, 'delete', req, deadlineMs);
    const w = await write(node, shard, { op: 'delete', key: req.key }, deadlineMs);
    const r = w.result;
    return { deleted: r.deleted, header: header(node, shard, w.term, w.index) };
  });
}

function casExpect(req: CompareAndSwapRequest): CasExpect {
  const e = req.expected;
  if (e === undefined) {
    throw new InvalidArgumentError(
      'compare-and-swap needs an expectation: expected_value, expected_absent or expected_version',
    );
  }
  if (e.$case === 'expectedValue') return { kind: 'value', value: e.value };
  if (e.$case === 'expectedAbsent') return { kind: 'absent' };
  return { kind: 'version', version: Number(e.value) };
}

export async function cas(
  ctx: KvContext,
  req: CompareAndSwapRequest,
  deadlineMs: number,
  fwd: boolean,
): Promise<CompareAndSwapResponse> {
  const { node } = ctx;
  checkKeyValue(node, req.key, req.value);
  const expect = casExpect(req);
  if (expect.kind === 'value') checkKeyValue(node, req.key, expect.value);
  if (req.delete && req.value.byteLength > 0) {
    throw new InvalidArgumentError('compare-and-swap: give either delete or a value, not both');
  }
  const shard = shardOfKey(node, req.key);
  refuseStaleRoute(node, shard, req.shardEpoch, fwd);
  return retrySafely(node.clock, deadlineMs, () => casOnce(ctx, req, expect, shard, deadlineMs, fwd));
}

async function casOnce(
  ctx: KvContext,
  req: CompareAndSwapRequest,
  expect: CasExpect,
  shard: number,
  deadlineMs: number,
  fwd: boolean,
): Promise<CompareAndSwapResponse> {
  const { node, peers } = ctx;
  const to = await routeTo(ctx, shard, fwd, deadlineMs);
  if (to !== undefined) return peers.forward(to, 'compareAndSwap', req, deadlineMs);
  const value = req.delete ? null : req.value;
  const w = await write(node, shard, { op: 'cas', key: req.key, expect, value }, deadlineMs);
  const r = w.result;
  const h = header(node, shard, w.term, w.index);
  if (!r.ok) {
    const cur = r.current;
    return {
      succeeded: false,
      found: cur !== undefined,
      value: cur?.value ?? new Uint8Array(0),
      version: BigInt(cur?.version ?? 0),
      header: h,
    };
  }
  if (value === null)
    return { succeeded: true, found: false, value: new Uint8Array(0), version: 0n, header: h };
  return { succeeded: true, found: true, value, version: BigInt(w.index), header: h };
}

/** A handler of KVService method M, as `(ctx, request, deadlineMs, forwarded)`. */
export type KvHandler<M extends KvMethod> = (
  ctx: KvContext,
  req: KvForwardable[M][0],
  deadlineMs: number,
  forwarded: boolean,
) => Promise<KvForwardable[M][1]>;

/** The handlers by method name, for a forwarded call to be served by (the simulator's port); Txn, DeleteRange and the leases live in txn.ts, delete-range.ts and lease.ts. */
export const KV_HANDLERS: { readonly [M in KvMethod]: KvHandler<M> } = {
  put,
  get,
  delete: del,
  compareAndSwap: cas,
  txn,
  deleteRange,
  leaseGrant,
  leaseRevoke,
  leaseKeepAlive,
  leaseTimeToLive,
};
