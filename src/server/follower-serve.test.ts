// KVService's handlers on a node that holds a voter's replica of the key's shard but does not lead
// it: Put, Delete, CompareAndSwap and a linearizable Get are served there, not forwarded by gRPC.
// The node's core carries the proposal (and the ReadIndex request) to the leader inside the Raft
// stream; the answer leaves once this replica has applied the entry (or the read index). Forwarding
// by gRPC is left to a node that holds no replica the table places there (it passes the request
// to a voter). And when the leader is known unreachable, the request is refused retry-safe before
// anything is proposed.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { KvNode } from '../node/node.ts';
import type { TestNode } from '../node/testing/test-cluster.ts';
import { TestCluster, waitUntil } from '../node/testing/test-cluster.ts';
import type { Message } from '../raft/types.ts';
import { WHOLE_KEY_HASHING } from '../ring/slots.ts';
import { MemoryNetwork } from '../transport/memory-transport.ts';
import { RETRY_SAFE_KEY, toGrpcError } from './errors.ts';
import { KV_HANDLERS } from './kv-handlers.ts';
import type { KvForwardable, KvMethod, KvPeers } from './kv-peers.ts';
import { type KvContext, ReplicaTurns, routeTo } from './routing.ts';

const SHARD = 1;
const enc = new TextEncoder();
const dec = new TextDecoder();
const key = enc.encode('k');

/** KvPeers that count (and refuse) every gRPC forward. */
class CountingPeers implements KvPeers {
  readonly forwards: { addr: string; method: KvMethod }[] = [];
  forward<M extends KvMethod>(addr: string, method: M): Promise<KvForwardable[M][1]> {
    this.forwards.push({ addr, method });
    return Promise.reject(new Error(`forwarded ${method} to ${addr} by gRPC`));
  }
  isUnreachable(): boolean {
    return false;
  }
}

/**
 * A context over `node`, which knows its peers' client addresses as `test://<id>` (this test
 * cluster keeps no member table, so the node itself knows none: a server's routing would then never
 * see a leader's address to forward to, and this test could not tell serving from forwarding).
 */
