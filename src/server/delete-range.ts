// KVService's DeleteRange: the keys of ONE data shard with a prefix, or in [start, end), deleted as
// one command of its log (atomic for that shard), routed as CompareAndSwap is (routing.ts). The
// caller names the shard and sends one call per shard for a whole range (the client library and
// the CLI do, and sum the counts): atomic per shard, not across shards.
import type { DeleteRangeRequest, DeleteRangeResponse } from '../gen/ringkv/v1/kv.ts';
import { InvalidArgumentError } from '../node/errors.ts';
import { checkKeyValue, write } from '../node/requests.ts';
import { prefixRange } from '../storage/kv-state.ts';
import { header, type KvContext, refuseWhileJoining, retrySafely, routeTo } from './routing.ts';
import { refuseStaleRoute } from './stale-route.ts';

export async function deleteRange(
  ctx: KvContext,
  req: DeleteRangeRequest,
  deadlineMs: number,
  fwd: boolean,
): Promise<DeleteRangeResponse> {
  const { node, peers } = ctx;
  const shard = req.shard;
  refuseWhileJoining(node);
  if (!Number.isInteger(shard) || shard < 1 || shard > node.shardCount)
    throw new InvalidArgumentError(
      `delete range: shard ${shard} is not a data shard; give one of 1 to ${node.shardCount} (one call per shard)`,
    );
  const range = rangeOf(req);
  if (range.start.byteLength > node.opts.maxKeyBytes) checkKeyValue(node, range.start);
  if (range.end !== null) checkKeyValue(node, range.end);
  refuseStaleRoute(node, shard, req.shardEpoch, fwd);
  return retrySafely(node.clock, deadlineMs, async () => {
    const to = await routeTo(ctx, shard, fwd, deadlineMs);
    if (to !== undefined) return peers.forward(to, 'deleteRange', req, deadlineMs);
    const w = await write(node, shard, { op: 'deleteRange', ...range }, deadlineMs);
    return { deleted: BigInt(w.result.deleted), header: header(node, shard, w.term, w.index) };
  });
}

/** [start, end) of the request: start and end when either is given, else the prefix's range. */
function rangeOf(req: DeleteRangeRequest): { start: Uint8Array; end: Uint8Array | null } {
  if (req.start.byteLength > 0 || req.end.byteLength > 0)
    return { start: req.start, end: req.end.byteLength > 0 ? req.end : null };
  if (req.prefix.byteLength === 0)
    throw new InvalidArgumentError(
      'delete range: give a prefix, or a start and/or an end; an empty range would delete every key of the shard',
    );
  const r = prefixRange(req.prefix);
  return { start: r.start, end: r.end ?? null };
}
