// A tombstone replaces a dropped replica durably, in the order that keeps the data directory
// startable after a crash or a failed write at any step: the marker the WAL holds always names a
// snapshot file that exists. (Found by `ringkv sim --real --nodes 4`, seed 31: the older files were
// deleted first, the tombstone's write failed with EIO, and the node could not start again.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { index, nodeId, term } from '../raft/types.ts';
import { SimFileSystem } from '../storage/sim-file-system.ts';
import { SnapshotStore } from '../storage/snapshots.ts';
import { KEEP_NONE, makeEntries } from '../storage/test-helpers.ts';
import { Wal } from '../storage/wal.ts';
import { writeTombstone } from './tombstone.ts';

const GROUP = 2;
const VOTERS = {
  voters: [nodeId('n1')],
  votersOutgoing: [],
  learners: [],
  learnersNext: [],
  autoLeave: false,
};

/** A replica of GROUP with entries 1..5 and a snapshot at 3 (file, marker, sync, release: as the driver takes one). */
async function replica(disk: SimFileSystem): Promise<{ wal: Wal; snapshots: SnapshotStore }> {
  const fs = disk.mount();
  const { wal } = await Wal.open({ fs, dir: '/data/wal', segmentBytes: 64 * 1024 });
  const snapshots = await SnapshotStore.open('/data/snap', fs);
  wal.appendEntries(GROUP, makeEntries(1, 5, 1));
  await wal.sync();
  await snapshots.save(GROUP, {
    metadata: { index: index(3), term: term(1), confState: VOTERS },
    data: new Uint8Array([1]),
  });
  wal.appendSnapshotMarker(GROUP, index(3), term(1), false);
  await wal.sync();
  await snapshots.release(GROUP, 3);
  return { wal, snapshots };
}

/** After a crash: the group's durable marker and whether the file it names is there. */
async function afterCrash(disk: SimFileSystem): Promise<{ marker: number; term: number; files: number[] }> {
  disk.crash(KEEP_NONE);
  const fs = disk.mount();
  const { wal, recovered } = await Wal.open({ fs, dir: '/data/wal', segmentBytes: 64 * 1024 });
  const snapshots = await SnapshotStore.open('/data/snap', fs);
  const marker = recovered.get(GROUP)?.snapshot;
  await snapshots.discardNewerThan(GROUP, marker?.index ?? 0);
  await wal.close();
  return { marker: marker?.index ?? 0, term: marker?.term ?? -1, files: snapshots.indexes(GROUP) };
}

test('a tombstone past the last index replaces the log and then the older snapshot files', async () => {
  const disk = new SimFileSystem({ capacityBytes: 1 << 20 });
  const { wal, snapshots } = await replica(disk);
  assert.equal(await writeTombstone({ wal, snapshots }, GROUP, 5), 6);
  assert.deepEqual(snapshots.indexes(GROUP), [6]);
  assert.deepEqual(await afterCrash(disk), { marker: 6, term: 0, files: [6] });
});

test('a tombstone whose write fails leaves the replica as it was: the durable marker still names its file', async () => {
  const disk = new SimFileSystem({ capacityBytes: 1 << 20 });
  const { wal, snapshots } = await replica(disk);
  disk.failNext({ op: 'write', path: /\/snap\/.*\.tmp$/, code: 'EIO' });
  await assert.rejects(writeTombstone({ wal, snapshots }, GROUP, 5), /EIO/);
  assert.deepEqual(await afterCrash(disk), { marker: 3, term: 1, files: [3] });
});

test('a crash after the tombstone file, before its marker is durable, leaves the replica as it was', async () => {
  const disk = new SimFileSystem({ capacityBytes: 1 << 20 });
  const { wal, snapshots } = await replica(disk);
  disk.failNext({ op: 'write', path: /\.wal$/, code: 'EIO' });
  await assert.rejects(writeTombstone({ wal, snapshots }, GROUP, 3));
  assert.deepEqual(await afterCrash(disk), { marker: 3, term: 1, files: [3] });
});
