// Rebuilding each group's durable state from the records of the log, in the order they were written.
// Rules (Raft §5.3 truncation and snapshot release):
// - entries starting at index f replace every entry of that group with index >= f (a new leader
//   overwrote a suffix), then extend the log;
// - a compaction marker at m drops entries <= m; an install marker (discardLog) drops all entries;
// - the latest hard state and the latest marker win;
// - after released segments, a group's entries may begin past its last replayed marker (the records in
//   between were released because a later marker covers them); such a gap is allowed while replaying
//   and must be closed by a marker by the end, or the log is missing data.
import type { Entry, HardState, Index, Term } from '../raft/types.ts';
import { EntryLocations } from './entry-locations.ts';
import { ENTRIES_RECORD_OVERHEAD_BYTES, entryBytes, type WalRecord } from './record.ts';
import { WalCorruptionError } from './wal-errors.ts';

export interface SnapshotMarker {
  readonly index: Index;
  readonly term: Term;
}

/** One group's state as recovered from the log. */
export interface RecoveredGroup {
  hardState: HardState | undefined;
  /** The latest snapshot marker: the log up to and including this index is released. */
  snapshot: SnapshotMarker | undefined;
  /** Contiguous entries after the marker (the first has index snapshot.index + 1, or 1). */
  entries: Entry[];
}

/** What the log knows about one segment: for release, the highest entry index per group in it. */
export interface SegmentInfo {
  readonly seq: number;
  readonly sizeBytes: number;
  /** group -> highest entry index written to this segment for it (release needs it <= that group's marker). */
  readonly maxIndexByGroup: Map<number, number>;
}

interface GroupReplay extends RecoveredGroup {
  /** Where the entries are in the segments (for reading them back once the log storage let them go). */
  readonly locations: EntryLocations;
  /** Where entries began after a gap, for the error message if no marker closes it. */
  gapAt: { file: string; offsetBytes: number } | undefined;
}

export class Replay {
  readonly groups = new Map<number, GroupReplay>();

  private group(id: number): GroupReplay {
    let g = this.groups.get(id);
    if (g === undefined) {
      g = {
        hardState: undefined,
        snapshot: undefined,
        entries: [],
        locations: new EntryLocations(),
        gapAt: undefined,
      };
      this.groups.set(id, g);
    }
    return g;
  }

  /** Applies one record read from segment `segments[last]` of `file` at `offsetBytes`. */
  apply(record: WalRecord, segments: readonly SegmentInfo[], file: string, offsetBytes: number): void {
    switch (record.type) {
      case 'segmentHeader':
        throw new Error(`replay: segment header at ${file}:${offsetBytes} must not reach apply()`);
      case 'hardState':
        this.group(record.group).hardState = record.hardState;
        return;
      case 'snapshotMarker': {
        const g = this.group(record.group);
        g.snapshot = { index: record.index, term: record.term };
        if (record.discardLog) {
          g.entries = [];
          g.locations.clear();
          // Every earlier segment's entries of this group were replaced by the installed snapshot.
          for (let i = 0; i < segments.length - 1; i++) segments[i]!.maxIndexByGroup.delete(record.group);
        } else {
          dropUpTo(g.entries, record.index);
          g.locations.dropUpTo(record.index);
        }
        return;
      }
      case 'entries': {
        const seg = segments[segments.length - 1]!;
        const last = record.entries[record.entries.length - 1]!;
        seg.maxIndexByGroup.set(
          record.group,
          Math.max(seg.maxIndexByGroup.get(record.group) ?? 0, last.index),
        );
        const g = this.group(record.group);
        this.appendEntries(g, record.entries, file, offsetBytes);
        let bytes = ENTRIES_RECORD_OVERHEAD_BYTES;
        for (const e of record.entries) bytes += entryBytes(e);
        g.locations.add(record.entries[0]!.index, record.entries.length, seg.seq, offsetBytes, bytes);
        g.locations.dropUpTo(g.snapshot?.index ?? 0);
        return;
      }
    }
  }

  private appendEntries(g: GroupReplay, entries: readonly Entry[], file: string, offsetBytes: number): void {
    const first = entries[0]!.index;
    const markerIndex = g.snapshot?.index ?? 0;
    const lastIndex = g.entries.length > 0 ? g.entries[g.entries.length - 1]!.index : markerIndex;
    if (first > lastIndex + 1) {
      g.entries = [];
      g.gapAt = { file, offsetBytes };
    } else if (g.entries.length > 0) {
      g.entries.length = Math.max(0, first - g.entries[0]!.index);
    }
    for (const e of entries) if (e.index > markerIndex) g.entries.push(e);
  }

  /** Where each group's recovered entries are in the segments. */
  locations(): Map<number, EntryLocations> {
    const out = new Map<number, EntryLocations>();
    for (const [id, g] of this.groups) out.set(id, g.locations);
    return out;
  }

  /** Checks that every group's entries connect to its marker, and returns the recovered groups. */
  finish(): Map<number, RecoveredGroup> {
    const out = new Map<number, RecoveredGroup>();
    for (const [id, g] of this.groups) {
      const expected = (g.snapshot?.index ?? 0) + 1;
      const first = g.entries[0];
      if (first !== undefined && first.index !== expected) {
        const at = g.gapAt ?? { file: '(unknown)', offsetBytes: 0 };
        throw new WalCorruptionError(
          at.file,
          at.offsetBytes,
          `group ${id} has entries from index ${first.index}, but its log ends at index ${expected - 1}: records are missing`,
        );
      }
      out.set(id, { hardState: g.hardState, snapshot: g.snapshot, entries: g.entries });
    }
    return out;
  }
}

/** Removes entries with index <= i from the front of a contiguous run. */
function dropUpTo(entries: Entry[], i: number): void {
  const first = entries[0];
  if (first === undefined || first.index > i) return;
  entries.splice(0, Math.min(entries.length, i - first.index + 1));
}
