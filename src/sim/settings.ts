// Everything that shapes one simulated run, derived from the seed and the command-line options:
// cluster size, Raft timing, snapshot cadence, client load, fault mix. Planted bugs tilt the fault
// mix towards the situations that expose them (a bug that is never exercised proves nothing).
import type { PlantedBug } from '../raft/index.ts';
import type { BugName, SimBug } from './bugs.ts';
import { isSimBug } from './bugs.ts';
import type { ClientSettings } from './clients.ts';
import { ALL_PARTITIONS, DEFAULT_FAULT_WEIGHTS, type FaultSettings } from './faults.ts';
import type { NodeSettings } from './node.ts';
import type { Prng } from './prng.ts';

export interface RunOptions {
  /** Cluster size (3, 5 or 7); derived from the seed when absent. */
  readonly nodes?: number;
  /** Fault-phase length in ticks (one tick is TICK_MS of virtual time). */
  readonly steps: number;
  readonly bug?: BugName;
  /** Keep the full trace in memory (it is always hashed). */
  readonly trace?: boolean;
}

export interface SimSettings {
  readonly nodes: number;
  readonly faultSteps: number;
  readonly bug: BugName | undefined;
  readonly node: NodeSettings;
  readonly clients: ClientSettings;
  readonly faults: FaultSettings;
  /** Membership changes every this many ms on average (0 = never). */
  readonly membershipEveryMs: number;
  /** Nodes tick at slightly different rates. */
  readonly clockSkew: boolean;
  /** Crashes may keep a prefix of unsynced writes and tear the last one. */
  readonly tornWrites: boolean;
  /** With ackBeforeSync, the lazy background fsync period. */
  readonly lazySyncEveryMs: number;
  /** After healing: a leader must appear and the probes must complete within this. */
  readonly livenessBoundMs: number;
  /**
   * The cluster starts as one voter and grows to `nodes` by adding learners and promoting them, as
   * the real node's bootstrap and joins do (membership changes are then always on).
   */
  readonly growFromOne: boolean;
}

export const CLUSTER_SIZES: readonly number[] = [3, 5, 7];

export function settingsFor(rng: Prng, options: RunOptions): SimSettings {
  const nodes = options.nodes ?? rng.pick([3, 3, 3, 5, 5, 7]);
  if (!CLUSTER_SIZES.includes(nodes)) throw new Error(`settingsFor: cluster size ${nodes} is not 3, 5 or 7`);
  const bug = options.bug;
  const coreBugs = bug !== undefined && !isSimBug(bug) ? new Set<PlantedBug>([bug]) : undefined;
  const simBugs = new Set<SimBug>(bug !== undefined && isSimBug(bug) ? [bug] : []);
  // The Figure 8 bug needs a leader to replicate an old entry to a quorum before its own no-op:
  // one entry per message and a short pipeline make that common.
  const figure8 = bug === 'commitPreviousTermByCount';
  const checkQuorum = figure8 ? rng.chance(0.3) : rng.chance(0.8);
  const maxSizePerMsgBytes = figure8 ? 1 : rng.pick([1, 256, 4096, 1 << 20]);
  const node: NodeSettings = {
    electionTick: 10,
    heartbeatTick: 2,
    snapshotEveryEntries: rng.pick([0, 10, 25, 60]),
    compactionLagEntries: rng.pick([0, 3, 20]),
    maxSizePerMsgBytes,
    maxInflightMsgs: figure8 ? rng.pick([1, 2]) : rng.pick([1, 2, 16, 256]),
    preVote: figure8 ? rng.chance(0.3) : rng.chance(0.8),
    checkQuorum,
    // Small chunks make snapshot transfers multi-message, so chunk loss and restarts get exercised.
    snapshotChunkBytesMax: rng.pick([64, 512, 1 << 20]),
    // The core requires maxInflightBytes >= maxSizePerMsgBytes; a tight byte budget throttles the pipeline.
    maxInflightBytes: Math.max(maxSizePerMsgBytes, rng.pick([512, 1 << 24])),
    maxUncommittedEntriesBytes: rng.pick([1024, 1 << 26]),
    // Lease reads are sound here because every node's ticks run at the same rate (no clock drift).
    readOnlyOption: checkQuorum && rng.chance(0.25) ? 'leaseBased' : 'safe',
    coreBugs,
    simBugs,
  };
  const clients: ClientSettings = {
    clients: figure8 ? 5 : rng.intBetween(2, 5),
    keys: rng.pick([1, 3, 5]),
    opTimeoutMs: 1_500,
    readAttemptMs: 400,
    thinkMinMs: 20,
    thinkMaxMs: figure8 ? 40 : rng.pick([150, 400]),
    opsMax: 600,
  };
  const faults = faultSettingsFor(rng, bug, node.readOnlyOption === 'safe');
  const membershipEveryMs = rng.chance(0.6) ? rng.pick([300, 1_000]) : 0;
  const clockSkew = node.readOnlyOption === 'safe' && rng.chance(0.5);
  const tornWrites = rng.chance(0.7);
  // Drawn last, so that the settings above stay what they were for every seed. A group of one voter
  // (and a learner) is where a leader counting its own undurable append would commit at once.
  const growFromOne = bug === 'countOwnAppendEarly' || rng.chance(0.25);
  return {
    nodes,
    faultSteps: options.steps,
    bug,
    node,
    clients,
    faults,
    membershipEveryMs: growFromOne && membershipEveryMs === 0 ? 300 : membershipEveryMs,
    clockSkew,
    tornWrites,
    lazySyncEveryMs: 200,
    livenessBoundMs: 10_000,
    growFromOne,
  };
}

function faultSettingsFor(rng: Prng, bug: BugName | undefined, pauses: boolean): FaultSettings {
  const weights = { ...DEFAULT_FAULT_WEIGHTS };
  // Bugs about durability and votes show up around crashes and elections: crash and cut more.
  if (bug === 'ackBeforeSync' || bug === 'forgetVoteOnRestart') weights.crash = 45;
  if (bug === 'voteTwiceInTerm' || bug === 'skipLogUpToDateCheck') weights.partition = 30;
  const figure8 = bug === 'commitPreviousTermByCount';
  if (figure8) {
    weights.crash = 35;
    weights.partition = 35;
    weights.heal = 25;
  }
  return {
    faultEveryMs: figure8 ? 100 : rng.pick([100, 250, 600]),
    weights,
    downMinMs: 10,
    downMaxMs: figure8 ? 300 : rng.pick([200, 1_000, 3_000]),
    transfers: true,
    pauses,
    partitionKinds: figure8 ? ['isolateLeader', 'isolateLeader', 'halves'] : ALL_PARTITIONS,
    leaderCrashRate: figure8 ? 0.8 : 0.4,
    newLeaderCrashRate: figure8 ? 0.6 : rng.pick([0.02, 0.1, 0.3]),
    newLeaderCrashMaxMs: 20,
  };
}
