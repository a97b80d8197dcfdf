// A group's applied entries live in the WAL, not in memory, once they are a few behind the last
// index: the log storage lets their bytes go (MemoryStorage.releaseEntryData) and keeps their terms.
// They are needed again only to send them to a follower that fell that far behind (the core gets
// EntriesTemporarilyUnavailableError from the storage and asks again at that follower's next
// heartbeat response) or to replay a watch's backlog. On such a request they are read back from the
// WAL (Wal.readEntries), once per group at a time, from the index asked for and about
// READ_BACK_BYTES of them (all of them up to the released end for a watch, which asks for all), and
// the storage holds them for ENTRIES_HOLD_MS, then lets them go again.
//
// Why: each group's log since its last snapshot (up to snapshotEveryEntries entries) stayed in memory
// until the next snapshot: at 1 KiB values and 8 shards, 90 MB per node that a follower never reads
// and a leader reads only for a follower that lags.

import type { Entry, Index } from '../raft/types.ts';
import { index } from '../raft/types.ts';
import type { Clock, Timer } from './clock.ts';

/** How long entries read back stay in memory: long enough for a lagging follower's next appends. */
export const ENTRIES_HOLD_MS = 10_000;
/** How much one read back takes from the index asked for (a follower catching up asks again after). */
export const READ_BACK_BYTES = 4 * 1024 * 1024;

/** What the reloader needs of a group's log storage (MemoryStorage). */
export interface EntryHolder {
  onEntriesWanted: ((lo: Index, hi: Index, maxBytes: number) => void) | undefined;
  releasedThrough(): Index;
  reloadEntries(entries: readonly Entry[]): boolean;
  dropReloadedEntries(): void;
}

export interface EntryReloadDeps {
  /** The group's entries in [lo, hi), about maxBytes of them, read from the WAL (Wal.readEntries). */
  read(group: number, lo: Index, hi: Index, maxBytes: number): Promise<Entry[]>;
  readonly clock: Pick<Clock, 'after' | 'cancel'>;
  /** A read back failed (the entries were covered by a snapshot meanwhile, or do not check out). */
  onReadFailed(group: number, lo: number, err: unknown): void;
}

interface Held {
  readonly storage: EntryHolder;
  /** The read under way (at most one); resolves, never rejects, when it is over. */
  reading: Promise<void> | undefined;
  /** Lets the entries read back go again. Invariant: set only while some are held. */
  timer: Timer | undefined;
}

export class EntryReloader {
  private readonly d: EntryReloadDeps;
  private readonly groups = new Map<number, Held>();

  constructor(d: EntryReloadDeps) {
    this.d = d;
  }

  /** Starts serving the group's storage. */
  attach(group: number, storage: EntryHolder): void {
    const h: Held = { storage, reading: undefined, timer: undefined };
    this.groups.set(group, h);
    storage.onEntriesWanted = (lo, hi, maxBytes) => {
      this.read(group, h, lo, hi, maxBytes);
    };
  }

  /** The group left this node: nothing more is read back or held for it. */
  detach(group: number): void {
    const h = this.groups.get(group);
    if (h === undefined) return;
    this.groups.delete(group);
    h.storage.onEntriesWanted = undefined;
    if (h.timer !== undefined) this.d.clock.cancel(h.timer);
  }

  /** Resolves once a read back of the group's entries asked for so far is over (at once if none). */
  async settled(group: number): Promise<void> {
    await this.groups.get(group)?.reading;
  }

  private read(group: number, h: Held, lo: Index, hi: Index, maxBytes: number): void {
    if (h.reading !== undefined) return;
    const to = index(Math.min(hi, h.storage.releasedThrough() + 1));
    h.reading = this.d
      .read(group, lo, to, Math.max(maxBytes, READ_BACK_BYTES))
      .then(
        (entries) => {
          if (this.groups.get(group) !== h || !h.storage.reloadEntries(entries)) return;
          if (h.timer !== undefined) this.d.clock.cancel(h.timer);
          h.timer = this.d.clock.after(ENTRIES_HOLD_MS, () => {
            h.timer = undefined;
            h.storage.dropReloadedEntries();
          });
        },
        (err: unknown) => this.d.onReadFailed(group, lo, err),
      )
      .finally(() => {
        h.reading = undefined;
      });
  }
}
