// KVService's Txn: compares, then the success or the failure operations, as ONE command of one
// shard's log (src/storage/txn.ts), so all of it takes effect or none, once. Validated, then routed
// as CompareAndSwap is (kv-handlers.ts, routing.ts): proposed on this node's replica, or passed to a
// voter of the shard when this node holds none. Every key must hash to the one shard: keys of more
// than one are refused with FAILED_PRECONDITION naming the shards, before anything is proposed.
import type {
  TxnCompare as PbCompare,
  TxnOp as PbOp,
  TxnOpResult as PbResult,
  TxnRequest,
  TxnResponse,
} from '../gen/ringkv/v1/kv.ts';
import { VersionCompare_Op } from '../gen/ringkv/v1/kv.ts';
import { FailedPreconditionError, InvalidArgumentError } from '../node/errors.ts';
import { checkKeyValue, type LimitsHost, write } from '../node/requests.ts';
import { keysByShard, spansShardsMessage } from '../ring/key-shards.ts';
import {
  TXN_COMPARES_MAX,
  TXN_OPS_MAX,
  type TxnCompare,
  type TxnOp,
  type TxnOpResult,
  txnKeys,
  type VersionCmp,
} from '../storage/txn.ts';
import { leaseRefusal, putLease } from './lease.ts';
import { header, type KvContext, retrySafely, routeTo, shardOfKey } from './routing.ts';
import { refuseStaleRoute } from './stale-route.ts';

/** A transaction as the state machine takes it. */
export interface TxnBody {
  readonly compares: TxnCompare[];
  readonly success: TxnOp[];
  readonly failure: TxnOp[];
}

export async function txn(
  ctx: KvContext,
  req: TxnRequest,
  deadlineMs: number,
  fwd: boolean,
): Promise<TxnResponse> {
  const { node, peers } = ctx;
  const body = txnBody(node, req);
  const shard = txnShard(body, (key) => shardOfKey(node, key));
  const withLeases = txnLeases(ctx, req, body, shard);
  refuseStaleRoute(node, shard, req.shardEpoch, fwd);
  return retrySafely(node.clock, deadlineMs, async () => {
    const to = await routeTo(ctx, shard, fwd, deadlineMs);
    if (to !== undefined) return peers.forward(to, 'txn', req, deadlineMs);
    const w = await write(node, shard, { op: 'txn', ...withLeases }, deadlineMs);
    if (w.result.refused !== undefined) throw txnLeaseRefusal(req, w.result.refused);
    return {
      succeeded: w.result.succeeded,
      results: w.result.results.map(toPb),
      header: header(node, shard, w.term, w.index),
    };
  });
}

/**
 * The one shard every key of the transaction hashes to; FailedPreconditionError naming the shards
 * (and a key of each) when they are more than one.
 */
export function txnShard(body: TxnBody, shardOf: (key: Uint8Array) => number): number {
  const byShard = keysByShard(txnKeys(body), shardOf);
  const [first] = byShard?.keys() ?? [];
  if (byShard === undefined || first === undefined)
    throw new Error(`txn: a transaction with no key reached routing`);
  if (byShard.size === 1) return first;
  throw new FailedPreconditionError(spansShardsMessage(byShard));
}

/** Checks the request (keys, values, bounds) and turns it into the state machine's form. */
export function txnBody(node: LimitsHost, req: TxnRequest): TxnBody {
  if (req.compares.length > TXN_COMPARES_MAX)
    throw new InvalidArgumentError(
      `the transaction has ${req.compares.length} compares, more than the limit of ${TXN_COMPARES_MAX}`,
    );
  for (const [name, ops] of [
    ['success', req.success],
    ['failure', req.failure],
  ] as const) {
    if (ops.length > TXN_OPS_MAX)
      throw new InvalidArgumentError(
        `the transaction's ${name} branch has ${ops.length} operations, more than the limit of ${TXN_OPS_MAX}`,
      );
  }
  const body: TxnBody = {
    compares: req.compares.map((c, i) => compareOf(c, i)),
    success: req.success.map((o, i) => opOf(o, `success[${i}]`)),
    failure: req.failure.map((o, i) => opOf(o, `failure[${i}]`)),
  };
  let valueBytes = 0;
  for (const c of body.compares) {
    checkKeyValue(node, c.key, c.kind === 'value' ? c.value : undefined);
    if (c.kind === 'value') valueBytes += c.value.byteLength;
  }
  for (const o of [...body.success, ...body.failure]) {
    checkKeyValue(node, o.key, o.op === 'put' ? o.value : undefined);
    if (o.op === 'put') valueBytes += o.value.byteLength;
  }
  // The whole transaction is one log entry: its values together are held to one value's limit.
  if (valueBytes > node.opts.maxValueBytes)
    throw new InvalidArgumentError(
      `the transaction's values add up to ${valueBytes} bytes, more than the limit of ${node.opts.maxValueBytes} bytes for one transaction (--max_value_bytes)`,
    );
  if (txnKeys(body).length === 0)
    throw new InvalidArgumentError('the transaction names no key: give at least one compare or operation');
  return body;
}

