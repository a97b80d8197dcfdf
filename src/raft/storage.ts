// The read-only view of stable storage the core reads from (etcd's raft.Storage), and its
// in-memory implementation. The driver writes to MemoryStorage only AFTER it has made the same
// data durable; the core never writes to storage itself. A snapshot's bytes may live elsewhere
// (a file) once durable: MemoryStorage then keeps only its metadata until they are reloaded.

import {
  assert,
  CompactedError,
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
  /** Entries in [lo, hi), at most maxBytes in total but always at least one if any. Throws CompactedError if lo <= compacted index. */
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

/** In-memory Storage. Entry 0 of `ents` is a dummy standing for the snapshot's (index, term). */
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
  // Invariant: ents[0] has the index and term of `snap`; ents[k].index === ents[0].index + k.
  private ents: Entry[] = [{ term: term(0), index: index(0), type: 'normal', data: EMPTY_BYTES }];

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  setHardState(hs: HardState): void {
    assert(hs.term >= this.hardState.term, `hard state term regressed ${this.hardState.term} -> ${hs.term}`);
    this.hardState = hs;
  }

  entries(lo: Index, hi: Index, maxBytes: number): Entry[] {
    const offset = this.offset();
    if (lo <= offset) throw new CompactedError(lo, offset + 1);
    const last = this.lastIndex();
    if (hi > last + 1) throw new UnavailableError(hi - 1, last);
    assert(lo <= hi, `entries: lo ${lo} > hi ${hi}`);
    const start = lo - offset;
    return this.ents.slice(start, fitEnd(this.ents, start, hi - offset, maxBytes));
  }

  term(i: Index): Term {
    const offset = this.offset();
    if (i < offset) throw new CompactedError(i, offset + 1);
    const e = this.ents[i - offset];
    if (e === undefined) throw new UnavailableError(i, this.lastIndex());
    return e.term;
  }

  firstIndex(): Index {
    return index(this.offset() + 1);
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
    return this.snap;
  }

  /** Discards entries up to and including i; i must be covered by the held snapshot. */
  compact(i: Index): void {
    const offset = this.offset();
    if (i <= offset) throw new CompactedError(i, offset + 1);
    const snapIndex = this.snap.metadata.index;
    assert(i <= snapIndex, `compact: index ${i} is beyond the snapshot index ${snapIndex}`);
    const head = this.ents[i - offset]!;
    const rest = this.ents.slice(i - offset + 1);
    rest.unshift({ term: head.term, index: head.index, type: 'normal', data: EMPTY_BYTES });
    this.ents = rest;
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
