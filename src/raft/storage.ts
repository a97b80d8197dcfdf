// The read-only view of stable storage the core reads from (etcd's raft.Storage), and its
// in-memory implementation. The driver writes to MemoryStorage only AFTER it has made the same
// data durable; the core never writes to storage itself. A snapshot's bytes may live elsewhere
// (a file) once durable: MemoryStorage then keeps only its metadata until they are reloaded.
// So may applied entries' (in the WAL): MemoryStorage then keeps their terms, and reads them back
// on demand (releaseEntryData, reloadEntries).

import {
  assert,
  CompactedError,
  EntriesTemporarilyUnavailableError,
  SnapshotOutOfDateError,
  SnapshotTemporarilyUnavailableError,
  UnavailableError,
} from './errors.ts';
import { EMPTY_BYTES, entrySizeBytes } from './messages.ts';
import type {
  ConfState,
  Entry,
  HardState,
  Index,
  NodeId,
  Snapshot,
  SnapshotMetadata,
  Term,
} from './types.ts';
import { index, NO_NODE, term } from './types.ts';

/** Read-only view of stable storage, as in etcd's raft.Storage. */
export interface Storage {
  initialState(): { hardState: HardState; confState: ConfState };
  /**
   * Entries in [lo, hi), at most maxBytes in total but always at least one if any. Throws
   * CompactedError if lo <= compacted index; may throw EntriesTemporarilyUnavailableError for
   * entries already applied whose bytes are not at hand (the caller asks again later).
   */
  entries(lo: Index, hi: Index, maxBytes: number): Entry[];
  /** Term of entry i; valid for i in [firstIndex()-1, lastIndex()]. Throws CompactedError / UnavailableError otherwise. */
  term(i: Index): Term;
  firstIndex(): Index;
  lastIndex(): Index;
  /**
   * The latest snapshot. May throw SnapshotTemporarilyUnavailableError when its bytes are not at
   * hand (being read back from disk): the caller sends nothing now and asks again later.
   */
  snapshot(): Snapshot;
}

export const EMPTY_CONF_STATE: ConfState = {
  voters: [],
  votersOutgoing: [],
  learners: [],
  learnersNext: [],
  autoLeave: false,
};

export const EMPTY_HARD_STATE: HardState = { term: term(0), vote: NO_NODE, commit: index(0) };

/**
 * The snapshot a brand-new cluster's initial members start from: index 1, term 1, the given
 * members, no data. It sits at index 1 rather than 0 so that the initial configuration is
 * "compacted history": a node added later has an empty log, needs index 1, and so is sent a
 * snapshot that carries the configuration (an index-0 snapshot would leave it unable to learn it).
 */
export function initialSnapshot(voters: readonly NodeId[], learners: readonly NodeId[] = []): Snapshot {
  return {
    metadata: {
      index: index(1),
      term: term(1),
      confState: { ...EMPTY_CONF_STATE, voters: [...voters], learners: [...learners] },
    },
    data: EMPTY_BYTES,
  };
}

/**
 * The end position e in [start, end] such that entries[start, e) fit in maxBytes together with
 * `usedBytes` already taken; at least one entry when nothing was taken yet (a single entry larger
 * than the bound must still make progress). Computed before slicing, so a far-behind follower
 * does not cost a copy of the whole log per message.
 */
export function fitEnd(
  entries: readonly Entry[],
  start: number,
  end: number,
  maxBytes: number,
  usedBytes = 0,
): number {
  let size = usedBytes;
  let i = start;
  for (; i < end; i++) {
    size += entrySizeBytes(entries[i]!);
    if (size > maxBytes && (i > start || usedBytes > 0)) break;
  }
  return i;
}

/** Takes entries from the front while their total stays within maxBytes; always keeps the first. */
export function limitSize(entries: Entry[], maxBytes: number): Entry[] {
  const n = fitEnd(entries, 0, entries.length, maxBytes);
  return n === entries.length ? entries : entries.slice(0, n);
}

