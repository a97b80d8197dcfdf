// KVService's handlers at a node still joining: its client port is open before it has the cluster's
// metadata (run.ts listens, then completeJoin), so it knows no shard count. A keyed request there
// once failed INTERNAL ("shardCount must be an integer in [1, 4096], got 0"), which a client reads as
// "maybe": found by the simulator once its clients entered through these handlers (--nodes 4,
// seed 20). Now it is refused retry-safe, and nothing reaches the node or another one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KvNode } from '../node/node.ts';
import { RETRY_SAFE_KEY, toGrpcError } from './errors.ts';
import { KV_HANDLERS } from './kv-handlers.ts';
import type { KvPeers } from './kv-peers.ts';
import { type KvContext, ReplicaTurns } from './routing.ts';

/** A joining node: its limits and id, no shard count; anything else it is asked is a failure of the test. */
function joiningContext(): KvContext {
  const known = { shardCount: 0, opts: { nodeId: 'n4', maxKeyBytes: 4096, maxValueBytes: 1 << 20 } };
  const node = new Proxy(known, {
    get(target, prop) {
      if (prop in target) return target[prop as keyof typeof target];
      throw new Error(`the handler asked the joining node for ${String(prop)}`);
    },
  });
  const peers: KvPeers = {
    forward: () => Promise.reject(new Error('the handler forwarded the request')),
    isUnreachable: () => false,
  };
  return { node: node as unknown as KvNode, peers, turns: new ReplicaTurns() };
}

const key = new TextEncoder().encode('k1');
const value = new TextEncoder().encode('v');

const calls = {
  put: (c: KvContext, d: number) => KV_HANDLERS.put(c, { key, value, shardEpoch: 0n, lease: 0n }, d, false),
  get: (c: KvContext, d: number) =>
    KV_HANDLERS.get(c, { key, serializable: false, shardEpoch: 0n }, d, false),
  delete: (c: KvContext, d: number) => KV_HANDLERS.delete(c, { key, shardEpoch: 0n }, d, false),
  compareAndSwap: (c: KvContext, d: number) =>
    KV_HANDLERS.compareAndSwap(
      c,
      { key, expected: { $case: 'expectedAbsent', value: true }, value, delete: false, shardEpoch: 0n },
      d,
      false,
    ),
  txn: (c: KvContext, d: number) =>
    KV_HANDLERS.txn(
      c,
      {
        compares: [],
        success: [{ op: { $case: 'get', value: key }, lease: 0n }],
        failure: [],
        shardEpoch: 0n,
      },
      d,
      false,
    ),
  deleteRange: (c: KvContext, d: number) =>
    KV_HANDLERS.deleteRange(
      c,
      { prefix: key, start: new Uint8Array(0), end: new Uint8Array(0), shard: 1, shardEpoch: 0n },
      d,
      false,
    ),
};

for (const [method, call] of Object.entries(calls)) {
  test(`${method} at a node still joining is refused retry-safe (UNAVAILABLE), not INTERNAL`, async () => {
    const err = await call(joiningContext(), 1_000).then(
      () => assert.fail('a joining node answered'),
      (e: unknown) => e,
    );
    const g = toGrpcError(err);
    assert.equal(g.code, 14, `status ${g.code}: ${g.details}`);
    assert.equal(g.trailers[RETRY_SAFE_KEY], '1');
    assert.match(g.details, /n4 is still joining the cluster/);
  });
}
