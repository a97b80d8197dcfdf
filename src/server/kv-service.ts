// KVService: validate, route (forward to the shard's leader when this node does not lead it),
// then propose (writes) or read (Get: ReadIndex unless serializable) on the local replica.
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
import { shardOf } from '../ring/slots.ts';
import type { CasExpect } from '../storage/command.ts';
import { header, type KvHandlers, retrySafely, routeTo, type ServerContext, unary } from './context.ts';
import { scan } from './scan.ts';
import { readShardSnapshot, ShardSnapshotSessions } from './shard-snapshot.ts';
import { refuseStaleRoute } from './stale-route.ts';

export function kvService(ctx: ServerContext): KvHandlers {
  const sessions = new ShardSnapshotSessions();
  return {
    put: unary(ctx, put),
    get: unary(ctx, get),
    delete: unary(ctx, del),
    compareAndSwap: unary(ctx, cas),
    scan: unary(ctx, scan),
    readShardSnapshot: unary(ctx, (c, req, deadlineMs) => readShardSnapshot(c, sessions, req, deadlineMs)),
  };
}

async function put(
  ctx: ServerContext,
  req: PutRequest,
  deadlineMs: number,
  fwd: boolean,
): Promise<PutResponse> {
  const { node, peers } = ctx;
  checkKeyValue(node, req.key, req.value);
  const shard = shardOf(req.key, node.shardCount);
  refuseStaleRoute(node, shard, req.shardEpoch, fwd);
  return retrySafely(deadlineMs, async () => {
    const to = await routeTo(ctx, shard, fwd, deadlineMs);
    if (to !== undefined) return peers.call(peers.kv(to), peers.kv(to).put, req, deadlineMs, true);
    const w = await write(node, shard, { op: 'put', key: req.key, value: req.value }, deadlineMs);
    return { header: header(node, shard, w.term, w.index), version: BigInt(w.index) };
  });
}

async function get(
  ctx: ServerContext,
  req: GetRequest,
  deadlineMs: number,
  fwd: boolean,
): Promise<GetResponse> {
  const { node, peers } = ctx;
  checkKeyValue(node, req.key);
  const shard = shardOf(req.key, node.shardCount);
  refuseStaleRoute(node, shard, req.shardEpoch, fwd);
  return retrySafely(deadlineMs, async () => {
    // A serializable read is served by any replica the table places here, never by a stale one.
    if (!req.serializable || !node.placedHere(shard)) {
      const to = await routeTo(ctx, shard, fwd, deadlineMs);
      if (to !== undefined) return peers.call(peers.kv(to), peers.kv(to).get, req, deadlineMs, true);
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

async function del(
  ctx: ServerContext,
  req: DeleteRequest,
  deadlineMs: number,
  fwd: boolean,
): Promise<DeleteResponse> {
  const { node, peers } = ctx;
  checkKeyValue(node, req.key);
  const shard = shardOf(req.key, node.shardCount);
  refuseStaleRoute(node, shard, req.shardEpoch, fwd);
  return retrySafely(deadlineMs, async () => {
    const to = await routeTo(ctx, shard, fwd, deadlineMs);
    if (to !== undefined) return peers.call(peers.kv(to), peers.kv(to).delete, req, deadlineMs, true);
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

async function cas(
  ctx: ServerContext,
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
  const shard = shardOf(req.key, node.shardCount);
  refuseStaleRoute(node, shard, req.shardEpoch, fwd);
  return retrySafely(deadlineMs, () => casOnce(ctx, req, expect, shard, deadlineMs, fwd));
}

async function casOnce(
  ctx: ServerContext,
  req: CompareAndSwapRequest,
  expect: CasExpect,
  shard: number,
  deadlineMs: number,
  fwd: boolean,
): Promise<CompareAndSwapResponse> {
  const { node, peers } = ctx;
  const to = await routeTo(ctx, shard, fwd, deadlineMs);
  if (to !== undefined) return peers.call(peers.kv(to), peers.kv(to).compareAndSwap, req, deadlineMs, true);
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
