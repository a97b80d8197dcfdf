// The snapshot store on SimFileSystem: a saved snapshot survives any crash whole; a crash in the
// middle of a save leaves the old set of files or the new one, never a damaged file under its name.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Snapshot } from '../raft/types.ts';
import { index, nodeId, term } from '../raft/types.ts';
import { SimFileSystem } from './sim-file-system.ts';
import { SnapshotStore } from './snapshots.ts';
import { KEEP_NONE, seededRng } from './test-helpers.ts';

const DIR = '/data/snap';
const CRASH_SEEDS = 64;
/** Enough steps to cover a whole save (open, write, datasync, close, rename, fsync) on the simulated disk. */
const SAVE_TICKS_MAX = 40;

function snap(i: number, bytes = 3000): Snapshot {
  return {
    metadata: {
      index: index(i),
      term: term(1),
      confState: {
        voters: [nodeId('a')],
        votersOutgoing: [],
        learners: [],
        learnersNext: [],
        autoLeave: false,
      },
    },
    data: Buffer.alloc(bytes, i & 0xff),
  };
}

test('a saved snapshot survives a crash whole, whatever else the crash keeps', async () => {
  for (let seed = 0; seed < CRASH_SEEDS; seed++) {
    const disk = new SimFileSystem({ capacityBytes: 1 << 20 });
    const store = await SnapshotStore.open(DIR, disk.mount());
    await store.save(1, snap(10));
    disk.crash(seed === 0 ? KEEP_NONE : seededRng(seed));
    const reopened = await SnapshotStore.open(DIR, disk.mount());
    assert.deepEqual(reopened.indexes(1), [10], `seed ${seed}`);
    assert.deepEqual(Buffer.from((await reopened.load(1, 10)).data), snap(10).data, `seed ${seed}`);
  }
});

test('a crash during a save leaves the older snapshot and maybe the new one whole, and no temporary file', async () => {
  const outcomes = new Set<string>();
  for (let ticks = 0; ticks <= SAVE_TICKS_MAX; ticks++) {
    for (let seed = 0; seed < 4; seed++) {
      const disk = new SimFileSystem({ capacityBytes: 1 << 20 });
      const store = await SnapshotStore.open(DIR, disk.mount());
      await store.save(1, snap(10));
      const saving = store.save(1, snap(20)).catch(() => {});
      for (let i = 0; i < ticks; i++) await Promise.resolve();
      disk.crash(seededRng(seed));
      await saving;
      const fs = disk.mount();
      const reopened = await SnapshotStore.open(DIR, fs);
      const kept = reopened.indexes(1);
      assert.ok(kept[0] === 10 && kept.length <= 2 && (kept[1] ?? 20) === 20, `ticks ${ticks}: [${kept}]`);
      for (const i of kept) assert.deepEqual(Buffer.from((await reopened.load(1, i)).data), snap(i).data);
      assert.deepEqual(
        (await fs.readdir(DIR)).filter((n) => n.endsWith('.tmp')),
        [],
        'open removes a temporary file',
      );
      outcomes.add(kept.join(','));
    }
  }
  assert.deepEqual([...outcomes].sort(), ['10', '10,20'], 'crashes both before and after the save took');
});
