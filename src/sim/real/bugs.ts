// The bugs the simulator can plant in the node or its core (`ringkv sim --bug NAME`), to show that
// its checks find them. Each maps onto a test-only switch of the node: NodeOptions.plantedBugs
// (allowed by scripts/check-layers.ts only where the node declares, passes and reads it; the core's
// reach its Config.plantedBugs) or the flag `ringkv chaos` plants the same read bug with.
import type { NodeOptions } from '../../node/options.ts';

export type RealBugName =
  | 'commitPreviousTermByCount'
  | 'voteTwiceInTerm'
  | 'skipLogUpToDateCheck'
  | 'countOwnAppendEarly'
  | 'ackBeforeSync'
  | 'forgetVoteOnRestart'
  | 'readWithoutReadIndex'
  | 'applyBeforeDurable'
  | 'skipCrcOnReplay'
  | 'forwardedWriteTwice'
  | 'applyDuplicates';

export interface RealBugInfo {
  readonly name: RealBugName;
  readonly description: string;
  /** What the node is started with to carry it. */
  readonly options: Pick<NodeOptions, 'plantedBugs' | 'unsafeNoReadIndex'>;
}

export const REAL_PLANTED_BUGS: readonly RealBugInfo[] = [
  {
    name: 'commitPreviousTermByCount',
    description:
      'the core commits an entry of an earlier term by counting replicas, the Figure 8 mistake of the Raft paper (caught as commitRule, in seeds of one entry per append)',
    options: { plantedBugs: ['commitPreviousTermByCount'] },
  },
  {
    name: 'voteTwiceInTerm',
    description:
      'the core grants its vote to a second candidate in a term it already voted in (caught as electionSafety)',
    options: { plantedBugs: ['voteTwiceInTerm'] },
  },
  {
    name: 'skipLogUpToDateCheck',
    description:
      "the core votes without checking that the candidate's log is at least as up to date as its own (caught by the core's assertion, nodeFailed, or as stateMachineSafety)",
    options: { plantedBugs: ['skipLogUpToDateCheck'] },
  },
  {
    name: 'countOwnAppendEarly',
    description:
      "the core counts the leader's own append towards the quorum before it is durable, so a group of one voter commits (and tells its learners) what a crash can still lose",
    options: { plantedBugs: ['countOwnAppendEarly'] },
  },
  {
    name: 'ackBeforeSync',
    description:
      'the driver sends append acknowledgements and votes before the WAL sync that makes them true (caught as durability)',
    options: { plantedBugs: ['ackBeforeSync'] },
  },
  {
    name: 'forgetVoteOnRestart',
    description:
      'a restart recovers term and commit but not the vote, so the node may vote twice in a term (caught as hardStateRegression)',
    options: { plantedBugs: ['forgetVoteOnRestart'] },
  },
  {
    name: 'readWithoutReadIndex',
    description:
      'linearizable reads are served from the local state without a ReadIndex round, so a deposed leader answers stale (caught as linearizability)',
    options: { unsafeNoReadIndex: true },
  },
  {
    name: 'applyBeforeDurable',
    description:
      'the driver applies committed entries while the WAL sync that makes them durable here still runs, so a follower applies past its durable log (caught as durability)',
    options: { plantedBugs: ['applyBeforeDurable'] },
  },
  {
    name: 'skipCrcOnReplay',
    description:
      'WAL replay does not verify record checksums, so a node starts on a record its disk damaged (caught as walCorruption)',
    options: { plantedBugs: ['skipCrcOnReplay'] },
  },
  {
    name: 'forwardedWriteTwice',
    description:
      'a write proposed on a node that does not lead the shard (its core forwards it to the leader) is proposed again two ticks later as a new command, without asking whether the first took effect, so it is applied twice (caught as linearizability)',
    options: { plantedBugs: ['forwardedWriteTwice'] },
  },
  {
    name: 'applyDuplicates',
    description:
      "a data shard's state applies a copy of a command it applied before (its proposer sessions not obeyed), so a follower's write proposed again after a loss, or delivered twice by the network, is applied twice (caught as linearizability)",
    options: { plantedBugs: ['applyDuplicates'] },
  },
];

export function isRealBugName(name: string): name is RealBugName {
  return REAL_PLANTED_BUGS.some((b) => b.name === name);
}

export function realBug(name: RealBugName): RealBugInfo {
  const b = REAL_PLANTED_BUGS.find((x) => x.name === name);
  if (b === undefined) throw new Error(`unknown real-node bug '${name}'`);
  return b;
}
