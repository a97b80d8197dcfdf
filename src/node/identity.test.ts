// The identity file on a simulated disk: once writeIdentity returns, a crash keeps it whole; a crash
// in the middle of a write leaves the old identity or the new one, never a torn or missing file.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SimFileSystem } from '../storage/sim-file-system.ts';
import { KEEP_NONE, seededRng } from '../storage/test-helpers.ts';
import { type NodeIdentity, readIdentity, writeIdentity } from './identity.ts';

const RAFT_DIR = '/data';
/** More steps than a whole writeIdentity takes on the simulated disk. */
const WRITE_TICKS_MAX = 30;

function identity(state: NodeIdentity['state']): NodeIdentity {
  return { version: 1, nodeId: 'n1', clusterId: 'c1', shardCount: 8, state };
}

test('a written identity survives a crash that keeps nothing unsynced', async () => {
  const disk = new SimFileSystem({ capacityBytes: 1 << 20 });
  const fs = disk.mount();
  await fs.mkdir(RAFT_DIR);
  await writeIdentity(fs, RAFT_DIR, identity('joining'));
  await writeIdentity(fs, RAFT_DIR, identity('joined'));
  disk.crash(KEEP_NONE);
  assert.deepEqual(await readIdentity(disk.mount(), RAFT_DIR), identity('joined'));
});

test('a crash during an identity write leaves the old one or the new one', async () => {
  const seen = new Set<string>();
  for (let ticks = 0; ticks <= WRITE_TICKS_MAX; ticks++) {
    for (let seed = 0; seed < 4; seed++) {
      const disk = new SimFileSystem({ capacityBytes: 1 << 20 });
      const fs = disk.mount();
      await fs.mkdir(RAFT_DIR);
      await writeIdentity(fs, RAFT_DIR, identity('bootstrapping'));
      const writing = writeIdentity(fs, RAFT_DIR, identity('bootstrapped')).catch(() => {});
      for (let i = 0; i < ticks; i++) await Promise.resolve();
      disk.crash(seededRng(seed));
      await writing;
      const state = (await readIdentity(disk.mount(), RAFT_DIR))?.state;
      assert.ok(
        state === 'bootstrapping' || state === 'bootstrapped',
        `ticks ${ticks}, seed ${seed}: ${state}`,
      );
      seen.add(state);
    }
  }
  assert.deepEqual(
    [...seen].sort(),
    ['bootstrapped', 'bootstrapping'],
    'crashes both before and after it took',
  );
});
