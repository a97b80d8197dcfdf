// The vocabulary of the consensus core: identifiers, log entries, messages, configuration changes
// and the effects the core hands to its driver. Nothing in this file does anything; it is the
// contract between src/raft and everything that drives it (the simulator, the node).

/** A Raft term. Invariant: never decreases on a node, persisted before it is acted upon. */
export type Term = number & { readonly __brand: 'Term' };
/** A log position; the first real entry has index 1, index 0 means "nothing". */
export type Index = number & { readonly __brand: 'Index' };
/** A member of one Raft group. Opaque, compared with ===, ordered with < for determinism. */
export type NodeId = string & { readonly __brand: 'NodeId' };

export const term = (n: number): Term => n as Term;
export const index = (n: number): Index => n as Index;
export const nodeId = (s: string): NodeId => s as NodeId;
/** The absence of a node (no vote cast, no leader known). */
export const NO_NODE = '' as NodeId;

export type EntryType = 'normal' | 'confChange';

export interface Entry {
  readonly term: Term;
  readonly index: Index;
  readonly type: EntryType;
  /** Application payload; for 'confChange' the bytes of encodeConfChange(). Empty for the leader's no-op. */
  readonly data: Uint8Array;
}

/** What must survive a crash besides the log. Invariant: term never decreases; vote is per term. */
export interface HardState {
  readonly term: Term;
  readonly vote: NodeId;
  readonly commit: Index;
}

/** The membership of a group. During a joint change, votersOutgoing is non-empty. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly votersOutgoing: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /** Voters of the outgoing half that become learners when the joint configuration is left. */
  readonly learnersNext: readonly NodeId[];
  /** True when leaving the joint configuration is proposed automatically by the leader. */
  readonly autoLeave: boolean;
}

export interface SnapshotMetadata {
  readonly index: Index;
  readonly term: Term;
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  /** The application's serialised state machine at metadata.index. */
  readonly data: Uint8Array;
}

export type ConfChangeType = 'addVoter' | 'addLearner' | 'removeNode';

export interface ConfChangeSingle {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
}

/**
 * A membership change. An empty `changes` list means "leave the joint configuration".
 * More than one voter change always goes through joint consensus; `transition` says who leaves it.
 */
export interface ConfChange {
  readonly changes: readonly ConfChangeSingle[];
  readonly transition: 'auto' | 'explicit';
  /**
   * The configuration the change was planned against. When set, a leader refuses the change
   * ('confChanged') unless its configuration is this one: a change decided on a stale view (a
   * node that lost the leadership and forwards its proposal to the new leader) never lands on a
   * configuration it was not meant for. Checked where the leader accepts the proposal, which is
   * enough: a leader accepts a change only once every change before it in its log is applied, so
   * the configuration it checks is the one the entry will be applied to, on every replica.
   */
  readonly basis?: ConfBasis;
}

/** The members of a configuration by role (a ConfState without the way a joint one is left). */
export type ConfBasis = Pick<ConfState, 'voters' | 'votersOutgoing' | 'learners' | 'learnersNext'>;

export type MessageType =
  // local inputs (never sent over the network)
  | 'hup'
  | 'beat'
  | 'checkQuorum'
  | 'unreachable'
  | 'snapStatus'
  // proposals and reads forwarded to the leader
  | 'prop'
  | 'readIndex'
  | 'readIndexResp'
  | 'transferLeader'
  // replication
  | 'app'
  | 'appResp'
  | 'heartbeat'
  | 'heartbeatResp'
  | 'snap'
  // elections
  | 'vote'
  | 'voteResp'
  | 'preVote'
  | 'preVoteResp'
  | 'timeoutNow';

/**
 * One Raft message. Fields that a type does not use are left at their zero value
 * (0, NO_NODE, false, empty array) so that messages are plain data that serialise trivially.
 */
export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
  /** app: term of the entry before `entries`; vote: term of the candidate's last entry. */
  readonly logTerm: Term;
  /**
   * app: index before `entries`; appResp: highest matched (or rejected) index; vote: candidate's
   * last index; heartbeat/heartbeatResp: the leader's lease clock in ticks, echoed (lease reads only).
   */
  readonly index: Index;
  readonly entries: readonly Entry[];
  readonly commit: Index;
  /** appResp/voteResp/preVoteResp/snapStatus: the request was refused. */
  readonly reject: boolean;
  /** appResp with reject: the follower's hint for fast back-off (its last index, or conflicting index). */
  readonly rejectHint: Index;
  /** appResp with reject: the term of the follower's entry at rejectHint (fast back-off by term). */
  readonly hintTerm: Term;
  /** snap: one chunk of a snapshot. */
  readonly snapshot?: SnapshotChunk;
  /** readIndex/readIndexResp/heartbeat/heartbeatResp: the read request context. */
  readonly context: Uint8Array;
}

/** InstallSnapshot travels in chunks of at most Config.snapshotChunkBytesMax bytes. */
export interface SnapshotChunk {
  readonly metadata: SnapshotMetadata;
  /** Byte offset of `data` within the whole snapshot. */
  readonly offset: number;
  readonly data: Uint8Array;
  /** Total size of the snapshot in bytes. */
  readonly totalBytes: number;
  readonly done: boolean;
}

/** A linearizable read became safe: once the state machine has applied `index`, serve `context`. */
export interface ReadState {
  readonly index: Index;
  readonly context: Uint8Array;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

export interface SoftState {
  readonly leader: NodeId;
  readonly role: Role;
}

/**
 * The effects the driver must carry out, in this order:
 * 1. persist `hardState`, `entries` and `snapshot` (durably when `mustSync`),
 * 2. send `messages` (they may depend on what was just persisted),
 * 3. apply `committedEntries` in order (and install `snapshot` into the state machine),
 * 4. hand `readStates` to waiting readers once the state machine has applied their index,
 * then call `advance()`.
 */
export interface Ready {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly entries: readonly Entry[];
  readonly snapshot?: Snapshot;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
  readonly mustSync: boolean;
}

/** A seeded, deterministic source of randomness, injected into the core. */
export interface Rng {
  /** An integer uniformly drawn from [0, n). */
  nextInt(n: number): number;
}
