// Configuration of one Raft node, with defaults and validation. Validation failures are
// ConfigError (a caller mistake), not invariant violations.

import { ConfigError } from './errors.ts';
import type { Storage } from './storage.ts';
import type { Index, NodeId, Rng } from './types.ts';
import { index, NO_NODE } from './types.ts';

/** Deliberate protocol bugs the simulator plants to prove its checkers can find them. */
export type PlantedBug =
  | 'commitPreviousTermByCount' // leader commits an earlier-term entry by counting replicas (Figure 8 violation)
  | 'voteTwiceInTerm' // a node grants a vote to a second candidate in the same term
  | 'skipLogUpToDateCheck' // votes without checking the candidate's log is at least as up to date
  | 'countOwnAppendEarly'; // the leader counts its own append towards the quorum before it is durable

export type ReadOnlyOption = 'safe' | 'leaseBased';

export interface Config {
  id: NodeId;
  storage: Storage;
  rng: Rng;
  electionTick?: number;
  heartbeatTick?: number;
  applied?: Index;
  maxSizePerMsgBytes?: number;
  maxInflightMsgs?: number;
  maxInflightBytes?: number;
  maxUncommittedEntriesBytes?: number;
  maxCommittedSizePerReadyBytes?: number;
  snapshotChunkBytesMax?: number;
  preVote?: boolean;
  checkQuorum?: boolean;
  readOnlyOption?: ReadOnlyOption;
  plantedBugs?: ReadonlySet<PlantedBug>;
}

/** Config with every default filled in and checked. */
export interface ResolvedConfig {
  readonly id: NodeId;
  readonly storage: Storage;
  readonly rng: Rng;
  readonly electionTick: number;
  readonly heartbeatTick: number;
  readonly applied: Index;
  readonly maxSizePerMsgBytes: number;
  readonly maxInflightMsgs: number;
  readonly maxInflightBytes: number;
  readonly maxUncommittedEntriesBytes: number;
  readonly maxCommittedSizePerReadyBytes: number;
  readonly snapshotChunkBytesMax: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly readOnlyOption: ReadOnlyOption;
  readonly plantedBugs: ReadonlySet<PlantedBug>;
}

const MiB = 1024 * 1024;
const NO_BUGS: ReadonlySet<PlantedBug> = new Set();

export function resolveConfig(c: Config): ResolvedConfig {
  const r: ResolvedConfig = {
    id: c.id,
    storage: c.storage,
    rng: c.rng,
    electionTick: c.electionTick ?? 10,
    heartbeatTick: c.heartbeatTick ?? 1,
    applied: c.applied ?? index(0),
    maxSizePerMsgBytes: c.maxSizePerMsgBytes ?? MiB,
    maxInflightMsgs: c.maxInflightMsgs ?? 256,
    maxInflightBytes: c.maxInflightBytes ?? 16 * MiB,
    maxUncommittedEntriesBytes: c.maxUncommittedEntriesBytes ?? 64 * MiB,
    maxCommittedSizePerReadyBytes: c.maxCommittedSizePerReadyBytes ?? 64 * MiB,
    snapshotChunkBytesMax: c.snapshotChunkBytesMax ?? MiB,
    preVote: c.preVote ?? true,
    checkQuorum: c.checkQuorum ?? true,
    readOnlyOption: c.readOnlyOption ?? 'safe',
    plantedBugs: c.plantedBugs ?? NO_BUGS,
  };
  validate(r);
  return r;
}

function validate(r: ResolvedConfig): void {
  const fail = (what: string): never => {
    throw new ConfigError(`invalid raft config for node '${r.id}': ${what}`);
  };
  if (r.id === NO_NODE) fail('id must not be empty');
  if (!Number.isInteger(r.heartbeatTick) || r.heartbeatTick <= 0)
    fail(`heartbeatTick ${r.heartbeatTick} <= 0`);
  if (!Number.isInteger(r.electionTick) || r.electionTick <= r.heartbeatTick) {
    fail(`electionTick ${r.electionTick} must be an integer greater than heartbeatTick ${r.heartbeatTick}`);
  }
  if (r.maxInflightMsgs <= 0) fail(`maxInflightMsgs ${r.maxInflightMsgs} must be positive`);
  if (r.maxInflightBytes < 0) fail(`maxInflightBytes ${r.maxInflightBytes} must be >= 0 (0 = unlimited)`);
  if (r.maxInflightBytes !== 0 && r.maxInflightBytes < r.maxSizePerMsgBytes) {
    fail(`maxInflightBytes ${r.maxInflightBytes} must be >= maxSizePerMsgBytes ${r.maxSizePerMsgBytes}`);
  }
  if (r.maxSizePerMsgBytes <= 0) fail(`maxSizePerMsgBytes ${r.maxSizePerMsgBytes} must be positive`);
  if (r.maxUncommittedEntriesBytes <= 0) fail('maxUncommittedEntriesBytes must be positive');
  if (r.maxCommittedSizePerReadyBytes <= 0) fail('maxCommittedSizePerReadyBytes must be positive');
  if (!Number.isInteger(r.snapshotChunkBytesMax) || r.snapshotChunkBytesMax <= 0) {
    fail(`snapshotChunkBytesMax ${r.snapshotChunkBytesMax} must be a positive integer`);
  }
  if (r.readOnlyOption === 'leaseBased' && !r.checkQuorum) {
    fail(
      "readOnlyOption 'leaseBased' requires checkQuorum (the lease is only sound while quorum is checked)",
    );
  }
}
