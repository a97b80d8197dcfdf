// Where a group's entries are in the WAL: for each entries record still standing, its first index,
// how many of its entries stand (a later record may have overwritten its tail), and its segment,
// offset and framed length. The log reads entries back from here (Wal.readEntries) once the group's
// log storage let their bytes go. Kept in the order written, which is index order: a record that
// overwrites a suffix first cuts every record it overlaps.
//
// Memory: five numbers per record, in parallel arrays; records leave from the front as the group's
// snapshot markers cover them (dropUpTo), so the table holds about one snapshot interval's records.

export interface EntryLocation {
  /** Index of the record's first entry. */
  readonly first: number;
  /** Entries of the record that still stand (its first `count`). */
  readonly count: number;
  readonly seq: number;
  readonly offsetBytes: number;
  /** The whole framed record, header and checksum included. */
  readonly bytes: number;
}

export class EntryLocations {
  // Parallel arrays; live records are [head, first.length). Invariant: first[k] + count[k] ===
  // first[k + 1] for live neighbours (contiguous), count[k] >= 1.
  private first: number[] = [];
  private count: number[] = [];
  private seq: number[] = [];
  private offset: number[] = [];
  private bytes: number[] = [];
  private head = 0;

  get size(): number {
    return this.first.length - this.head;
  }

  /** A record of `count` entries from `first` was written at (seq, offsetBytes); it replaces entries >= first. */
  add(first: number, count: number, seq: number, offsetBytes: number, bytes: number): void {
    if (count < 1) throw new Error(`entry locations: a record of ${count} entries`);
    this.cutFrom(first);
    const n = this.first.length;
    if (n > this.head) {
      const end = this.first[n - 1]! + this.count[n - 1]!;
      // A gap: the log starts over after an installed snapshot whose marker cleared this table.
      if (end !== first) this.clear();
    }
    this.first.push(first);
    this.count.push(count);
    this.seq.push(seq);
    this.offset.push(offsetBytes);
    this.bytes.push(bytes);
  }

  /** Forgets entries >= i (overwritten). */
  private cutFrom(i: number): void {
    // Bounded by the number of records.
    while (this.first.length > this.head) {
      const k = this.first.length - 1;
      if (this.first[k]! >= i) {
        this.first.pop();
        this.count.pop();
        this.seq.pop();
        this.offset.pop();
        this.bytes.pop();
        continue;
      }
      if (this.first[k]! + this.count[k]! > i) this.count[k] = i - this.first[k]!;
      break;
    }
    if (this.head >= this.first.length) this.clear();
  }

  /** Forgets records whose entries are all <= i (a snapshot marker covers them). */
  dropUpTo(i: number): void {
    // Bounded by the number of records.
    while (this.head < this.first.length && this.first[this.head]! + this.count[this.head]! - 1 <= i)
      this.head++;
    if (this.head === this.first.length) this.clear();
    else if (this.head > 1024 && this.head * 2 > this.first.length) this.compactArrays();
  }

  clear(): void {
    this.first = [];
    this.count = [];
    this.seq = [];
    this.offset = [];
    this.bytes = [];
    this.head = 0;
  }

  /** The records holding entries of [lo, hi), in index order; empty if lo is not held. */
  locate(lo: number, hi: number): EntryLocation[] {
    const out: EntryLocation[] = [];
    let a = this.head;
    let b = this.first.length - 1;
    if (a > b || lo < this.first[a]!) return out;
    // Bounded: binary search for the last record starting at or before lo.
    while (a < b) {
      const mid = (a + b + 1) >> 1;
      if (this.first[mid]! <= lo) a = mid;
      else b = mid - 1;
    }
    for (let k = a; k < this.first.length && this.first[k]! < hi; k++) {
      if (this.first[k]! + this.count[k]! <= lo) return out; // lo is past the last entry held
      out.push({
        first: this.first[k]!,
        count: this.count[k]!,
        seq: this.seq[k]!,
        offsetBytes: this.offset[k]!,
        bytes: this.bytes[k]!,
      });
    }
    return out;
  }

  private compactArrays(): void {
    const h = this.head;
    this.first = this.first.slice(h);
    this.count = this.count.slice(h);
    this.seq = this.seq.slice(h);
    this.offset = this.offset.slice(h);
    this.bytes = this.bytes.slice(h);
    this.head = 0;
  }
}
