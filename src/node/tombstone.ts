// A deleted shard replica's tombstone: an empty snapshot of term 0 (which no leader's log matches)
// and its WAL marker, which replace the replica's log, so that the WAL's segments are no longer
// retained for it and a restart does not host it again (node.ts isTombstone). Written in the order
// every snapshot is (src/storage/README.md, "Snapshot marker order"): the file durably first, then
// its marker, synced, and only then do the replica's older files go. A crash anywhere in between
// leaves a data directory that recovers the replica as it was before the drop (recovery deletes a
// file newer than the durable marker), which the node then drops again; deleting the older files
// first left a durable marker naming a file that no longer existed, and the node could not start
// (found by `ringkv sim --real --nodes 4`, seed 31: an EIO on the tombstone's write).
import { EMPTY_CONF_STATE } from '../raft/index.ts';
import type { Index } from '../raft/types.ts';
import { index, term } from '../raft/types.ts';
import type { SnapshotStore } from '../storage/snapshots.ts';
import type { Wal } from '../storage/wal.ts';
import { assert } from './assert.ts';

/** What writing a tombstone needs of the node's log and snapshot store. */
export interface TombstoneStores {
  readonly wal: Pick<Wal, 'appendSnapshotMarker' | 'sync'>;
  readonly snapshots: Pick<SnapshotStore, 'save' | 'release' | 'indexes'>;
}

/**
 * Replaces `group`'s log (entries up to `lastIndex`) and snapshots with a tombstone, durably; returns
 * its index: one past everything the replica held, so that its file never takes the name of the file
 * the durable marker names until its own marker is durable.
 */
export async function writeTombstone(s: TombstoneStores, group: number, lastIndex: number): Promise<Index> {
  assert(
    Number.isSafeInteger(lastIndex) && lastIndex >= 0,
    () => `tombstone of group ${group} after index ${lastIndex}`,
  );
  const at = index(Math.max(lastIndex, ...s.snapshots.indexes(group)) + 1);
  await s.snapshots.save(group, {
    metadata: { index: at, term: term(0), confState: EMPTY_CONF_STATE },
    data: new Uint8Array(0),
  });
  s.wal.appendSnapshotMarker(group, at, term(0), true);
  await s.wal.sync();
  await s.snapshots.release(group, at);
  return at;
}
