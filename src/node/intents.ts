// What the modules built on the node may ask of its Raft groups: intents, never internals. Requests
// (requests.ts), membership (membership.ts), leader placement (balancer.ts), Status (status.ts) and
// the server's ClusterService are written against these interfaces, or against a narrower one of
// their own made of these methods (BalancerHost, MembershipHost, …), so that their tests can hand
// them a small fake instead of a whole node.
//
// Contract: every method that changes a group (propose, read, transferLeadership, changeMembership)
// steps the group's core and schedules the driver's next turn itself; a caller never touches a
// RawNode, a Group or the driver. Methods run on the event loop (the node is single-threaded) and
// never block: what must wait for Raft returns a promise, settled by the driver's turn (resolved)
// or by the request's deadline (UNAVAILABLE). Nothing here is retried: the callers decide.
import type {
  ConfBasis,
  ConfChange,
  ConfChangeSingle,
  ConfState,
  Index,
  NodeId,
  ProgressState,
  Role,
  Storage,
  Term,
} from '../raft/index.ts';
import type { ApplyResult } from '../storage/kv-state.ts';
import type { UnavailableError } from './errors.ts';
import type { GroupId, ShardId } from './ids.ts';
import type { KvMachine } from './kv-machine.ts';
import type { MetadataResult } from './metadata.ts';

/** A configuration change with the configuration it was planned against (see changeMembership). */
export type PlannedConfChange = ConfChange & { readonly basis: ConfBasis };

/** A proposal applied here: what the state machine returned for it, at which index and term. */
export interface Applied<R> {
  readonly result: R;
  readonly index: Index;
  readonly term: Term;
}

/** A command to propose to a group. */
export interface Proposal {
  /** The id the state machine returns when it applies the command (state-machine.ts). */
  readonly requestId: string;
  readonly command: Uint8Array;
  /** Absolute, in ms since the epoch: not applied by then, the proposal fails with `onTimeout()`. */
  readonly deadlineMs: number;
  /** The error of a missed deadline (the command may still take effect: say so, or not). */
  readonly onTimeout: () => UnavailableError;
}

/** A read of one data shard's state. */
export interface ReadRequest<T> {
  /**
   * 'linearizable': after a ReadIndex round (the leadership confirmed by a quorum) and once this
   * replica has applied up to the read index; 'serializable': at once, from this replica's state.
   */
  readonly consistency: 'linearizable' | 'serializable';
  readonly deadlineMs: number;
  readonly onTimeout: () => UnavailableError;
  /** Runs against the shard's state machine when the read may be served; its value is the answer. */
  readonly run: (machine: KvMachine) => T;
}

export interface ReadOutcome<T> {
  readonly value: T;
  /** The applied index the read was served at. */
  readonly index: Index;
  readonly term: Term;
}

export interface ReplicaProgress {
  /** Highest index known to match the leader's log. */
  readonly match: Index;
  readonly state: ProgressState;
  /** Heard from since the leader's last quorum check (at most an election timeout ago). */
  readonly recentActive: boolean;
}

/**
 * A copy of one group's state at the moment it was asked for. Role, leader, applied index and
 * configuration are as the driver last processed them (the configuration is the applied one);
 * term, commit, last index and progress are the core's own.
 */
export interface GroupStatus {
  readonly id: GroupId;
  readonly self: NodeId;
  readonly role: Role;
  /** NO_NODE ('') when no leader is known. */
  readonly leader: NodeId;
  /** This node leads, or heard from `leader` within the election timeout (a learner's `leader` outlives it). */
  readonly leaderHeard: boolean;
  readonly term: Term;
  readonly commit: Index;
  readonly applied: Index;
  readonly lastIndex: Index;
  readonly confState: ConfState;
  /**
   * When this node leads the group: the index of the last configuration change it proposed (or of
   * its first entry as leader); a change is pending while it is above `applied`. 0 otherwise.
   */
  readonly pendingConfIndex: Index;
  /** Each replica's progress, when this node leads the group; undefined otherwise. */
  readonly progress: ReadonlyMap<NodeId, ReplicaProgress> | undefined;
  /** This replica's state machine at `applied` (0 and 0 where the machine does not count). */
  readonly keys: number;
  readonly bytes: number;
}

/**
 * A live, read-only view of one hosted group (its fields change as the driver runs turns), for
 * callers that wait on them, e.g. for a leader to be known. Changing a group goes through NodeIntents.
 */
export interface GroupView {
  readonly id: GroupId;
  readonly leader: NodeId;
  readonly role: Role;
  readonly term: Term;
  readonly applied: Index;
  /** Index of the newest snapshot held. */
  readonly snapshotIndex: Index;
  /** Configuration as of `applied`. */
  readonly confState: ConfState;
  /** The group's log as this node holds it durably (read-only). */
  readonly storage: Storage;
  isLeader(): boolean;
}

/** The node's interface of intent (KvNode implements it). */
export interface NodeIntents {
  /**
   * Proposes a KV command to a data shard; resolves with its result once it is committed and
   * applied here. Fails with UnavailableError (the node is closing, the shard is not hosted, the
   * core refused the proposal: retry-safe; or the deadline passed: maybe applied) or
   * ResourceExhaustedError (too many requests waiting, too many bytes uncommitted).
   */
  propose(shard: ShardId, proposal: Proposal): Promise<Applied<ApplyResult>>;
  /** As propose, for a metadata command on METADATA_GROUP (metadata.ts). */
  proposeMetadata(proposal: Proposal): Promise<Applied<MetadataResult>>;
  /** Serves a read of a data shard; fails as propose does (a read never takes effect). */
  read<T>(shard: ShardId, request: ReadRequest<T>): Promise<ReadOutcome<T>>;
  /**
   * Asks the group's core to hand its leadership to `to` (only a leader acts on it; a transfer to a
   * replica that is behind waits for it to catch up, and is abandoned after an election timeout).
   * Throws UnavailableError when the group is not hosted here.
   */
  transferLeadership(group: GroupId, to: NodeId): void;
  /**
   * Proposes one configuration change to the group, planned against `basis` (the configuration the
   * caller saw: a group Status's confState): the group's leader refuses it unless that is still its
   * configuration, wherever the proposal was made (a follower forwards it). Throws UnavailableError
   * (retry-safe) when the core refuses it now (a change already in flight, no entry of the leader's
   * term committed yet, no leader known, the basis no longer the configuration, the change invalid
   * against it) or the group is not hosted here. A forwarded change the leader refuses is dropped
   * silently: the caller learns the outcome from the group's configuration, as it must anyway.
   */
  changeMembership(group: GroupId, change: ConfChangeSingle, basis: ConfBasis): void;
  /** A copy of one hosted group's state; undefined when the group is not hosted here. */
  status(group: GroupId): GroupStatus | undefined;
  /** A copy of every hosted group's state, ascending by group id. */
  statuses(): GroupStatus[];
}