function contextOf(
  node: KvNode,
  overrides: Record<string, unknown> = {},
): { ctx: KvContext; peers: CountingPeers } {
  const peers = new CountingPeers();
  const leaderAddr = (groupId: number): string => {
    const leader = node.group(groupId).leader;
    return leader === '' ? '' : `test://${leader}`;
  };
  const known = new Proxy(node, {
    get(target, prop, receiver) {
      if (prop in overrides) return overrides[prop as string];
      if (prop === 'leaderAddr') return leaderAddr;
      // The test cluster's nodes hold no shard table: keys hash whole, as in a cluster from before
      // hash tags.
      if (prop === 'keyHashing') return WHOLE_KEY_HASHING;
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { ctx: { node: known, peers, turns: new ReplicaTurns() }, peers };
}

/** The message types `n` sends for the shard from now on. */
function sentTypes(n: TestNode): Message['type'][] {
  const types: Message['type'][] = [];
  const send = n.transport.send.bind(n.transport);
  n.transport.send = (groupId, m) => {
    if (groupId === SHARD) types.push(m.type);
    send(groupId, m);
  };
  return types;
}

async function threeNodes(): Promise<TestCluster> {
  // Ticks of 20 ms, elections after 10–20 of them without a leader: 200–400 ms.
  return TestCluster.start(new MemoryNetwork(), { nodeIds: ['a', 'b', 'c'], tickMs: 20, electionTick: 10 });
}

const deadline = (): number => Date.now() + 3000;

it('a follower serves put, get, compare-and-swap and delete itself: no gRPC forward, the Raft stream carries them', async () => {
  const cluster = await threeNodes();
  try {
    const a = await cluster.elect('a', SHARD, 3000);
    const b = cluster.node('b');
    const { ctx, peers } = contextOf(b.kv);
    const types = sentTypes(b);

    const put = await KV_HANDLERS.put(
      ctx,
      { key, value: enc.encode('v1'), shardEpoch: 0n, lease: 0n },
      deadline(),
      false,
    );
    assert.equal(put.header?.nodeId, 'b');
    assert.equal(put.header?.leaderAddr, 'test://a');
    assert.equal(put.header?.term, BigInt(a.group(SHARD).term));
    assert.equal(put.version, put.header?.index, "a put's version is the index of its entry");
    assert.ok(BigInt(b.group(SHARD).applied) >= put.version, 'answered once applied on the follower');

    // A write acknowledged by the leader, then a linearizable read at the follower: it must see it.
    const { ctx: atLeader } = contextOf(a.kv);
    const put2 = await KV_HANDLERS.put(
      atLeader,
      { key, value: enc.encode('v2'), shardEpoch: 0n, lease: 0n },
      deadline(),
      false,
    );
    const got = await KV_HANDLERS.get(ctx, { key, serializable: false, shardEpoch: 0n }, deadline(), false);
    assert.equal(dec.decode(got.value), 'v2');
    assert.equal(got.version, put2.version);
    assert.ok((got.header?.index ?? 0n) >= put2.version, 'served at an applied index at or past the write');

    const cas = await KV_HANDLERS.compareAndSwap(
      ctx,
      {
        key,
        expected: { $case: 'expectedVersion', value: put2.version },
        value: enc.encode('v3'),
        delete: false,
        shardEpoch: 0n,
      },
      deadline(),
      false,
    );
    assert.equal(cas.succeeded, true);
    assert.equal(cas.version, cas.header?.index);
    const del = await KV_HANDLERS.delete(ctx, { key, shardEpoch: 0n }, deadline(), false);
    assert.equal(del.deleted, true);

    assert.deepEqual(peers.forwards, [], 'nothing forwarded by gRPC');
    assert.ok(types.includes('prop'), `proposals went to the leader in the Raft stream (${types.join(' ')})`);
    assert.ok(types.includes('readIndex'), 'and the read index was asked for there');
    for (const n of cluster.nodes) assert.deepEqual(n.fatalErrors, []);
  } finally {
    await cluster.close();
  }
});

it('a node whose replica is no voter in the shard table (a learner, or stale) passes the request to a voter', async () => {
  const cluster = await threeNodes();
  try {
    await cluster.elect('a', SHARD, 3000);
    // b as a learner of the table: its replica serves nothing, a voter does.
    const { ctx, peers } = contextOf(cluster.node('b').kv, {
      placedHere: () => false,
      replicaAddrs: () => ['test://c'],
    });
    await assert.rejects(
      KV_HANDLERS.get(ctx, { key, serializable: false, shardEpoch: 0n }, deadline(), false),
      /forwarded get to test:\/\/c by gRPC/,
    );
    await assert.rejects(
      KV_HANDLERS.get(ctx, { key, serializable: true, shardEpoch: 0n }, deadline(), false),
      /forwarded get to test:\/\/c by gRPC/,
    );
    assert.deepEqual(peers.forwards, [
      { addr: 'test://c', method: 'get' },
      { addr: 'test://c', method: 'get' },
    ]);
  } finally {
    await cluster.close();
  }
});

it('a follower whose leader was reported unreachable refuses retry-safe, and its lost proposal still lands once', async () => {
  const cluster = await threeNodes();
  try {
    const a = await cluster.elect('a', SHARD, 3000);
    const b = cluster.node('b');
    const { ctx, peers } = contextOf(b.kv);
    await a.close();
    // The proposal is lost with the leader; the transport reports it unreachable.
    const first = KV_HANDLERS.put(
      ctx,
      { key, value: enc.encode('v'), shardEpoch: 0n, lease: 0n },
      deadline(),
      false,
    );
    await waitUntil(() => b.kv.leaderUnreachable(SHARD), 1000, 'the leader reported unreachable');
    const refused = await (async () => routeTo(ctx, SHARD, false, deadline()))().then(
      () => assert.fail('routed to the unreachable leader'),
      (e: unknown) => toGrpcError(e),
    );
    assert.equal(refused.code, 14);
    assert.equal(refused.trailers[RETRY_SAFE_KEY], '1');
    assert.match(refused.details, /cannot be reached/);
    // A new leader is elected; the lost proposal is proposed again there (its term changed) and
    // answered, applied once.
    const put = await first;
    const fresh = await cluster.leaderAmong(['b', 'c'], SHARD, 3000);
    assert.ok(put.header !== undefined && put.header.term > 1n);
    const got = await KV_HANDLERS.get(
      contextOf(fresh.kv).ctx,
      { key, serializable: false, shardEpoch: 0n },
      deadline(),
      false,
    );
    assert.equal(got.version, put.version);
    assert.deepEqual(peers.forwards, []);
  } finally {
    await cluster.close();
  }
});
