// What the real-node simulator checks, by the name it prints, and the error a check throws: the
// run loop catches it, records it with the trace excerpt and ends the seed.

export type RealProperty =
  | 'electionSafety'
  | 'commitMonotonic'
  | 'stateMachineSafety'
  | 'commitRule'
  | 'hardStateRegression'
  | 'durability'
  | 'replicaConvergence'
  | 'liveness'
  | 'linearizability'
  | 'simulatorError'
  | 'lostWrite'
  | 'nodeFailed'
  | 'tableQuorum'
  | 'walCorruption';

export const REAL_PROPERTY_EXPLANATIONS: Readonly<Record<RealProperty, string>> = {
  electionSafety: 'at most one leader can be elected in a given term (Raft §5.2)',
  commitMonotonic:
    'a replica never applies past its commit index, and its commit never decreases while it runs',
  stateMachineSafety: 'no two replicas of a group apply different entries at the same index (Raft §5.4.3)',
  commitRule:
    "a leader advances its commit index only to an entry of its own term, never an earlier one by counting replicas (Raft §5.4.2, the paper's Figure 8)",
  hardStateRegression:
    'a restarted node comes back with at least the term of every message it sent, and the vote it granted in it',
  durability:
    'an append is acknowledged, a vote granted and an entry applied only once the log and hard state it vouches for are in the durable log',
  replicaConvergence: 'after healing, every live replica applies the same entries and holds the same state',
  liveness: 'after the network heals and every machine is up, a leader is elected and every request resolves',
  linearizability: 'the client history is linearizable against a sequential key-value map',
  simulatorError: 'the simulator itself failed (a bug or an exhausted bound in src/sim, not in the node)',
  lostWrite:
    'after healing, the value of every key is that of its last acknowledged write or of a write that may follow it',
  nodeFailed:
    'a running node stopped (fatal error, failed start or broken assertion) without a fault that explains it',
  tableQuorum:
    "once formed, a shard's voters in the newest shard table hold a majority of each half of the shard's newest applied configuration (requests routed by the table reach a quorum)",
  walCorruption:
    'a node whose WAL holds a damaged record refuses to start, naming the file and the way out (move the data directory aside, re-add the node)',
};

export class RealViolation extends Error {
  override readonly name = 'RealViolation';
  readonly code = 'SIM_VIOLATION';
  readonly property: RealProperty;
  readonly detail: string;

  constructor(property: RealProperty, detail: string) {
    super(`${property}: ${detail}`);
    this.property = property;
    this.detail = detail;
  }
}
