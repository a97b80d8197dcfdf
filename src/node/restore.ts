// The data directory of the first node of a cluster restored from a backup (`ringkv snapshot
// restore`): what `serve --bootstrap` would have written, except that each data shard starts from its
// backed-up state instead of an empty log. Per data shard: a snapshot file at the shard's backed-up
// applied index I (term 1, this node its only voter, the state-machine bytes from the backup), the
// WAL marker naming it (a snapshot installed: the log before it is gone) and the hard state
// {term 1, commit I}; the metadata group gets the bootstrap log of a new cluster (recovery.ts). So
// the node's normal recovery (recoverGroup) reads it like any data directory whose log was compacted,
// the keys keep their versions, the shards' logs go on at I + 1, and a node that joins later gets
// each shard by snapshot from its leader.
//
// Written into an empty directory that the caller makes visible under its real name only once this
// resolves (a staging directory renamed into place): a failed restore never leaves a directory that
// `serve` would take for a node.
import { join } from 'node:path';
import type { ConfState, HardState, NodeId } from '../raft/types.ts';
import { index, NO_NODE, term } from '../raft/types.ts';
import { SLOT_COUNT, slotRange } from '../ring/slots.ts';
import type { FileSystem } from '../storage/file-system.ts';
import { REAL_FILE_SYSTEM } from '../storage/real-file-system.ts';
import { SnapshotStore } from '../storage/snapshots.ts';
import { Wal } from '../storage/wal.ts';
import { assert } from './assert.ts';
import { UsageError } from './errors.ts';
import { writeIdentity } from './identity.ts';
import { METADATA_GROUP } from './ids.ts';
import { KvMachine } from './kv-machine.ts';
import { type BootstrapPlan, bootstrapLog } from './recovery.ts';

/** One data shard as the backup holds it. */
export interface RestoredShard {
  /** The shard's applied index when it was backed up (at least 1: a shard's log starts with its first member). */
  readonly appliedIndex: number;
  /** Its state machine's snapshot bytes (src/storage/kv-state.ts). */
  readonly data: Uint8Array;
}

export interface RestorePlan extends BootstrapPlan {
  /** Default: the disk. */
  readonly fs?: FileSystem;
  /** An empty directory: the data directory to be. */
  readonly dir: string;
  readonly walSegmentBytes: number;
  /** The backup's slot layout: SLOT_COUNT and each shard's slots, as this build places them. */
  readonly slotCount: number;
  readonly slots: readonly { readonly first: number; readonly last: number }[];
  /** Shard `s` (1..shardCount) of the backup, asked for one at a time, in order. */
  readonly shard: (s: number) => Promise<RestoredShard>;
}

/** Term of the restored shards' snapshots and hard states: the bootstrap's, as in a new cluster. */
const RESTORE_TERM = term(1);

/** Writes the data directory; returns the keys restored per shard. UsageError when a shard's bytes are unusable. */
export async function writeRestoredDataDir(plan: RestorePlan): Promise<number[]> {
  const { fs = REAL_FILE_SYSTEM, dir } = plan;
  checkSlots(plan);
  const existing = await fs.readdir(dir);
  assert(existing.length === 0, `restore into ${dir}, which holds ${existing.join(', ')}`);
  const snapshots = await SnapshotStore.open(join(dir, 'snap'), fs);
  const { wal } = await Wal.open({ dir: join(dir, 'wal'), segmentBytes: plan.walSegmentBytes, fs });
  const keys: number[] = [];
  try {
    const meta = bootstrapLog(METADATA_GROUP, plan);
    wal.appendEntries(METADATA_GROUP, meta.entries);
    wal.appendHardState(METADATA_GROUP, meta.hardState);
    const confState: ConfState = {
      voters: [plan.self.nodeId as NodeId],
      votersOutgoing: [],
      learners: [],
      learnersNext: [],
      autoLeave: false,
    };
    for (let s = 1; s <= plan.shardCount; s++) {
      const { appliedIndex, data } = await plan.shard(s);
      keys.push(checkShard(s, appliedIndex, data));
      const at = index(appliedIndex);
      await snapshots.save(s, { metadata: { index: at, term: RESTORE_TERM, confState }, data });
      // The snapshot file is durable (save fsyncs it and the directory) before its marker is written.
      wal.appendSnapshotMarker(s, at, RESTORE_TERM, true);
      const hardState: HardState = { term: RESTORE_TERM, vote: NO_NODE, commit: at };
      wal.appendHardState(s, hardState);
      await wal.sync();
    }
    await wal.sync();
  } finally {
    await wal.close();
  }
  await writeIdentity(fs, dir, {
    version: 1,
    nodeId: plan.self.nodeId,
    clusterId: plan.clusterId,
    shardCount: plan.shardCount,
    state: 'bootstrapped',
  });
  await fs.syncPath(dir);
  return keys;
}

/** Keys must land in the shard that holds them: the backup's slots are the ones this build computes. */
function checkSlots(plan: RestorePlan): void {
  if (plan.slotCount !== SLOT_COUNT)
    throw new UsageError(`the backup hashes keys to ${plan.slotCount} slots; this ringkv uses ${SLOT_COUNT}`);
  if (plan.slots.length !== plan.shardCount)
    throw new UsageError(
      `the backup has slot ranges for ${plan.slots.length} of its ${plan.shardCount} shards`,
    );
  plan.slots.forEach((got, i) => {
    const want = slotRange(i + 1, plan.shardCount);
    if (got.first !== want.first || got.last !== want.last) {
      throw new UsageError(
        `shard ${i + 1} of the backup holds slots ${got.first}-${got.last}; this ringkv places slots ${want.first}-${want.last} there`,
      );
    }
  });
}

/** Checks that the node will read the shard's bytes back; returns its key count. */
function checkShard(s: number, appliedIndex: number, data: Uint8Array): number {
  if (!Number.isSafeInteger(appliedIndex) || appliedIndex < 1)
    throw new UsageError(`shard ${s}: applied index ${appliedIndex} in the backup is not a log index`);
  const machine = new KvMachine();
  try {
    machine.restore(data);
  } catch (e) {
    throw new UsageError(
      `shard ${s}: its data in the backup is not a shard snapshot: ${(e as Error).message}`,
    );
  }
  if (machine.state.appliedIndex > appliedIndex) {
    throw new UsageError(
      `shard ${s}: its data was written at index ${machine.state.appliedIndex}, after the applied index ${appliedIndex} the backup records`,
    );
  }
  return machine.state.count;
}
