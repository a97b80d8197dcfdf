// A group's latest snapshot lives in its snapshot file, not in memory, once that file is written:
// the log storage lets the bytes go (MemoryStorage.releaseSnapshotData) and keeps the metadata.
// The bytes are needed again only to send the snapshot to a follower behind the compaction point
// (the core gets SnapshotTemporarilyUnavailableError from the storage and asks again at that
// follower's next heartbeat response) or to replay a watch from it. On such a request the file is
// read back, once per group at a time, and the storage holds the bytes for HOLD_MS, then lets them
// go again. A transfer under way holds its own reference, so letting go never cuts one short.
//
// Why: each snapshot is about the size of the group's data, so holding it doubled a replica's
// memory (and, outside the V8 heap, it drove major GCs by "external memory pressure").

import type { Index } from '../raft/types.ts';
import type { Clock, Timer } from './clock.ts';

/** How long bytes read back stay in memory: long enough for followers that need them together. */
export const SNAPSHOT_HOLD_MS = 10_000;

/** What the reloader needs of a group's log storage (MemoryStorage). */
export interface SnapshotHolder {
  onSnapshotWanted: ((index: Index) => void) | undefined;
  snapshotMetadata(): { readonly index: Index };
  releaseSnapshotData(i: Index): boolean;
  reloadSnapshotData(i: Index, data: Uint8Array): boolean;
}

export interface SnapshotReloadDeps {
  /** The group's snapshot file at exactly this index, read and checked (SnapshotStore.load). */
  load(group: number, index: number): Promise<Uint8Array>;
  /** Whether the group's snapshot file at this index is written (SnapshotStore.has). */
  filed(group: number, index: number): boolean;
  readonly clock: Pick<Clock, 'after' | 'cancel'>;
  /** A read back failed (the file went, replaced by a newer snapshot, or is corrupt). */
  onLoadFailed(group: number, index: number, err: unknown): void;
}

interface Held {
  readonly storage: SnapshotHolder;
  /** The read under way (at most one); resolves, never rejects, when it is over. */
  reading: Promise<void> | undefined;
  /** Lets the bytes read back go again. Invariant: set only while they are held. */
  timer: Timer | undefined;
}

export class SnapshotReloader {
  private readonly d: SnapshotReloadDeps;
  private readonly groups = new Map<number, Held>();

  constructor(d: SnapshotReloadDeps) {
    this.d = d;
  }

  /** Starts serving the group's storage; its snapshot's bytes go at once when they are filed. */
  attach(group: number, storage: SnapshotHolder): void {
    const h: Held = { storage, reading: undefined, timer: undefined };
    this.groups.set(group, h);
    storage.onSnapshotWanted = (at) => {
      this.read(group, h, at);
    };
    this.release(group);
  }

  /** The group left this node: nothing more is read back or held for it. */
  detach(group: number): void {
    const h = this.groups.get(group);
    if (h === undefined) return;
    this.groups.delete(group);
    h.storage.onSnapshotWanted = undefined;
    if (h.timer !== undefined) this.d.clock.cancel(h.timer);
  }

  /** The storage's latest snapshot may now be filed: if it is, its bytes go. */
  release(group: number): void {
    const h = this.groups.get(group);
    if (h === undefined) return;
    const at = h.storage.snapshotMetadata().index;
    if (!this.d.filed(group, at)) return;
    if (!h.storage.releaseSnapshotData(at)) return;
    if (h.timer !== undefined) this.d.clock.cancel(h.timer);
    h.timer = undefined;
  }

  /** Resolves once a read back of the group's snapshot asked for so far is over (at once if none). */
  async settled(group: number): Promise<void> {
    await this.groups.get(group)?.reading;
  }

  private read(group: number, h: Held, at: Index): void {
    if (h.reading !== undefined) return;
    h.reading = this.d
      .load(group, at)
      .then(
        (data) => {
          if (this.groups.get(group) !== h || !h.storage.reloadSnapshotData(at, data)) return;
          h.timer = this.d.clock.after(SNAPSHOT_HOLD_MS, () => {
            h.timer = undefined;
            if (h.storage.snapshotMetadata().index === at) h.storage.releaseSnapshotData(at);
          });
        },
        (err: unknown) => this.d.onLoadFailed(group, at, err),
      )
      .finally(() => {
        h.reading = undefined;
      });
  }
}