const VERSION_OPS: ReadonlyMap<number, VersionCmp> = new Map([
  [VersionCompare_Op.EQUAL, '='],
  [VersionCompare_Op.NOT_EQUAL, '!='],
  [VersionCompare_Op.LESS, '<'],
  [VersionCompare_Op.GREATER, '>'],
]);

function compareOf(c: PbCompare, i: number): TxnCompare {
  const t = c.target;
  if (t === undefined)
    throw new InvalidArgumentError(`compare ${i} has no target: give value, exists or version`);
  if (t.$case === 'value') return { kind: 'value', key: c.key, value: t.value };
  if (t.$case === 'exists') return { kind: t.value ? 'exists' : 'absent', key: c.key };
  const cmp = VERSION_OPS.get(t.value.op);
  if (cmp === undefined)
    throw new InvalidArgumentError(
      `compare ${i}: version op ${t.value.op} is not EQUAL, NOT_EQUAL, LESS or GREATER`,
    );
  if (t.value.version > BigInt(Number.MAX_SAFE_INTEGER))
    throw new InvalidArgumentError(`compare ${i}: version ${t.value.version} is above 2^53 - 1`);
  return { kind: 'version', key: c.key, cmp, version: Number(t.value.version) };
}

/**
 * The transaction with each put's lease (PbOp.lease: an id) as the state machine names it (the
 * grant's index in `shard`); a lease of another shard is refused FAILED_PRECONDITION (putLease).
 */
function txnLeases(ctx: KvContext, req: TxnRequest, body: TxnBody, shard: number): TxnBody {
  const branch = (pb: readonly PbOp[], ops: TxnOp[]): TxnOp[] =>
    ops.map((o, i) => {
      const lease = putLease(ctx, pb[i]?.lease ?? 0n, shard);
      return o.op === 'put' && lease !== undefined ? { ...o, lease } : o;
    });
  return { ...body, success: branch(req.success, body.success), failure: branch(req.failure, body.failure) };
}

/** The state machine refused the transaction's leases (nothing was written): as its caller's error. */
function txnLeaseRefusal(req: TxnRequest, refused: 'leaseNotFound' | 'leaseFull'): Error {
  const ids = [...req.success, ...req.failure].filter((o) => o.lease !== 0n).map((o) => o.lease);
  return leaseRefusal([...new Set(ids)].join(', '), refused);
}

function opOf(o: PbOp, where: string): TxnOp {
  const op = o.op;
  if (op === undefined)
    throw new InvalidArgumentError(`operation ${where} is empty: give put, delete or get`);
  if (o.lease !== 0n && op.$case !== 'put')
    throw new InvalidArgumentError(`operation ${where}: only a put may name a lease`);
  if (op.$case === 'put') return { op: 'put', key: op.value.key, value: op.value.value };
  if (op.$case === 'delete') return { op: 'delete', key: op.value };
  return { op: 'get', key: op.value };
}

function toPb(r: TxnOpResult): PbResult {
  if (r.op === 'put') return { result: { $case: 'put', value: { prevVersion: BigInt(r.prevVersion) } } };
  if (r.op === 'delete') return { result: { $case: 'delete', value: { deleted: r.deleted } } };
  return {
    result: {
      $case: 'get',
      value: { found: r.found, value: r.value, version: BigInt(r.version) },
    },
  };
}
