// What a Raft group applies its committed commands to. The metadata group applies metadata commands
// (MetadataState in metadata.ts); data shards apply KV commands (kv-machine.ts over
// src/storage/kv-state.ts). `R` is the type of what applying a command returns to its proposer.
import type { Index } from '../raft/types.ts';
import type { SnapshotSource } from '../storage/snapshot-source.ts';
import type { Random } from './random.ts';

/**
 * What applying one command gave: its result, or `skipped` (KvMachine only) when the command did not
 * take effect and never will (a copy of one applied before, or one its proposer sent after a later
 * one: src/storage/proposer-sessions.ts). `requestId` is the id the proposer waits on (unique per
 * proposing node and incarnation).
 */
export type ApplyOutcome<R = unknown> = CommandApplied<R> | CommandSkipped;

export interface CommandApplied<R> {
  readonly requestId: string;
  readonly result: R;
  readonly skipped?: undefined;
}

export interface CommandSkipped {
  readonly requestId: string;
  readonly skipped: true;
}

export interface StateMachine<R = unknown> {
  /** Applies a command committed at `index`. */
  apply(index: Index, command: Uint8Array): ApplyOutcome<R>;
  /** The whole state, serialised (for a snapshot at the last applied index). */
  snapshot(): Uint8Array;
  /**
   * The same bytes, a slice at a time: the state as it is now is captured (cheaply), and the source
   * serialises that capture as its slices are asked for, while commands go on being applied.
   * Absent: snapshot() is cheap enough to call at once.
   */
  snapshotSource?(): SnapshotSource;
  /** Replaces the whole state with a snapshot's bytes (empty bytes: the empty state). */
  restore(data: Uint8Array): void;
  /**
   * Whether the command of `requestId` is settled in this state: applied, or never to be (its
   * proposer's session holds its seq or a later one). Absent: the machine keeps no sessions.
   */
  settled?(requestId: string): boolean;
  /** What the state holds, for Status: entries and their bytes (absent: not counted). */
  size?(): StateSize;
}

export interface StateSize {
  /** Live entries (keys of a KV shard). */
  readonly keys: number;
  /** Their key plus value bytes. */
  readonly bytes: number;
}

/** Request ids of one node incarnation: (clientId, seq) as in src/storage/command.ts. */
export class RequestIds {
  /** Random per process start, so ids never repeat across restarts. Below 2^48: a safe integer. */
  readonly clientId: number;
  private seq = 0;

  constructor(random: Random) {
    this.clientId = random.nextInt(2 ** 48);
  }

  next(): { clientId: number; seq: number } {
    this.seq++;
    return { clientId: this.clientId, seq: this.seq };
  }
}

export function requestKey(clientId: number, seq: number): string {
  return `${clientId}:${seq}`;
}

/** The (clientId, seq) of a requestKey; undefined for an id of another form. */
export function parseRequestKey(id: string): { clientId: number; seq: number } | undefined {
  const colon = id.indexOf(':');
  if (colon <= 0) return undefined;
  const clientId = Number(id.slice(0, colon));
  const seq = Number(id.slice(colon + 1));
  if (!Number.isSafeInteger(clientId) || !Number.isSafeInteger(seq)) return undefined;
  return { clientId, seq };
}
