// The Raft log as the protocol sees it: stable entries in Storage followed by unstable ones,
// with the commit and apply cursors. Invariant: applied <= committed <= lastIndex().

import { assert } from './errors.ts';
import { UnstableLog } from './log-unstable.ts';
import { entriesSizeBytes } from './messages.ts';
import type { Storage } from './storage.ts';
import type { Entry, Index, Snapshot, Term } from './types.ts';
import { index, term } from './types.ts';

export class RaftLog {
  readonly storage: Storage;
  readonly unstable: UnstableLog;
  /** Highest index known to be stored on a quorum. Invariant: committed <= lastIndex(). */
  committed: Index;
  /** Highest index the driver has applied. Invariant: applied <= committed. */
  applied: Index;

  constructor(storage: Storage) {
    this.storage = storage;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new UnstableLog(index(last + 1));
    // A fresh log starts at the storage's snapshot: everything before it is committed and applied.
    this.committed = index(first - 1);
    this.applied = index(first - 1);
  }

  firstIndex(): Index {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): Index {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): Term {
    const t = this.termAt(this.lastIndex());
    assert(t !== undefined, `term of last index ${this.lastIndex()} unknown`);
    return t;
  }

  /** Term of entry i, or undefined if i is compacted or beyond the log. */
  termAt(i: Index): Term | undefined {
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return undefined;
    // Within the storage range (the unstable part has been ruled out above).
    return this.storage.term(i);
  }

  matchTerm(i: Index, t: Term): boolean {
    return this.termAt(i) === t;
  }

  /** Whether a candidate whose log ends at (lastTerm, lastIndex) is at least as up to date as us (§5.4.1). */
  isUpToDate(lastIndex: Index, lastTerm: Term): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Follower side of AppendEntries: if our entry at `prevIndex` has `prevTerm`, appends `ents`
   * (dropping any conflicting suffix) and advances commit. Returns the last new index and the
   * first index whose entry was replaced (0 if none was: the entries only matched or extended the
   * log), or undefined when the log does not match at prevIndex.
   */
  maybeAppend(
    prevIndex: Index,
    prevTerm: Term,
    commit: Index,
    ents: readonly Entry[],
  ): { readonly lastNew: Index; readonly overwroteFrom: number } | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = index(prevIndex + ents.length);
    const lastBefore = this.lastIndex();
    const conflict = this.findConflict(ents);
    if (conflict !== 0) {
      assert(
        conflict > this.committed,
        `entry ${conflict} conflicts with committed entry (committed ${this.committed})`,
      );
      this.append(ents.slice(conflict - (prevIndex + 1)));
    }
    this.commitTo(index(Math.min(commit, lastNew)));
    return { lastNew, overwroteFrom: conflict !== 0 && conflict <= lastBefore ? conflict : 0 };
  }

  /** Appends entries after the current last index or over an uncommitted suffix. Returns lastIndex. */
  append(ents: readonly Entry[]): Index {
    const first = ents[0];
    if (first === undefined) return this.lastIndex();
    assert(
      first.index - 1 >= this.committed,
      `append after ${first.index - 1} is below committed ${this.committed}`,
    );
    assert(
      first.index <= this.lastIndex() + 1,
      `append at ${first.index} leaves a gap after ${this.lastIndex()}`,
    );
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /** Index of the first entry whose term differs from ours (or which is new); 0 if all match. */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast back-off: the largest index <= i whose term is <= t, with its term (etcd's
   * findConflictByTerm). Where our term is unknown (compacted) it answers (i, 0).
   */
  findConflictByTerm(i: Index, t: Term): [Index, Term] {
    for (let j = i; j > 0; j--) {
      const ours = this.termAt(index(j));
      if (ours === undefined) return [index(j), term(0)];
      if (ours <= t) return [index(j), ours];
    }
    return [index(0), term(0)];
  }

  commitTo(i: Index): void {
    if (i <= this.committed) return;
    assert(i <= this.lastIndex(), `commit ${i} is beyond the last index ${this.lastIndex()}`);
    this.committed = i;
  }

  /** Leader commit rule: only an entry of the current term commits by counting replicas (§5.4.2). */
  maybeCommit(i: Index, t: Term): boolean {
    if (i > this.committed && this.termAt(i) === t) {
      this.commitTo(i);
      return true;
    }
    return false;
  }

  appliedTo(i: Index): void {
    if (i === 0) return;
    assert(
      i <= this.committed && i >= this.applied,
      `applied ${i} outside [${this.applied}, ${this.committed}]`,
    );
    this.applied = i;
  }

  stableTo(i: Index, t: Term): void {
    this.unstable.stableTo(i, t);
  }

  stableSnapTo(i: Index): void {
    this.unstable.stableSnapTo(i);
  }

  /** Replaces the whole log by a snapshot received from the leader. */
  restore(s: Snapshot): void {
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  unstableEntries(): readonly Entry[] {
    return this.unstable.entries;
  }

  /** The most recent snapshot: a pending unstable one, else the storage's. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  /** Committed entries not yet applied, at most maxBytes (at least one); none while a snapshot is pending. */
  nextCommittedEntries(maxBytes: number): Entry[] {
    if (this.hasPendingSnapshot()) return [];
    const lo = index(Math.max(this.applied + 1, this.firstIndex()));
    if (lo > this.committed) return [];
    return this.slice(lo, index(this.committed + 1), maxBytes);
  }

  hasNextCommittedEntries(): boolean {
    return !this.hasPendingSnapshot() && this.committed > Math.max(this.applied, this.firstIndex() - 1);
  }

  /** Entries from lo to the end, at most maxBytes (at least one); undefined when lo is compacted. */
  entriesFrom(lo: Index, maxBytes: number): Entry[] | undefined {
    if (lo < this.firstIndex()) return undefined;
    const last = this.lastIndex();
    if (lo > last) return [];
    return this.slice(lo, index(last + 1), maxBytes);
  }

  /** Entries in [lo, hi), at most maxBytes (at least one), from storage and the unstable tail. */
  slice(lo: Index, hi: Index, maxBytes: number): Entry[] {
    assert(
      lo >= this.firstIndex() && hi <= this.lastIndex() + 1 && lo <= hi,
      `slice[${lo},${hi}) out of bounds`,
    );
    if (lo === hi) return [];
    const off = this.unstable.offset;
    let out: Entry[] = [];
    if (lo < off) {
      const storageHi = Math.min(hi, off);
      out = this.storage.entries(lo, index(storageHi), maxBytes);
      // Storage stopped early (size limit): the unstable tail must not be appended after a gap.
      if (out.length < storageHi - lo) return out;
    }
    if (hi > off) {
      const used = out.length === 0 ? 0 : entriesSizeBytes(out);
      const tail = this.unstable.slice(index(Math.max(lo, off)), hi, maxBytes, used);
      out = out.length === 0 ? tail : out.concat(tail);
    }
    return out;
  }
}
