// Lease expiry on real in-process nodes (testing/test-cluster.ts, real time, generous margins): a
// leadership change halfway to the deadline extends the lease by one TTL from the new leader's
// election instead of expiring it at the old deadline; nobody keeping it alive, it then goes on every
// replica.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { nodeId } from '../../raft/types.ts';
import { MemoryNetwork } from '../../transport/memory-transport.ts';
import { groupId } from '../ids.ts';
import { read, write } from '../requests.ts';
import { sleep, TestCluster, type TestNode, waitUntil } from '../testing/test-cluster.ts';

const SHARD = 1;
const TTL_MS = 2000;
const ELECT_TIMEOUT_MS = 3000;
const enc = new TextEncoder();

async function holds(n: TestNode, key: string): Promise<boolean> {
  const r = await read(n.kv, SHARD, true, Date.now() + 1000, (m) => m.state.get(enc.encode(key)));
  return r.value !== undefined;
}

it('a leader change before the deadline extends the lease by one TTL; then it expires everywhere', {
  timeout: 30_000,
}, async () => {
  const cluster = await TestCluster.start(new MemoryNetwork(), {
    nodeIds: ['a', 'b', 'c'],
    tickMs: 20,
    electionTick: 10,
  });
  try {
    const a = await cluster.elect('a', SHARD, ELECT_TIMEOUT_MS);
    const deadlineMs = Date.now() + 4000;
    const t0 = Date.now();
    const g = await write(a.kv, SHARD, { op: 'leaseGrant', ttlMs: TTL_MS }, deadlineMs);
    const lease = g.result.lease;
    const key = enc.encode('k');
    const p = await write(a.kv, SHARD, { op: 'put', key, value: enc.encode('v'), lease }, deadlineMs);
    assert.equal(p.result.refused, undefined);
    await sleep(TTL_MS / 2);
    a.kv.transferLeadership(groupId(SHARD), nodeId('b'));
    const b = await cluster.leaderAmong(['b'], SHARD, ELECT_TIMEOUT_MS);
    // Past the old leader's deadline (t0 + TTL) by more than a check round and a commit.
    await sleep(Math.max(0, t0 + TTL_MS + 600 - Date.now()));
    assert.equal(await holds(b, 'k'), true, 'the new leader extended the lease instead of expiring it');
    const left = b.kv.leaseTimeToLive(SHARD, lease);
    assert.ok(left !== undefined && left.remainingMs > 0, `remaining ${left?.remainingMs} ms`);
    assert.deepEqual(left.keys, ['k']);
    assert.throws(() => a.kv.leaseKeepAlive(SHARD, lease), /does not lead shard 1/);
    // Nobody keeps it alive: it goes one TTL after the election, on every replica.
    const gone = async (): Promise<boolean> => {
      for (const n of cluster.nodes) if (await holds(n, 'k')) return false;
      return true;
    };
    let done = false;
    const poll = async (): Promise<void> => {
      while (!done) {
        done = await gone();
        if (!done) await sleep(50);
      }
    };
    const polling = poll();
    await waitUntil(() => done, 3 * TTL_MS, 'the lease to expire on every replica').finally(() => {
      done = true;
    });
    await polling;
  } finally {
    await cluster.close();
  }
});
