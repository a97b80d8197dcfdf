// The two error channels of the core. A broken invariant is a bug: `assert` throws a plain Error
// carrying the values involved. An expected failure (no leader, too many uncommitted bytes, a
// compacted index) is a typed error with a stable `code` that callers may switch on.

import type { NodeId } from './types.ts';

/** Throws when an invariant does not hold; `message` should carry the offending values. */
export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`raft invariant violated: ${message}`);
}

export type ProposalDropReason =
  | 'noLeader'
  | 'notLeader'
  | 'transferring'
  | 'uncommittedBytesExceeded'
  | 'confChangeInFlight'
  | 'noOwnTermEntryCommitted'
  | 'invalidConfChange'
  /** A conf change with a basis that is not the leader's configuration (ConfChange.basis). */
  | 'confChanged';

/** A proposal (or conf change) was not accepted; retry later, possibly at `leader`. */
export class ProposalDroppedError extends Error {
  override readonly name = 'ProposalDroppedError';
  readonly code = 'PROPOSAL_DROPPED';
  readonly reason: ProposalDropReason;
  /** Hint: the leader this node knows of, NO_NODE ('') if none. */
  readonly leader: NodeId;

  constructor(reason: ProposalDropReason, leader: NodeId, detail = '') {
    super(`proposal dropped: ${reason}${detail === '' ? '' : ` (${detail})`}`);
    this.reason = reason;
    this.leader = leader;
  }
}

/** The requested index lies at or before the storage's compaction point. */
export class CompactedError extends Error {
  override readonly name = 'CompactedError';
  readonly code = 'LOG_COMPACTED';
  constructor(index: number, firstIndex: number) {
    super(`index ${index} is compacted (first available index is ${firstIndex})`);
  }
}

/** The requested index lies beyond the last stored entry. */
export class UnavailableError extends Error {
  override readonly name = 'UnavailableError';
  readonly code = 'LOG_UNAVAILABLE';
  constructor(index: number, lastIndex: number) {
    super(`index ${index} is unavailable (last index is ${lastIndex})`);
  }
}

/** A snapshot older than the one already held was offered to storage. */
export class SnapshotOutOfDateError extends Error {
  override readonly name = 'SnapshotOutOfDateError';
  readonly code = 'SNAPSHOT_OUT_OF_DATE';
  constructor(offered: number, held: number) {
    super(`snapshot at index ${offered} is older than the held snapshot at index ${held}`);
  }
}

/**
 * The storage's snapshot bytes are not at hand right now (etcd's ErrSnapshotTemporarilyUnavailable):
 * they are being read back from disk. The leader sends nothing this time and asks again later.
 */
export class SnapshotTemporarilyUnavailableError extends Error {
  override readonly name = 'SnapshotTemporarilyUnavailableError';
  readonly code = 'SNAPSHOT_TEMPORARILY_UNAVAILABLE';
  readonly index: number;
  constructor(index: number) {
    super(`the bytes of the snapshot at index ${index} are being read back; ask again later`);
    this.index = index;
  }
}

/**
 * Entries the storage holds on disk only are not at hand right now: they are being read back. The
 * leader sends the follower nothing this time and tries again at its next heartbeat response, as for
 * a snapshot (SnapshotTemporarilyUnavailableError). Never thrown for entries not yet applied.
 */
export class EntriesTemporarilyUnavailableError extends Error {
  override readonly name = 'EntriesTemporarilyUnavailableError';
  readonly code = 'ENTRIES_TEMPORARILY_UNAVAILABLE';
  readonly index: number;
  constructor(index: number) {
    super(`the entries from index ${index} are being read back from disk; ask again later`);
    this.index = index;
  }
}

/** A membership change that cannot be applied to the current configuration. */
export class ConfChangeError extends Error {
  override readonly name = 'ConfChangeError';
  readonly code = 'INVALID_CONF_CHANGE';
}

/** Config values that do not make sense together. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'INVALID_CONFIG';
}
