// Snapshots at node level: a node that applied many entries takes snapshots and compacts its log,
// restarts into the exact same state (snapshot + WAL replay), and a node joining late catches up
// from a snapshot sent by the leader.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WatchRequest, WatchResponse } from '../gen/ringkv/v1/kv.ts';
import type { GroupView } from '../node/intents.ts';
import { MemoryStorage } from '../raft/index.ts';
import { dec } from './test-client.ts';
import { collectingCall, eventually, TestCluster } from './testing/harness.ts';
import { watchHandler } from './watch.ts';

/** Whether the group's latest snapshot's bytes are in memory (false: only in its file). */
function bytesHeld(g: GroupView): boolean {
  assert.ok(g.storage instanceof MemoryStorage);
  return g.storage.snapshotDataHeld();
}

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
    assert.equal(bytesHeld(g), false, "the snapshot's bytes are in its file, not in memory");
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
    for (const id of [1, 2])
      assert.equal(bytesHeld(c.node('a').node.group(id)), false, `group ${id} recovered`);
  });

  it('replays a watch from a snapshot whose bytes are in its file, read back for it', async () => {
    const a = c.node('a').node;
    const r = await c.client('a').put('k002', 'watched');
    const shard = r.header!.shardId;
    const g = a.group(shard);
    assert.ok(
      g.snapshotIndex < r.version,
      `the write at ${r.version} is after the snapshot at ${g.snapshotIndex}`,
    );
    assert.equal(bytesHeld(g), false);
    const { call, frames, ended } = collectingCall();
    const req = WatchRequest.encode(
      WatchRequest.fromPartial({ key: Buffer.from('k002'), fromIndex: BigInt(r.version) }),
    ).finish();
    watchHandler(a)(req, call);
    await eventually(() => frames.length >= 2 || ended() !== undefined, 10_000, 'the backlog and a progress');
    assert.equal(ended(), undefined, `the watch ended: ${ended()?.details}`);
    const first = WatchResponse.decode(frames[0]!.subarray(5));
    assert.equal(first.index, BigInt(r.version));
    assert.deepEqual(
      first.events.map((e) => [dec(e.key), dec(e.value)]),
      [['k002', 'watched']],
    );
    assert.equal(bytesHeld(g), true, 'read back for the replay');
  });

  it('brings a late joiner up to date with a snapshot from the leader', async () => {
    // The leader's snapshot of group 1 (or 2, were 1 read back above) is in its file: read back to send.
    const sent = [1, 2].filter((id) => !bytesHeld(c.node('a').node.group(id)));
    assert.ok(sent.length > 0, 'a snapshot only in its file');
    await c.start({ nodeId: 'b', joinAddr: c.addr('a'), extra });
    const b = c.node('b').node;
    await eventually(
      () => b.group(1).applied >= c.node('a').node.group(1).applied - 5,
      10_000,
      'b to catch up',
    );
    for (const id of sent) {
      await eventually(
        () => b.group(id).applied >= c.node('a').node.group(id).applied - 5,
        10_000,
        `b to catch up in group ${id}`,
      );
      assert.ok(b.group(id).snapshotIndex > 0, `b installed a snapshot of group ${id}`);
      assert.equal(bytesHeld(b.group(id)), false, "b keeps the installed snapshot's bytes in its file");
    }
    assert.ok(b.group(1).snapshotIndex > 0, 'b installed a snapshot');
    const r = await c.client('b').get('k149', true);
    assert.equal(dec(r.value), 'v149');
    const st = await c.client('a').status();
    for (const s of st.shards) assert.deepEqual([...s.voters].sort(), ['a', 'b'], `group ${s.shardId}`);
  });
});
