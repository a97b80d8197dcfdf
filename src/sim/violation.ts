// The error a simulator check throws when a property is violated. The run loop catches it, records
// the violation with the trace excerpt, and ends the seed (the first violation is the interesting one).

export type Property =
  | 'electionSafety'
  | 'logMatching'
  | 'leaderCompleteness'
  | 'stateMachineSafety'
  | 'commitMonotonic'
  | 'hardStateRegression'
  | 'durability'
  | 'replicaConvergence'
  | 'liveness'
  | 'linearizability'
  | 'coreAssertion'
  | 'simulatorError';

/** One line per property, for reports and the README. */
export const PROPERTY_EXPLANATIONS: Readonly<Record<Property, string>> = {
  electionSafety: 'at most one leader can be elected in a given term (Raft §5.2)',
  logMatching: 'two logs with an entry of the same index and term are identical up to it (Raft §5.3)',
  leaderCompleteness: 'a committed entry is present in the log of every leader of a later term (Raft §5.4)',
  stateMachineSafety: 'no two nodes apply different entries at the same index (Raft §5.4.3)',
  commitMonotonic: "a node's commit index never decreases, and never falls below what it made durable",
  hardStateRegression:
    'persisted hard state never regresses (term never decreases, vote fixed within a term)',
  durability: 'what a node acknowledged as durable survives its crash',
  replicaConvergence: 'after healing, every live replica applies the same entries and holds the same state',
  liveness: 'after the network heals and a quorum is up, a leader is elected and every request resolves',
  linearizability: 'the client history is linearizable against a sequential key-value map',
  coreAssertion: 'the Raft core threw an unexpected error (a broken internal invariant)',
  simulatorError: 'the simulator itself failed (a bug or an exhausted bound in src/sim, not in the core)',
};

export class SimViolation extends Error {
  override readonly name = 'SimViolation';
  readonly code = 'SIM_VIOLATION';
  readonly property: Property;
  readonly detail: string;

  constructor(property: Property, detail: string) {
    super(`${property}: ${detail}`);
    this.property = property;
    this.detail = detail;
  }
}
