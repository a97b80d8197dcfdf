// The leader's bookkeeping for the whole group: the active membership configuration, one
// Progress per member, and the votes of the current election.

import { assert } from '../errors.ts';
import { sortedIds } from '../messages.ts';
import { jointCommittedIndex, jointVoteResult } from '../quorum/joint.ts';
import type { VoteResult } from '../quorum/majority.ts';
import type { ConfState, Index, NodeId } from '../types.ts';
import { index } from '../types.ts';
import type { Progress } from './progress.ts';

/** A membership configuration. Sets are treated as immutable once installed in a tracker. */
export interface TrackerConfig {
  readonly incoming: ReadonlySet<NodeId>;
  /** Non-empty only while in a joint configuration. */
  readonly outgoing: ReadonlySet<NodeId>;
  readonly learners: ReadonlySet<NodeId>;
  /** Voters of `outgoing` that become learners when the joint configuration is left. */
  readonly learnersNext: ReadonlySet<NodeId>;
  readonly autoLeave: boolean;
}

export type ProgressMap = Map<NodeId, Progress>;

export const EMPTY_TRACKER_CONFIG: TrackerConfig = {
  incoming: new Set(),
  outgoing: new Set(),
  learners: new Set(),
  learnersNext: new Set(),
  autoLeave: false,
};

export function isJoint(c: TrackerConfig): boolean {
  return c.outgoing.size > 0;
}

export function confStateOf(c: TrackerConfig): ConfState {
  return {
    voters: sortedIds(c.incoming),
    votersOutgoing: sortedIds(c.outgoing),
    learners: sortedIds(c.learners),
    learnersNext: sortedIds(c.learnersNext),
    autoLeave: c.autoLeave,
  };
}

export class ProgressTracker {
  config: TrackerConfig = EMPTY_TRACKER_CONFIG;
  progress: ProgressMap = new Map();
  /** Every tracked id, sorted: the deterministic visiting order. */
  ids: readonly NodeId[] = [];
  /** Votes of the current election: true = granted. */
  readonly votes = new Map<NodeId, boolean>();
  readonly maxInflightMsgs: number;
  readonly maxInflightBytes: number;

  constructor(maxInflightMsgs: number, maxInflightBytes: number) {
    this.maxInflightMsgs = maxInflightMsgs;
    this.maxInflightBytes = maxInflightBytes;
  }

  /** Installs a configuration and its progress map (from the Changer). */
  install(config: TrackerConfig, progress: ProgressMap): void {
    this.config = config;
    this.progress = progress;
    this.ids = sortedIds(progress.keys());
    for (const id of this.ids) {
      const inConfig = config.incoming.has(id) || config.outgoing.has(id) || config.learners.has(id);
      assert(inConfig || config.learnersNext.has(id), `progress for ${id} which is not in the configuration`);
    }
  }

  confState(): ConfState {
    return confStateOf(this.config);
  }

  isVoter(id: NodeId): boolean {
    return this.config.incoming.has(id) || this.config.outgoing.has(id);
  }

  /** True when the group has exactly one voter (so the leader decides alone). */
  isSingleton(): boolean {
    return this.config.incoming.size === 1 && this.config.outgoing.size === 0;
  }

  /** The largest index replicated on a quorum of voters. */
  committed(): Index {
    return jointCommittedIndex(this.config, this.matchOf);
  }

  private readonly matchOf = (id: NodeId): Index | undefined => this.progress.get(id)?.match;

  /** Lease reads: the latest send tick of heartbeats acknowledged by a quorum (self counts as `now`). */
  leaseStart(self: NodeId, now: number): number {
    return jointCommittedIndex(this.config, (id) =>
      id === self ? index(now) : index(this.progress.get(id)?.leaseAckTick ?? 0),
    );
  }

  /** Whether a quorum of voters was heard from recently (checkQuorum). */
  quorumActive(): boolean {
    const active = new Map<NodeId, boolean>();
    for (const id of this.ids) {
      const pr = this.progress.get(id)!;
      if (!pr.isLearner) active.set(id, pr.recentActive);
    }
    return this.voteResultOf(active) === 'won';
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Records a vote; only the first vote of each voter counts. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.ids) {
      if (!this.isVoter(id)) continue;
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    return { granted, rejected, result: this.voteResultOf(this.votes) };
  }

  voteResultOf(votes: ReadonlyMap<NodeId, boolean>): VoteResult {
    return jointVoteResult({ incoming: this.config.incoming, outgoing: this.config.outgoing }, votes);
  }

  /** Voter ids of both halves, sorted. */
  voterIds(): NodeId[] {
    return this.ids.filter((id) => this.isVoter(id));
  }
}
