// Scan over every shard: each shard's range is read from the local replica (after a ReadIndex round
// unless serializable; on a follower the core asks the leader for the read index), then the results
// are merged in key order and cut at the limit. The continuation is the last key returned: the next
// call starts just after it.
import type { KeyValue, ScanRequest, ScanResponse } from '../gen/ringkv/v1/kv.ts';
import { InvalidArgumentError } from '../node/errors.ts';
import { read, scanShard } from '../node/requests.ts';
import type { KvItem } from '../storage/kv-state.ts';
import { prefixRange } from '../storage/kv-state.ts';
import { header, type ServerContext } from './context.ts';

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

export async function scan(ctx: ServerContext, req: ScanRequest, deadlineMs: number): Promise<ScanResponse> {
  const { node } = ctx;
  if (req.limit > LIMIT_MAX)
    throw new InvalidArgumentError(`scan limit ${req.limit} is above the maximum of ${LIMIT_MAX}`);
  const limit = req.limit === 0 ? LIMIT_DEFAULT : req.limit;
  const { start, end } = rangeOf(req);
  const shards: number[] = [];
  for (let s = 1; s <= node.shardCount; s++) shards.push(s);
  const parts = await Promise.all(
    shards.map((s) => read(node, s, req.serializable, deadlineMs, (m) => scanShard(m, start, end, limit))),
  );
  const all: KvItem[] = [];
  let more = false;
  for (const p of parts) {
    all.push(...p.value.items);
    more ||= p.value.more;
  }
  all.sort((a, b) => Buffer.compare(a.key, b.key));
  if (all.length > limit) more = true;
  const items: KeyValue[] = all.slice(0, limit).map((i) => ({
    key: i.key,
    value: req.keysOnly ? new Uint8Array(0) : i.value,
    version: BigInt(i.version),
  }));
  const last = items[items.length - 1];
  const maxIndex = Math.max(0, ...parts.map((p) => p.index));
  return {
    items,
    continuation: more && last !== undefined ? last.key : new Uint8Array(0),
    header: header(node, 0, 0, maxIndex),
  };
}
