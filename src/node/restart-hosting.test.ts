// A restart hosts the groups the node holds data of, not every shard 1..S: with more members than R
// a node holds only some shards, and an empty replica of another, hosted at every restart, was never
// dropped (its configuration never lists the node), so the shard table never looked settled (found by
// `ringkv sim --real --nodes 4`: a joiner restarted after its join hosted every shard).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REAL_FILE_SYSTEM } from '../storage/real-file-system.ts';
import { writeIdentity } from './identity.ts';
import { loneNode } from './testing/lone-node.ts';

test('a joined node restarted with no data of the shards hosts the metadata group only', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ringkv-restart-hosting-'));
  try {
    // A node that joined a cluster of 4 shards (its identity says so) and received none of them yet.
    await writeIdentity(REAL_FILE_SYSTEM, dir, {
      version: 1,
      nodeId: 'n4',
      clusterId: 'c0ffee0000000004',
      shardCount: 4,
      state: 'joined',
    });
    const node = loneNode({
      nodeId: 'n4',
      raftDir: dir,
      bootstrap: false,
      joinAddr: 'localhost:3',
      walSegmentBytes: 256 * 1024,
    });
    await node.start();
    try {
      assert.deepEqual(
        node.statuses().map((s) => s.id),
        [0],
      );
    } finally {
      await node.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
