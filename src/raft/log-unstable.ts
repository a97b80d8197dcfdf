// The part of the log not yet known to be durable: entries (and possibly a snapshot) the core
// has accepted but the driver has not yet confirmed persisted via advance().

import { assert } from './errors.ts';
import { fitEnd } from './storage.ts';
import type { Entry, Index, Snapshot, Term } from './types.ts';
import { index } from './types.ts';

export class UnstableLog {
  /** A snapshot received from the leader, not yet persisted. */
  snapshot: Snapshot | undefined = undefined;
  /** Entries not yet persisted. Invariant: entries[k].index === offset + k. */
  entries: Entry[] = [];
  /** Index of entries[0] (or where it would be). Invariant: snapshot ⇒ offset === snapshot index + 1. */
  offset: Index;

  constructor(offset: Index) {
    this.offset = offset;
  }

  /** Index of the first entry, if it is known only here (a pending snapshot). */
  maybeFirstIndex(): Index | undefined {
    return this.snapshot === undefined ? undefined : index(this.snapshot.metadata.index + 1);
  }

  maybeLastIndex(): Index | undefined {
    if (this.entries.length > 0) return index(this.offset + this.entries.length - 1);
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index;
  }

  maybeTerm(i: Index): Term | undefined {
    if (i < this.offset) {
      const s = this.snapshot;
      return s !== undefined && s.metadata.index === i ? s.metadata.term : undefined;
    }
    return this.entries[i - this.offset]?.term;
  }

  /** Entries up to (i, t) are durable: drop them, unless they were replaced meanwhile. */
  stableTo(i: Index, t: Term): void {
    if (i < this.offset) return;
    if (this.maybeTerm(i) !== t) return; // replaced by a newer leader's entries: still unstable
    this.entries = this.entries.slice(i + 1 - this.offset);
    this.offset = index(i + 1);
  }

  stableSnapTo(i: Index): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === i) this.snapshot = undefined;
  }

  restore(s: Snapshot): void {
    this.offset = index(s.metadata.index + 1);
    this.entries = [];
    this.snapshot = s;
  }

  /** Appends ents, first dropping any suffix they conflict with. */
  truncateAndAppend(ents: readonly Entry[]): void {
    const first = ents[0];
    if (first === undefined) return;
    const after = first.index;
    if (after === this.offset + this.entries.length) {
      for (const e of ents) this.entries.push(e);
    } else if (after <= this.offset) {
      // Replaces every unstable entry; the log before `after` lives in storage.
      this.offset = after;
      this.entries = ents.slice();
    } else {
      this.entries = this.entries.slice(0, after - this.offset);
      for (const e of ents) this.entries.push(e);
    }
  }

  /** Entries in [lo, hi) within the unstable range, fitting maxBytes beyond usedBytes (see fitEnd). */
  slice(lo: Index, hi: Index, maxBytes: number, usedBytes: number): Entry[] {
    const upper = this.offset + this.entries.length;
    assert(
      lo >= this.offset && hi <= upper && lo <= hi,
      `unstable.slice[${lo},${hi}) out of [${this.offset},${upper})`,
    );
    const start = lo - this.offset;
    return this.entries.slice(start, fitEnd(this.entries, start, hi - this.offset, maxBytes, usedBytes));
  }
}
