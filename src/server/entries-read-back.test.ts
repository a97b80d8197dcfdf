// Applied entries let go from memory (entriesInMemory) at node level: a watch's backlog replays
// through them once they are read back from the WAL, and a node joining late is caught up from the
// leader's WAL (entries read back), not only from a snapshot.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WatchRequest, WatchResponse } from '../gen/ringkv/v1/kv.ts';
import { MemoryStorage } from '../raft/index.ts';
import { dec } from './test-client.ts';
import { collectingCall, eventually, TestCluster } from './testing/harness.ts';
import { watchHandler } from './watch.ts';

describe('applied entries kept in the WAL only', { timeout: 60_000 }, () => {
  const c = new TestCluster();
  // No snapshot but the initial one: every entry after it is in the log, most of them on disk only.
  const extra = { shardCount: 1, snapshotEveryEntries: 100_000, entriesInMemory: 4 };
  const KEYS = 60;
  let watchedAt = 0;

  before(async () => {
    await c.init();
    await c.start({ nodeId: 'a', bootstrap: true, extra });
    const cl = c.client('a');
    for (let i = 0; i < KEYS; i++) {
      const r = await cl.put(`k${String(i).padStart(3, '0')}`, `v${i}`);
      if (i === 5) watchedAt = Number(r.version);
    }
  });
  after(() => c.stopAll());

  it('lets go of applied entries behind the last few', () => {
    const g = c.node('a').node.group(1);
    assert.ok(g.storage instanceof MemoryStorage);
    const released = g.storage.releasedThrough();
    assert.ok(released > watchedAt, `released through ${released}, the watched write at ${watchedAt}`);
    assert.ok(g.storage.firstIndex() <= 2, `nothing compacted: first index ${g.storage.firstIndex()}`);
  });

  it('replays a watch whose backlog is in the WAL only', async () => {
    const a = c.node('a').node;
    const { call, frames, ended } = collectingCall();
    const req = WatchRequest.encode(
      WatchRequest.fromPartial({ key: Buffer.from('k005'), fromIndex: BigInt(watchedAt) }),
    ).finish();
    watchHandler(a)(req, call);
    await eventually(() => frames.length >= 2 || ended() !== undefined, 10_000, 'the backlog and a progress');
    assert.equal(ended(), undefined, `the watch ended: ${ended()?.details}`);
    const first = WatchResponse.decode(frames[0]!.subarray(5));
    assert.equal(first.index, BigInt(watchedAt));
    assert.deepEqual(
      first.events.map((e) => [dec(e.key), dec(e.value)]),
      [['k005', 'v5']],
    );
  });

  it('catches a late joiner up from the entries in the WAL', async () => {
    await c.start({ nodeId: 'b', joinAddr: c.addr('a'), extra });
    const a = c.node('a').node;
    const b = c.node('b').node;
    await eventually(() => b.group(1).applied >= a.group(1).applied, 15_000, 'b to catch up');
    assert.ok(b.group(1).snapshotIndex <= 1, 'b was sent no snapshot: entries only');
    for (const i of [0, 5, 31, KEYS - 1]) {
      const r = await c.client('b').get(`k${String(i).padStart(3, '0')}`, true);
      assert.equal(dec(r.value), `v${i}`);
    }
  });
});
