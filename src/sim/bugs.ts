// Bugs that can be planted to show the simulator has teeth: four in the Raft core (switched on via
// Config.plantedBugs) and three in the simulator's own driver. Each one is a mistake
// real Raft implementations have made.
import type { PlantedBug } from '../raft/index.ts';

export type SimBug = 'ackBeforeSync' | 'forgetVoteOnRestart' | 'staleLocalReads';
export type BugName = PlantedBug | SimBug;

export interface BugInfo {
  readonly name: BugName;
  readonly layer: 'core' | 'driver';
  readonly description: string;
}

export const PLANTED_BUGS: readonly BugInfo[] = [
  {
    name: 'commitPreviousTermByCount',
    layer: 'core',
    description: 'the leader commits an entry of an earlier term by counting replicas (the Figure 8 mistake)',
  },
  {
    name: 'voteTwiceInTerm',
    layer: 'core',
    description: 'a node grants its vote to a second candidate in a term it already voted in',
  },
  {
    name: 'skipLogUpToDateCheck',
    layer: 'core',
    description:
      "a node votes without checking that the candidate's log is at least as up to date as its own",
  },
  {
    name: 'countOwnAppendEarly',
    layer: 'core',
    description:
      'the leader counts its own append towards the quorum before it is durable, so a group of one voter commits (and tells its learners) what a crash can still lose',
  },
  {
    name: 'ackBeforeSync',
    layer: 'driver',
    description:
      'the driver sends acks and votes before fsync (syncing lazily), so a crash loses what it acknowledged',
  },
  {
    name: 'forgetVoteOnRestart',
    layer: 'driver',
    description:
      'the driver restores term and commit after a crash but not the vote, so it may vote twice in a term',
  },
  {
    name: 'staleLocalReads',
    layer: 'driver',
    description: "the driver answers 'linearizable' reads from its local state machine without ReadIndex",
  },
];

const SIM_BUGS: readonly string[] = ['ackBeforeSync', 'forgetVoteOnRestart', 'staleLocalReads'];

export function isBugName(name: string): name is BugName {
  return PLANTED_BUGS.some((b) => b.name === name);
}

export function isSimBug(name: BugName): name is SimBug {
  return SIM_BUGS.includes(name);
}