/**
 * In-memory Storage. The log after the compaction point C is in two parts: entries (C, R] whose
 * bytes were released (kept in the WAL; only their terms here, as runs), then entries (R, last]
 * held whole in `ents`. Without releases R === C, as in etcd's MemoryStorage.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot = {
    metadata: { index: index(0), term: term(0), confState: EMPTY_CONF_STATE },
    data: EMPTY_BYTES,
  };
  /** Whether snap.data is the snapshot's bytes; false from releaseSnapshotData to reloadSnapshotData. */
  private snapDataHeld = true;
  /**
   * Told, from inside snapshot(), that the released bytes of the snapshot at `index` are wanted:
   * it reads them back and hands them to reloadSnapshotData. It must not call back into the core.
   */
  onSnapshotWanted: ((index: Index) => void) | undefined;
  // Invariant: ents[0] is a dummy with the index R and its term; ents[k].index === R + k.
  private ents: Entry[] = [{ term: term(0), index: index(0), type: 'normal', data: EMPTY_BYTES }];
  /** The compaction point C (entries <= C are gone) and its term. Invariant: C <= R, C <= snap index. */
  private compactedIndex = 0;
  private compactedTerm: Term = term(0);
  /**
   * Terms of the released entries (C, R], as runs: run k covers [runFirst[k], runFirst[k+1]) (the
   * last one up to R) at runTerm[k]. Invariant: empty iff R === C; runFirst[0] === C + 1; strictly
   * increasing; neighbouring terms differ.
   */
  private runFirst: number[] = [];
  private runTerm: Term[] = [];
  /** Released entries read back (reloadEntries): one contiguous run, all within (C, R]; replaced by the next. */
  private window: Entry[] = [];
  /**
   * Told, from inside entries(), that released entries from `lo` are wanted (up to `hi`, about
   * `maxBytes`): it reads them back and hands them to reloadEntries. It must not call back into the core.
   */
  onEntriesWanted: ((lo: Index, hi: Index, maxBytes: number) => void) | undefined;

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  setHardState(hs: HardState): void {
    assert(hs.term >= this.hardState.term, `hard state term regressed ${this.hardState.term} -> ${hs.term}`);
    this.hardState = hs;
  }

  entries(lo: Index, hi: Index, maxBytes: number): Entry[] {
    if (lo <= this.compactedIndex) throw new CompactedError(lo, this.compactedIndex + 1);
    const last = this.lastIndex();
    if (hi > last + 1) throw new UnavailableError(hi - 1, last);
    assert(lo <= hi, `entries: lo ${lo} > hi ${hi}`);
    const offset = this.offset();
    if (lo <= offset) return this.releasedEntries(lo, hi, maxBytes);
    const start = lo - offset;
    return this.ents.slice(start, fitEnd(this.ents, start, hi - offset, maxBytes));
  }

  /** Released entries from lo (<= R), from the window read back; stops at R (a short answer). */
  private releasedEntries(lo: Index, hi: Index, maxBytes: number): Entry[] {
    const w = this.window;
    const first = w[0]?.index ?? 0;
    if (w.length === 0 || lo < first || lo >= first + w.length) {
      this.onEntriesWanted?.(lo, hi, maxBytes);
      throw new EntriesTemporarilyUnavailableError(lo);
    }
    const start = lo - first;
    return w.slice(start, fitEnd(w, start, Math.min(hi - first, w.length), maxBytes));
  }

  term(i: Index): Term {
    const offset = this.offset();
    if (i < this.compactedIndex) throw new CompactedError(i, this.compactedIndex + 1);
    if (i === this.compactedIndex) return this.compactedTerm;
    if (i < offset) return this.releasedTerm(i);
    const e = this.ents[i - offset];
    if (e === undefined) throw new UnavailableError(i, this.lastIndex());
    return e.term;
  }

  /** Term of a released entry i in (C, R). */
  private releasedTerm(i: number): Term {
    let lo = 0;
    let hi = this.runFirst.length - 1;
    // Bounded: binary search for the last run starting at or before i.
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.runFirst[mid]! <= i) lo = mid;
      else hi = mid - 1;
    }
    assert(this.runFirst[lo]! <= i, `released term: ${i} before the first run at ${this.runFirst[lo]}`);
    return this.runTerm[lo]!;
  }

  firstIndex(): Index {
    return index(this.compactedIndex + 1);
  }

  /** R: entries up to here (after the compaction point) have their bytes released. */
  releasedThrough(): Index {
    return index(this.offset());
  }

  /**
   * Lets go of the bytes of the entries up to `upTo` (the caller applied them and keeps them durably
   * in the WAL until a snapshot covers them); their terms stay. Those the held snapshot covers are
   * compacted at once (see compactReleased).
   */
  releaseEntryData(upTo: Index): void {
    const offset = this.offset();
    if (upTo <= offset) return;
    const last = this.lastIndex();
    assert(upTo <= last, `releaseEntryData: ${upTo} is beyond the last index ${last}`);
    // Bounded by upTo - R entries.
    for (let k = 1; k <= upTo - offset; k++) {
      const t = this.ents[k]!.term;
      if (this.runTerm[this.runTerm.length - 1] !== t) {
        this.runFirst.push(offset + k);
        this.runTerm.push(t);
      }
    }
    const head = this.ents[upTo - offset]!;
    const rest = this.ents.slice(upTo - offset);
    rest[0] = { term: head.term, index: head.index, type: 'normal', data: EMPTY_BYTES };
    this.ents = rest;
    this.compactReleased();
  }

  /**
   * Released entries the held snapshot covers are compacted: the caller keeps them only in a log
   * that drops what a snapshot covers, so they could never be read back (a follower that needs them
   * is sent the snapshot). Invariant after it: every released entry is above the snapshot index.
   */
  private compactReleased(): void {
    const to = Math.min(this.offset(), this.snap.metadata.index);
    if (to > this.compactedIndex) this.cutTo(to);
  }

  /**
   * Holds released entries read back (the part within (C, R] of a contiguous run), replacing any held
   * before; false when none of them is released any more.
   */
  reloadEntries(entries: readonly Entry[]): boolean {
    const first = entries[0]?.index ?? 0;
    const lo = Math.max(first, this.compactedIndex + 1);
    const hi = Math.min(first + entries.length, this.offset() + 1);
    if (lo >= hi) return false;
    for (let k = 0; k < entries.length; k++) {
      assert(entries[k]!.index === first + k, `reloadEntries: not contiguous at ${k}: ${entries[k]!.index}`);
    }
    this.window = entries.slice(lo - first, hi - first);
    return true;
  }

  /** Drops the entries read back (the follower that wanted them caught up, or time passed). */
  dropReloadedEntries(): void {
    this.window = [];
  }

  lastIndex(): Index {
    return index(this.offset() + this.ents.length - 1);
  }

  snapshot(): Snapshot {
    if (this.snapDataHeld) return this.snap;
    const at = this.snap.metadata.index;
    this.onSnapshotWanted?.(at);
    throw new SnapshotTemporarilyUnavailableError(at);
  }

  /** The latest snapshot's metadata, whether or not its bytes are held. */
  snapshotMetadata(): SnapshotMetadata {
    return this.snap.metadata;
  }

  /** Whether the latest snapshot's bytes are held (see releaseSnapshotData). */
  snapshotDataHeld(): boolean {
    return this.snapDataHeld;
  }

  /**
   * Lets go of the bytes of the snapshot at index i (the caller keeps them durably elsewhere);
   * false, and nothing changes, when the latest snapshot is not at i or its bytes are already gone.
   */
  releaseSnapshotData(i: Index): boolean {
    if (this.snap.metadata.index !== i || !this.snapDataHeld) return false;
    this.snap = { metadata: this.snap.metadata, data: EMPTY_BYTES };
    this.snapDataHeld = false;
    return true;
  }

  /** Gives back the released bytes of the snapshot at index i; false when that is no longer the latest. */
  reloadSnapshotData(i: Index, data: Uint8Array): boolean {
    if (this.snap.metadata.index !== i || this.snapDataHeld) return false;
    this.snap = { metadata: this.snap.metadata, data };
    this.snapDataHeld = true;
    return true;
  }

  /** Replaces everything with the snapshot (which must not be older than the held one). */
  applySnapshot(snap: Snapshot): void {
    const held = this.snap.metadata.index;
    if (snap.metadata.index < held) throw new SnapshotOutOfDateError(snap.metadata.index, held);
    this.snap = snap;
    this.snapDataHeld = true;
    this.ents = [{ term: snap.metadata.term, index: snap.metadata.index, type: 'normal', data: EMPTY_BYTES }];
    this.compactedIndex = snap.metadata.index;
    this.compactedTerm = snap.metadata.term;
    this.runFirst = [];
    this.runTerm = [];
    this.window = [];
  }

  /**
   * Records a snapshot of the state machine at applied index i; the log is kept (see compact).
   * Without `data` its bytes are kept elsewhere, as after releaseSnapshotData.
   */
  createSnapshot(i: Index, cs: ConfState, data?: Uint8Array): Snapshot {
    const held = this.snap.metadata.index;
    if (i <= held) throw new SnapshotOutOfDateError(i, held);
    const last = this.lastIndex();
    assert(i <= last, `createSnapshot: index ${i} is beyond the last index ${last}`);
    this.snap = { metadata: { index: i, term: this.term(i), confState: cs }, data: data ?? EMPTY_BYTES };
    this.snapDataHeld = data !== undefined;
    this.compactReleased();
    return this.snap;
  }

  /**
   * Discards entries up to and including i; i must be covered by the held snapshot. Released entries
   * the snapshot covers go too, even beyond i (compactReleased).
   */
  compact(i: Index): void {
    if (i <= this.compactedIndex) throw new CompactedError(i, this.compactedIndex + 1);
    const snapIndex = this.snap.metadata.index;
    assert(i <= snapIndex, `compact: index ${i} is beyond the snapshot index ${snapIndex}`);
    this.cutTo(i);
    this.compactReleased();
  }

  /** Discards entries up to and including `to` (above the compaction point, covered by the snapshot). */
  private cutTo(to: number): void {
    const offset = this.offset();
    const toTerm = this.term(index(to));
    if (to >= offset) {
      const rest = this.ents.slice(to - offset + 1);
      rest.unshift({ term: toTerm, index: index(to), type: 'normal', data: EMPTY_BYTES });
      this.ents = rest;
      this.runFirst = [];
      this.runTerm = [];
    } else {
      let k = 0;
      while (k + 1 < this.runFirst.length && this.runFirst[k + 1]! <= to + 1) k++;
      this.runFirst = this.runFirst.slice(k);
      this.runTerm = this.runTerm.slice(k);
      this.runFirst[0] = to + 1;
    }
    this.compactedIndex = to;
    this.compactedTerm = toTerm;
    const w = this.window;
    if (w.length > 0 && w[0]!.index <= to) this.window = w.slice(Math.min(w.length, to - w[0]!.index + 1));
  }

  /** Appends entries, truncating any conflicting suffix; entries before firstIndex are skipped. */
  append(entries: readonly Entry[]): void {
    const head = entries[0];
    if (head === undefined) return;
    const first = this.firstIndex();
    const last = head.index + entries.length - 1;
    if (last < first) return; // all already compacted
    const from = first > head.index ? entries.slice(first - head.index) : entries;
    const at = from[0]!.index - this.offset();
    assert(
      at >= 1,
      `append: entries from ${from[0]!.index} overwrite released (applied) entries up to ${this.offset()}`,
    );
    assert(
      at <= this.ents.length,
      `append: missing log entries: last ${this.lastIndex()}, appending at ${from[0]!.index}`,
    );
    if (at < this.ents.length) this.ents.length = at;
    for (const e of from) this.ents.push(e);
  }

  private offset(): number {
    return this.ents[0]!.index;
  }
}
