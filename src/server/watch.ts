// Watch: one shard's changes of a key, a prefix or a range, streamed from this node's own replica of
// the shard (src/node/watch: backlog, then live, then progress when idle). Never forwarded: a node
// whose table does not make it a voter of the shard refuses retry-safe, naming the voters (the
// leader hint is one of them), and the client opens the stream there. Served inline only (see
// unary-http2-server.ts).

import { type WatchEvent, WatchEvent_Type, WatchRequest, WatchResponse } from '../gen/ringkv/v1/kv.ts';
import { InvalidArgumentError, UnavailableError } from '../node/errors.ts';
import type { KvNode } from '../node/node.ts';
import type { WatchKeys } from '../node/watch/match.ts';
import { PROGRESS_INTERVAL_MIN_MS, type WatchHandle, type WatchSpec } from '../node/watch/watches.ts';
import { EntriesTemporarilyUnavailableError, SnapshotTemporarilyUnavailableError } from '../raft/index.ts';
import { KEY_BYTES_MAX } from '../storage/command.ts';
import type { KvChange } from '../storage/kv-change.ts';
import { prefixRange } from '../storage/kv-state.ts';
import { frameOf } from '../transport/grpc-frames.ts';
import { GrpcStatus } from '../transport/grpc-status.ts';
import { toGrpcError } from './errors.ts';
import { refuseWhileJoining, shardOfKey } from './routing.ts';
import type { ServerStreamCall, ServerStreamHandler } from './server-stream.ts';

export const WATCH_PATH = '/ringkv.v1.KVService/Watch';
const PROGRESS_INTERVAL_DEFAULT_MS = 1000;
const PROGRESS_INTERVAL_MAX_MS = 3_600_000;

/** The handler of Watch on `node`. */
export function watchHandler(node: KvNode): ServerStreamHandler {
  return (message, call) => {
    let req: WatchRequest;
    try {
      req = WatchRequest.decode(message);
    } catch (e) {
      call.end({
        code: GrpcStatus.INTERNAL,
        details: `could not parse the request: ${String(e)}`,
        trailers: {},
      });
      return;
    }
    try {
      const spec = watchSpec(node, req);
      refuseElsewhere(node, spec.shard);
      const sink = streamSink(node.opts.nodeId, spec.shard, req.prevKv, call);
      let handle: WatchHandle | undefined;
      let closed = false;
      call.onClose(() => {
        closed = true;
        handle?.cancel();
      });
      // The backlog may replay from the shard's snapshot and log, whose bytes may be on disk only:
      // once they are read back, start again (nothing was sent, nothing registered). The snapshot
      // and then the entries may each be wanted: a bounded number of tries.
      const start = (triesLeft: number): void => {
        try {
          handle = node.watches.start(spec, sink);
        } catch (e) {
          const onDisk =
            e instanceof SnapshotTemporarilyUnavailableError ||
            e instanceof EntriesTemporarilyUnavailableError;
          if (!onDisk) throw e;
          if (triesLeft === 0) throw readingBack(spec.shard);
          void node.readBack(spec.shard).then(() => {
            if (closed) return;
            try {
              start(triesLeft - 1);
            } catch (e) {
              call.end(toGrpcError(e));
            }
          });
        }
      };
      start(2);
    } catch (e) {
      call.end(toGrpcError(e));
    }
  };
}

function readingBack(shard: number): UnavailableError {
  return new UnavailableError(
    `shard ${shard}'s snapshot or log is being read back from disk for the replay; retry`,
    {
      retrySafe: true,
    },
  );
}

/** The request checked and turned into what the node's watches take. */
export function watchSpec(
  node: Pick<KvNode, 'shardCount' | 'keyHashing' | 'opts'>,
  req: WatchRequest,
): WatchSpec {
  refuseWhileJoining(node);
  const keys = watchKeys(req);
  let shard = req.shard;
  if (shard === 0) {
    if (keys.kind !== 'key')
      throw new InvalidArgumentError('a watch of a prefix or range names its shard (one stream per shard)');
    shard = shardOfKey(node, keys.key);
  }
  if (shard > node.shardCount)
    throw new InvalidArgumentError(`watch shard ${shard}: the cluster has shards 1 to ${node.shardCount}`);
  const fromIndex = Number(req.fromIndex);
  if (!Number.isSafeInteger(fromIndex))
    throw new InvalidArgumentError(`from_index ${req.fromIndex} is too large`);
  const asked = req.progressIntervalMs;
  const progressIntervalMs = asked === 0 ? PROGRESS_INTERVAL_DEFAULT_MS : asked;
  if (progressIntervalMs < PROGRESS_INTERVAL_MIN_MS || progressIntervalMs > PROGRESS_INTERVAL_MAX_MS)
    throw new InvalidArgumentError(
      `progress_interval_ms ${asked}: give 0 (the default, ${PROGRESS_INTERVAL_DEFAULT_MS}) or ${PROGRESS_INTERVAL_MIN_MS} to ${PROGRESS_INTERVAL_MAX_MS}`,
    );
  return { shard, keys, fromIndex, progressIntervalMs };
}

function watchKeys(req: WatchRequest): WatchKeys {
  for (const [name, b] of [
    ['key', req.key],
    ['prefix', req.prefix],
    ['start', req.start],
    ['end', req.end],
  ] as const) {
    if (b.byteLength > KEY_BYTES_MAX)
      throw new InvalidArgumentError(`watch ${name} of ${b.byteLength} bytes exceeds ${KEY_BYTES_MAX} bytes`);
  }
  if (req.start.byteLength > 0 || req.end.byteLength > 0)
    return { kind: 'range', range: { start: req.start, end: req.end.byteLength > 0 ? req.end : undefined } };
  if (req.prefixSet || req.prefix.byteLength > 0) return { kind: 'range', range: prefixRange(req.prefix) };
  if (req.key.byteLength === 0) throw new InvalidArgumentError('a watch needs a key, a prefix or a range');
  return { kind: 'key', key: req.key };
}

/** Only a voter's replica serves a watch here (a stale or learner replica may lag or be dropped). */
function refuseElsewhere(node: KvNode, shard: number): void {
  if (node.placedHere(shard)) return;
  const voters = node.replicaAddrs(shard);
  throw new UnavailableError(
    `shard ${shard} has no voter's replica on this node; watch it at one of its voters: ${voters.join(', ') || 'none known'}`,
    { retrySafe: true, leaderAddr: voters[0] ?? '' },
  );
}

function streamSink(nodeId: string, shard: number, prevKv: boolean, call: ServerStreamCall) {
  const send = (index: number, events: WatchEvent[]): boolean =>
    call.write(frameOf(WatchResponse.encode({ shard, index: BigInt(index), events, nodeId }).finish()));
  return {
    entry: (index: number, changes: readonly KvChange[]) =>
      send(
        index,
        changes.map((c) => ({
          type: c.type === 'put' ? WatchEvent_Type.PUT : WatchEvent_Type.DELETE,
          key: c.key,
          value: c.value,
          prevKv:
            prevKv && c.prev !== undefined
              ? { key: c.key, value: c.prev.value, version: BigInt(c.prev.version) }
              : undefined,
        })),
      ),
    progress: (index: number) => send(index, []),
    end: (err: Error) => call.end(toGrpcError(err)),
  };
}
