// Scan over every shard: each shard's range is read from the local replica (after a ReadIndex round
// unless serializable; on a follower the core asks the leader for the read index), then the results
// are merged in key order and cut at the limit. The continuation is the last key returned: the next
// call starts just after it.
import type { KeyValue, ScanRequest, ScanResponse } from '../gen/ringkv/v1/kv.ts';
import { InvalidArgumentError, UnavailableError } from '../node/errors.ts';
import { read, scanShard } from '../node/requests.ts';
import type { KvItem } from '../storage/kv-state.ts';
import { prefixRange } from '../storage/kv-state.ts';
import type { ServerContext } from './context.ts';
import { header, replicaOf, retrySafely } from './routing.ts';

const LIMIT_DEFAULT = 1000;
const LIMIT_MAX = 10_000;

function rangeOf(req: ScanRequest): { start: Uint8Array; end: Uint8Array | undefined } {
  let start: Uint8Array;
  let end: Uint8Array | undefined;
  if (req.start.byteLength > 0 || req.end.byteLength > 0) {
    start = req.start;
    end = req.end.byteLength > 0 ? req.end : undefined;
  } else {
    const r = prefixRange(req.prefix);
    start = r.start;
    end = r.end;
  }
  if (req.continuation.byteLength > 0) {
    // Just after the continuation key: the key followed by a zero byte.
    const after = new Uint8Array(req.continuation.byteLength + 1);
    after.set(req.continuation);
    if (Buffer.compare(after, start) > 0) start = after;
  }
  return { start, end };
}

/** What every shard's part of one scan reads: the range, the page size, the request's options. */
interface PartQuery {
  readonly req: ScanRequest;
  readonly start: Uint8Array;
  readonly end: Uint8Array | undefined;
  readonly limit: number;
  readonly deadlineMs: number;
}

/** One shard's part of a scan, read here or by one of its replicas elsewhere. */
interface Part {
  readonly items: readonly KeyValue[];
  readonly more: boolean;
  readonly index: number;
}

export async function scan(
  ctx: ServerContext,
  req: ScanRequest,
  deadlineMs: number,
  _forwarded: boolean,
): Promise<ScanResponse> {
  const { node } = ctx;
  if (req.limit > LIMIT_MAX)
    throw new InvalidArgumentError(`scan limit ${req.limit} is above the maximum of ${LIMIT_MAX}`);
  if (req.shard > node.shardCount)
    throw new InvalidArgumentError(`scan shard ${req.shard}: the cluster has shards 1 to ${node.shardCount}`);
  if (req.shard !== 0 && hosted(ctx, req.shard) && !node.placedHere(req.shard))
    throw new UnavailableError(
      `this node's replica of shard ${req.shard} is not a voter the shard table names (stale, or still catching up): ask one of its voters`,
      { retrySafe: true },
    );
  const limit = req.limit === 0 ? LIMIT_DEFAULT : req.limit;
  const q: PartQuery = { req, ...rangeOf(req), limit, deadlineMs };
  const shards: number[] = [];
  if (req.shard !== 0) shards.push(req.shard);
  else for (let s = 1; s <= node.shardCount; s++) shards.push(s);
  const parts = await Promise.all(
    shards.map((s) =>
      req.shard !== 0 || hostsHere(ctx, s) ? readHere(ctx, s, q) : readElsewhere(ctx, s, q),
    ),
  );
  const all: KeyValue[] = [];
  let more = false;
  for (const p of parts) {
    all.push(...p.items);
    more ||= p.more;
  }
  all.sort((a, b) => Buffer.compare(a.key, b.key));
  if (all.length > limit) more = true;
  const items = all.slice(0, limit);
  const last = items[items.length - 1];
  const maxIndex = Math.max(0, ...parts.map((p) => p.index));
  return {
    items,
    continuation: more && last !== undefined ? last.key : new Uint8Array(0),
    header: header(node, req.shard, 0, maxIndex),
  };
}

/** This node holds a replica of the shard, whatever the table says of it. */
function hosted(ctx: ServerContext, shard: number): boolean {
  try {
    ctx.node.group(shard);
    return true;
  } catch {
    return false;
  }
}

/** This node holds a replica of the shard that the table places here (not a stale one). */
function hostsHere(ctx: ServerContext, shard: number): boolean {
  return hosted(ctx, shard) && ctx.node.placedHere(shard);
}

/** The shard's range from this node's replica (a node that does not hold it fails retry-safe). */
async function readHere(ctx: ServerContext, shard: number, q: PartQuery): Promise<Part> {
  const { req, start, end, limit } = q;
  const r = await read(ctx.node, shard, req.serializable, q.deadlineMs, (m) =>
    scanShard(m, start, end, limit),
  );
  const items = r.value.items.map((i: KvItem) => ({
    key: i.key,
    value: req.keysOnly ? new Uint8Array(0) : i.value,
    version: BigInt(i.version),
  }));
  return { items, more: r.value.more, index: r.index };
}

/**
 * The shard's range from one of its voters (this node holds no replica of it): a scan of that shard
 * alone, page for page the same range and limit. Tried again on another voter while it fails
 * retry-safe (the voter lost the shard to a move, or cannot be reached), up to the deadline.
 */
function readElsewhere(ctx: ServerContext, shard: number, q: PartQuery): Promise<Part> {
  const part: ScanRequest = {
    prefix: new Uint8Array(0),
    start: q.start,
    end: q.end ?? new Uint8Array(0),
    limit: q.limit,
    continuation: new Uint8Array(0),
    keysOnly: q.req.keysOnly,
    serializable: q.req.serializable,
    shard,
  };
  return retrySafely(ctx.node.clock, q.deadlineMs, async () => {
    const to = replicaOf(ctx, shard);
    const kv = ctx.peers.kv(to);
    const res = await ctx.peers.call(kv, kv.scan, part, q.deadlineMs, true);
    return {
      items: res.items,
      more: res.continuation.byteLength > 0,
      index: Number(res.header?.index ?? 0n),
    };
  });
}
