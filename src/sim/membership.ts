// Membership changes during faults, driven like an operator would: add a new node as a learner, wait
// until it has caught up, promote it to voter, then remove a voter (sometimes the leader itself) to
// get back to the target size. One change at a time, always through the current leader, never
// below the target number of voters (so a 3-node group never drops under 3 voters); a cluster that
// starts below the target (one voter) grows to it by learners first. Nodes are
// created when a committed configuration first names them and retired once their removal applies.

import { ProposalDroppedError } from '../raft/index.ts';
import type { ConfChange, ConfState, NodeId } from '../raft/types.ts';
import { nodeId } from '../raft/types.ts';
import type { SimNode } from './node.ts';
import type { Prng } from './prng.ts';

export interface MembershipEnv {
  leader(): SimNode | undefined;
  trace(line: string): void;
}

/** No learners are added past this node number (nodes are never reused; see Cluster's NODES_MAX). */
const NODE_NUMBER_MAX = 900;

/** A learner is promoted once its match index is within this many entries of the leader's commit. */
const CATCH_UP_LAG_ENTRIES = 5;

export class MembershipDriver {
  private readonly env: MembershipEnv;
  private readonly rng: Prng;
  private readonly targetVoters: number;
  private nextNodeNumber: number;
  stats = { proposed: 0, dropped: 0, learnersAdded: 0, promoted: 0, removed: 0, leaderRemoved: 0 };

  /** `initialVoters` (n1…) are the bootstrap members; fewer than the target grow to it by learners. */
  constructor(env: MembershipEnv, rng: Prng, targetVoters: number, initialVoters: number) {
    if (targetVoters < 3) throw new Error(`MembershipDriver: target of ${targetVoters} voters is below 3`);
    if (initialVoters < 1 || initialVoters > targetVoters)
      throw new Error(`MembershipDriver: ${initialVoters} initial voters outside [1, ${targetVoters}]`);
    this.env = env;
    this.rng = rng;
    this.targetVoters = targetVoters;
    this.nextNodeNumber = initialVoters + 1;
  }

  /** One operator step: look at the leader's configuration and propose the next change, if any. */
  step(): void {
    const leader = this.env.leader();
    if (leader === undefined || leader.paused) return; // nobody to talk to
    const cs = leader.confState;
    if (cs.votersOutgoing.length > 0) {
      // Joint configuration: with autoLeave the leader leaves it by itself; otherwise we ask.
      if (!cs.autoLeave)
        this.propose(leader, { changes: [], transition: 'auto' }, 'leave the joint configuration');
      return;
    }
    const change = this.nextChange(leader, cs);
    if (change === undefined) return;
    this.propose(leader, change.cc, change.what);
  }

  private nextChange(leader: SimNode, cs: ConfState): { cc: ConfChange; what: string } | undefined {
    const learner = cs.learners[0];
    const growing = cs.voters.length < this.targetVoters;
    if (learner !== undefined) {
      if (!this.caughtUp(leader, learner)) return undefined;
      if (!growing && this.rng.chance(0.4)) {
        // Replace a voter in one step: two voter changes go through joint consensus.
        const victim = this.rng.pick(cs.voters);
        const transition = this.rng.chance(0.5) ? 'auto' : 'explicit';
        const cc: ConfChange = {
          changes: [
            { type: 'addVoter', nodeId: learner },
            { type: 'removeNode', nodeId: victim },
          ],
          transition,
        };
        return { cc, what: `replace ${victim} by ${learner} (joint, ${transition} leave)` };
      }
      return { cc: single('addVoter', learner), what: `promote ${learner}` };
    }
    if (cs.voters.length > this.targetVoters) {
      // Remove the leader itself about a third of the time: it must hand over and step down.
      const victim = this.rng.chance(0.35)
        ? leader.id
        : this.rng.pick(cs.voters.filter((v) => v !== leader.id));
      return {
        cc: single('removeNode', victim),
        what: `remove ${victim}${victim === leader.id ? ' (the leader)' : ''}`,
      };
    }
    // Below the target (a cluster growing from one voter, as nodes join) a learner is always added.
    if (
      cs.voters.length <= this.targetVoters &&
      this.nextNodeNumber < NODE_NUMBER_MAX &&
      (growing || this.rng.chance(0.7))
    ) {
      const id = nodeId(`n${this.nextNodeNumber++}`);
      return { cc: single('addLearner', id), what: `add learner ${id}` };
    }
    return undefined;
  }

  private caughtUp(leader: SimNode, learner: NodeId): boolean {
    const progress = leader.core().status().progress?.get(learner);
    return progress !== undefined && progress.match + CATCH_UP_LAG_ENTRIES >= leader.commit;
  }

  private propose(leader: SimNode, cc: ConfChange, what: string): void {
    this.stats.proposed++;
    try {
      leader.core().proposeConfChange(cc);
      this.env.trace(`membership: ${leader.id} proposes ${what}`);
      this.count(cc, leader.id);
      leader.drive();
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err;
      this.stats.dropped++;
      this.env.trace(`membership: ${what} dropped (${err.reason})`);
    }
  }

  private count(cc: ConfChange, leaderId: NodeId): void {
    for (const c of cc.changes) {
      if (c.type === 'addLearner') this.stats.learnersAdded++;
      else if (c.type === 'addVoter') this.stats.promoted++;
      else {
        this.stats.removed++;
        if (c.nodeId === leaderId) this.stats.leaderRemoved++;
      }
    }
  }
}

function single(type: 'addVoter' | 'addLearner' | 'removeNode', id: NodeId): ConfChange {
  return { changes: [{ type, nodeId: id }], transition: 'auto' };
}

/** Every node a configuration mentions. */
export function membersOf(cs: ConfState): NodeId[] {
  return [...new Set([...cs.voters, ...cs.votersOutgoing, ...cs.learners, ...cs.learnersNext])];
}
