// The glue between the consensus core and the disk, for every group on a node: it makes the
// persistence part of each Ready durable (hard state and entries in the shared WAL, snapshots as
// files plus a WAL marker), and keeps each group's MemoryStorage (the core's read-only view) equal to
// what is durable. On start it rebuilds every group's MemoryStorage from the snapshot files and the WAL.
//
// Order of operations for the driver, per turn:
//   for each group with a Ready: await log.stage(group, rd)     (snapshot file written first, if any)
//   await log.sync()                                            (one fdatasync for all groups)
//   then send messages, apply committed entries, advance.
// MemoryStorage is updated only inside sync(), after the data is durable, as the core requires.
import { join } from 'node:path';
import type { ConfState, Index, Ready, Snapshot } from '../raft/index.ts';
import { MemoryStorage } from '../raft/index.ts';
import { SnapshotStore } from './snapshots.ts';
import { Wal } from './wal.ts';

export interface DurableLogOptions {
  /** The node's data directory; the log uses <dir>/wal and <dir>/snapshots. */
  readonly dir: string;
  readonly segmentBytes?: number;
}

/** The persistence part of a Ready. */
export type ReadyToPersist = Pick<Ready, 'hardState' | 'entries' | 'snapshot'>;

/** A change to apply to a group's MemoryStorage once it is durable. */
type Staged =
  | { readonly kind: 'ready'; readonly group: number; readonly rd: ReadyToPersist }
  | { readonly kind: 'compact'; readonly group: number; readonly snapshot: Snapshot };

export class DurableLog {
  private readonly wal: Wal;
  private readonly snapshots: SnapshotStore;
  private readonly storages: Map<number, MemoryStorage>;
  private staged: Staged[] = [];
  /** group -> snapshot markers appended but not yet known durable (a new snapshot file waits for them). */
  private readonly markersNotDurable = new Map<number, number>();
  /** Groups whose markers were appended since the last sync() started, with multiplicity. */
  private markersStaged: number[] = [];

  private constructor(wal: Wal, snapshots: SnapshotStore, storages: Map<number, MemoryStorage>) {
    this.wal = wal;
    this.snapshots = snapshots;
    this.storages = storages;
  }

  /** Opens the node's storage and rebuilds the MemoryStorage of every group found in it. */
  static async open(options: DurableLogOptions): Promise<DurableLog> {
    const walOptions = {
      dir: join(options.dir, 'wal'),
      ...(options.segmentBytes ? { segmentBytes: options.segmentBytes } : {}),
    };
    const snapshots = await SnapshotStore.open(join(options.dir, 'snapshots'));
    const { wal, recovered } = await Wal.open(walOptions);
    const storages = new Map<number, MemoryStorage>();
    try {
      for (const [group, g] of recovered) {
        const storage = new MemoryStorage();
        if (g.snapshot !== undefined) {
          // The marker names the snapshot the log depends on; a newer file may exist whose marker never
          // became durable (never acknowledged), so load exactly this one.
          const snap = await snapshots.load(group, g.snapshot.index);
          if (snap.metadata.term !== g.snapshot.term) {
            throw new Error(
              `durable-log: group ${group} snapshot at ${g.snapshot.index} has term ${snap.metadata.term}, the log says ${g.snapshot.term}`,
            );
          }
          storage.applySnapshot(snap);
        }
        storage.append(g.entries);
        if (g.hardState !== undefined) storage.setHardState(g.hardState);
        storages.set(group, storage);
      }
    } catch (e) {
      await wal.close();
      throw e;
    }
    return new DurableLog(wal, snapshots, storages);
  }

  /** Groups that have durable state on this node. */
  groups(): number[] {
    return [...this.storages.keys()].sort((a, b) => a - b);
  }

  /** The group's MemoryStorage (created empty for a group new to this node). */
  storage(group: number): MemoryStorage {
    let s = this.storages.get(group);
    if (s === undefined) {
      s = new MemoryStorage();
      this.storages.set(group, s);
    }
    return s;
  }

  /**
   * Appends the persistence part of a Ready to the log (writing its snapshot file first, if any).
   * Nothing is durable, nor visible in the MemoryStorage, until sync() resolves.
   */
  async stage(group: number, rd: ReadyToPersist): Promise<void> {
    if (rd.snapshot !== undefined) {
      await this.writeSnapshot(group, rd.snapshot);
      const m = rd.snapshot.metadata;
      this.wal.appendSnapshotMarker(group, m.index, m.term, true);
    }
    if (rd.entries.length > 0) this.wal.appendEntries(group, rd.entries);
    if (rd.hardState !== undefined) this.wal.appendHardState(group, rd.hardState);
    this.staged.push({ kind: 'ready', group, rd });
  }

  /**
   * Compacts a group's log: stores the state machine's snapshot at applied index `i` (data = its
   * serialised state), then releases the log up to i. Takes effect in MemoryStorage at the next sync().
   */
  async compact(group: number, i: Index, confState: ConfState, data: Uint8Array): Promise<void> {
    const storage = this.storage(group);
    const snapshot: Snapshot = { metadata: { index: i, term: storage.term(i), confState }, data };
    await this.writeSnapshot(group, snapshot);
    this.wal.appendSnapshotMarker(group, i, snapshot.metadata.term, false);
    this.staged.push({ kind: 'compact', group, snapshot });
  }

  private async writeSnapshot(group: number, snapshot: Snapshot): Promise<void> {
    // Only two snapshot files are kept: the file the durable marker names must survive this save, so
    // any newer marker must be durable first. Bounded: one sync covers every marker appended before it.
    for (let attempt = 0; (this.markersNotDurable.get(group) ?? 0) > 0; attempt++) {
      if (attempt === 3) throw new Error(`durable-log: group ${group} snapshot marker still not durable`);
      await this.sync();
    }
    await this.snapshots.save(group, snapshot);
    this.markersNotDurable.set(group, (this.markersNotDurable.get(group) ?? 0) + 1);
    this.markersStaged.push(group);
  }

  /** Makes everything staged so far durable with one fdatasync, then updates the MemoryStorages. */
  async sync(): Promise<void> {
    const staged = this.staged;
    this.staged = [];
    const markers = this.markersStaged;
    this.markersStaged = [];
    await this.wal.sync();
    for (const s of staged) this.applyToMemory(s);
    for (const g of markers) {
      const n = (this.markersNotDurable.get(g) ?? 0) - 1;
      if (n > 0) this.markersNotDurable.set(g, n);
      else this.markersNotDurable.delete(g);
    }
  }

  private applyToMemory(s: Staged): void {
    const storage = this.storage(s.group);
    if (s.kind === 'compact') {
      const i = s.snapshot.metadata.index;
      if (i > storage.snapshot().metadata.index) {
        storage.createSnapshot(i, s.snapshot.metadata.confState, s.snapshot.data);
      }
      if (i >= storage.firstIndex()) storage.compact(i);
      return;
    }
    if (s.rd.snapshot !== undefined) storage.applySnapshot(s.rd.snapshot);
    storage.append(s.rd.entries);
    if (s.rd.hardState !== undefined) storage.setHardState(s.rd.hardState);
  }

  /** WAL statistics (fdatasync count, segments) for metrics. */
  walStats(): ReturnType<Wal['stats']> {
    return this.wal.stats();
  }

  /** Syncs what is staged and closes the files. */
  async close(): Promise<void> {
    await this.sync();
    await this.wal.close();
  }
}
