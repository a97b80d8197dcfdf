// Snapshots at node level: a node that applied many entries takes snapshots and compacts its log,
// restarts into the exact same state (snapshot + WAL replay), and a node joining late catches up
// from a snapshot sent by the leader.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dec } from './test-client.ts';
import { eventually, TestCluster } from './testing/harness.ts';

describe('snapshots and compaction', { timeout: 60_000 }, () => {
  const c = new TestCluster();
  const extra = { shardCount: 2, snapshotEveryEntries: 40, retainEntries: 5 };
  const KEYS = 150;

  before(async () => {
    await c.init();
    await c.start({ nodeId: 'a', bootstrap: true, extra });
  });
  after(() => c.stopAll());

  it('takes snapshot files and compacts the log as entries are applied', async () => {
    const cl = c.client('a');
    for (let i = 0; i < KEYS; i++) await cl.put(`k${String(i).padStart(3, '0')}`, `v${i}`);
    await cl.put('k000', 'overwritten');
    await cl.del('k001');
    const files = await readdir(join(c.dirOf('a'), 'snap'));
    assert.ok(files.filter((f) => f.endsWith('.snap')).length >= 2, `snapshot files: ${files.join(', ')}`);
    const g = c.node('a').node.group(1);
    assert.ok(g.snapshotIndex > 0);
    assert.ok(g.storage.firstIndex() > 1, `log compacted: first index ${g.storage.firstIndex()}`);
  });

  it('restarts into exactly the same state', async () => {
    const before = await c.client('a').scan({ limit: 1000 });
    await c.stop('a');
    await c.start({ nodeId: 'a', bootstrap: true, extra });
    const after = await c.client('a').scan({ limit: 1000 });
    assert.equal(after.items.length, KEYS - 1);
    assert.deepEqual(
      after.items.map((i) => [dec(i.key), dec(i.value), i.version]),
      before.items.map((i) => [dec(i.key), dec(i.value), i.version]),
    );
    assert.equal(dec((await c.client('a').get('k000')).value), 'overwritten');
  });

  it('brings a late joiner up to date with a snapshot from the leader', async () => {
    await c.start({ nodeId: 'b', joinAddr: c.addr('a'), extra });
    const b = c.node('b').node;
    await eventually(
      () => b.group(1).applied >= c.node('a').node.group(1).applied - 5,
      10_000,
      'b to catch up',
    );
    assert.ok(b.group(1).snapshotIndex > 0, 'b installed a snapshot');
    const r = await c.client('b').get('k149', true);
    assert.equal(dec(r.value), 'v149');
    const st = await c.client('a').status();
    for (const s of st.shards) assert.deepEqual([...s.voters].sort(), ['a', 'b'], `group ${s.shardId}`);
  });
});
