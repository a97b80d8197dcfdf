// A node restarts from what its disk holds, whatever that holds: here a metadata snapshot that names
// the shards it hosts, restored before the shards' own logs (a start once registered such a shard
// twice and failed: found by `ringkv sim --real`, seed 5100).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { World } from './world.ts';

test('a node restarts from a metadata snapshot that names its shards', async () => {
  const world = new World({
    seed: 1,
    nodes: 1,
    node: {
      shardCount: 2,
      tickMs: 100,
      electionTick: 10,
      // Every few entries a snapshot, so the metadata group restarts from one.
      snapshotEveryEntries: 2,
      retainEntries: 1,
      walSegmentBytes: 64 * 1024,
      balanceIntervalMs: 0,
    },
    diskLatency: { minMs: 0, maxMs: 2 },
    diskCapacityBytes: 64 * 1024 * 1024,
    diskTearing: 'prefix',
    keepTrace: true,
  });
  const [n1] = world.machines;
  assert.ok(n1 !== undefined);
  const first = n1.start();
  // The metadata group snapshotted after it recorded the shard table (its later entries).
  const snapshotted = (): boolean =>
    first.joined && first.kv.statuses().every((s) => s.leader !== '') && first.kv.group(0).snapshotIndex >= 2;
  assert.ok(await world.runUntil(snapshotted, 30_000), 'the metadata group led and snapshotted');
  world.crash(n1);
  const second = n1.start();
  await world.runUntil(() => second.joined, world.nowMs() + 30_000);
  assert.equal(world.violation, undefined, world.trace.recent(10).join('\n'));
  assert.ok(second.joined, 'the restarted node runs');
  assert.deepEqual(
    second.kv.statuses().map((s) => s.id),
    [0, 1, 2],
  );
});
