// Rebuilding every group from disk at start, and the first write of a brand-new cluster.
// Recovery: each group's latest snapshot (named by its WAL marker) → MemoryStorage and state
// machine; then the WAL's entries after it and its hard state. Raft re-delivers the committed
// entries after the snapshot, which the driver applies again: the state is exactly what it was.
// Bootstrap: like etcd, the first member's own addition is the first entry of every group's log
// (a configuration change at index 1, term 1, committed), so that a node joining later learns the
// initial membership from the log itself; the metadata group also gets the cluster's `init` command.
import { encodeConfChange, MemoryStorage } from '../raft/index.ts';
import type { Entry, HardState, Index, NodeId, Snapshot } from '../raft/types.ts';
import { index, NO_NODE, term } from '../raft/types.ts';
import type { SnapshotStore } from '../storage/snapshots.ts';
import type { RecoveredGroup, Wal } from '../storage/wal.ts';
import { METADATA_GROUP } from './ids.ts';
import type { LeaderPlacement, MemberInfo } from './metadata.ts';
import { encodeMetadataCommand } from './metadata.ts';
import type { StateMachine } from './state-machine.ts';

export interface RecoveredStorage {
  readonly storage: MemoryStorage;
  readonly applied: Index;
}

/**
 * One group's MemoryStorage and state machine as of its snapshot, with the WAL's log after it.
 * `loading`: the snapshot file its WAL marker names, already being read (SnapshotPrefetch).
 */
export async function recoverGroup(
  groupId: number,
  rec: RecoveredGroup | undefined,
  snapshots: SnapshotStore,
  machine: StateMachine,
  loading?: Promise<Snapshot>,
): Promise<RecoveredStorage> {
  const storage = new MemoryStorage();
  let applied = index(0);
  await snapshots.discardNewerThan(groupId, rec?.snapshot?.index ?? 0);
  if (rec?.snapshot !== undefined && rec.snapshot.index > 0) {
    const snap = await (loading ?? snapshots.load(groupId, rec.snapshot.index));
    if (snap.metadata.term !== rec.snapshot.term) {
      throw new Error(
        `group ${groupId}: snapshot file at index ${snap.metadata.index} has term ${snap.metadata.term}, the WAL marker says ${rec.snapshot.term}`,
      );
    }
    storage.applySnapshot(snap);
    machine.restore(snap.data);
    applied = snap.metadata.index;
  } else {
    machine.restore(new Uint8Array(0));
  }
  if (rec !== undefined) {
    storage.append(rec.entries);
    if (rec.hardState !== undefined) storage.setHardState(rec.hardState);
  }
  return { storage, applied };
}

/**
 * Reads the snapshot files of the groups recovery rebuilds one group ahead: the next group's file is
 * read (on libuv's threads) while the state of this one is rebuilt from its own on the main thread.
 * At most two groups' snapshots are in memory at a time: the one being restored and the next.
 */
export class SnapshotPrefetch {
  private readonly snapshots: Pick<SnapshotStore, 'load'>;
  private readonly order: readonly number[];
  private readonly recovered: ReadonlyMap<number, RecoveredGroup>;
  /** The read of order[position]'s snapshot, if started and not yet taken. */
  private ahead: { readonly position: number; readonly read: Promise<Snapshot> } | undefined;

  /** `order`: the groups in the order recovery takes them; `recovered`: their WAL records. */
  constructor(
    snapshots: Pick<SnapshotStore, 'load'>,
    order: readonly number[],
    recovered: ReadonlyMap<number, RecoveredGroup>,
  ) {
    this.snapshots = snapshots;
    this.order = order;
    this.recovered = recovered;
  }

  /**
   * The snapshot of order[position] (undefined when its WAL names none), and the next group's read
   * started. Called with position 0, 1, 2, … in turn.
   */
  take(position: number): Promise<Snapshot> | undefined {
    const read = this.ahead?.position === position ? this.ahead.read : this.start(position);
    const next = this.start(position + 1);
    // Its failure is reported when it is taken; until then it must not count as unhandled.
    next?.catch(() => {});
    this.ahead = next === undefined ? undefined : { position: position + 1, read: next };
    return read;
  }

  private start(position: number): Promise<Snapshot> | undefined {
    const id = this.order[position];
    const marker = id === undefined ? undefined : this.recovered.get(id)?.snapshot;
    if (id === undefined || marker === undefined || marker.index === 0) return undefined;
    return this.snapshots.load(id, marker.index);
  }
}

export interface BootstrapPlan {
  readonly clusterId: string;
  readonly shardCount: number;
  readonly leaderPlacement: LeaderPlacement;
  readonly replicationFactor: number;
  readonly deadNodeTimeoutMs: number;
  /** Keys hash by their `{tag}` (src/ring/slots.ts): a new cluster's do; a restored one keeps its backup's rule. */
  readonly hashTags: boolean;
  /** The first member (its zone included). */
  readonly self: MemberInfo;
}

/** The first entries of one group of a new cluster, committed: the first member's addition (and `init`). */
export function bootstrapLog(
  groupId: number,
  plan: BootstrapPlan,
): { entries: Entry[]; hardState: HardState } {
  const self = plan.self.nodeId as NodeId;
  const entries: Entry[] = [
    {
      term: term(1),
      index: index(1),
      type: 'confChange',
      data: encodeConfChange({ changes: [{ type: 'addVoter', nodeId: self }], transition: 'auto' }),
    },
  ];
  if (groupId === METADATA_GROUP) {
    const init = encodeMetadataCommand({
      requestId: 'bootstrap',
      op: 'init',
      clusterId: plan.clusterId,
      shardCount: plan.shardCount,
      member: plan.self,
      leaderPlacement: plan.leaderPlacement,
      replicationFactor: plan.replicationFactor,
      deadNodeTimeoutMs: plan.deadNodeTimeoutMs,
      hashTags: plan.hashTags,
    });
    entries.push({ term: term(1), index: index(2), type: 'normal', data: init });
  }
  return { entries, hardState: { term: term(1), vote: NO_NODE, commit: index(entries.length) } };
}

/** The log of every group of a new cluster, written durably to the WAL; returns what recovery would see. */
export async function writeBootstrap(wal: Wal, plan: BootstrapPlan): Promise<Map<number, RecoveredGroup>> {
  const out = new Map<number, RecoveredGroup>();
  for (let g: number = METADATA_GROUP; g <= plan.shardCount; g++) {
    const { entries, hardState } = bootstrapLog(g, plan);
    wal.appendEntries(g, entries);
    wal.appendHardState(g, hardState);
    out.set(g, { hardState, snapshot: undefined, entries });
  }
  await wal.sync();
  return out;
}
