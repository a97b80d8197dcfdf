// Which shard replicas a node keeps: the decision `reconcileShards` (node.ts) takes for each shard
// after every metadata change, from the shard table and the shard's own applied configuration here.
// Pure, so that each rule has a test of its own (hosting.test.ts).
import type { ConfState, NodeId } from '../raft/types.ts';
import { type MemberState, replicasOf, type ShardEntry } from '../ring/shard-table.ts';
import { UnavailableError } from './errors.ts';

export interface HostingInput {
  readonly self: string;
  /** The shard as the table this node applied has it. */
  readonly entry: ShardEntry;
  /** The shard's applied configuration here; undefined when this node does not host it. */
  readonly confState: ConfState | undefined;
  /**
   * The applied configuration listed this node (a voter of either half, or a learner) at an earlier
   * reconcile of this incarnation.
   */
  readonly listedBefore: boolean;
  /**
   * This node's metadata group has applied all it knows to be committed (the table is the newest it
   * knows, not one it replays after a restart on the way to a newer one).
   */
  readonly tableCurrent: boolean;
}

/** `host`: keep it, or start it (empty) when not hosted; `drop`: delete the replica; `leave`: nothing. */
export type Hosting = 'host' | 'drop' | 'leave';

/**
 * - The table gives the node a replica (a voter, a learner, either end of a move; a move's source
 *   until cleanup): host it.
 * - The table's move of the shard is at cleanup with this node as its source: drop it. The table
 *   records cleanup only once the shard's leader applied a configuration without the source, so no
 *   quorum needs this copy, whatever configuration the source applied itself: a source cut off
 *   before its removal reached it still lists itself as a voter (and knows no leader), and a source
 *   restarted after applying its removal never saw itself listed in this incarnation. Waiting for its
 *   own configuration would keep the data, and the move at cleanup, until the move's step timeout
 *   (and the data forever). Only from the newest table the node knows: an older one replayed at a
 *   restart may be followed by a move of the shard back here.
 * - Otherwise drop it only when the node's applied configuration listed it at an earlier reconcile
 *   and no longer lists it (no voter of either half, nor a learner): a joiner replays the log through
 *   configurations without itself while the table lists it only after the join (at most R members),
 *   and must not lose what it has. A voter of the outgoing half is still listed: a restarted node's
 *   configuration is its snapshot's until it applies the log after it, and a snapshot taken while a
 *   move took this node out (joint, this node outgoing) may be followed in that log by a move that
 *   brings it back (`ringkv sim --nodes 5`, seed 319099: the restarted member deleted the replica of
 *   a shard it was a voter of). Its own departure is the table's cleanup, above.
 */
export function hosting(i: HostingInput): Hosting {
  const move = i.entry.move;
  const cleanupSource = move?.step === 'cleanup' && move.source === i.self;
  if (!cleanupSource && replicasOf(i.entry).includes(i.self)) return 'host';
  const cs = i.confState;
  if (cs === undefined) return 'leave';
  if (cleanupSource && i.tableCurrent) return 'drop';
  const self = i.self as NodeId;
  const listed = cs.voters.includes(self) || cs.votersOutgoing.includes(self) || cs.learners.includes(self);
  if (listed || !i.listedBefore) return 'leave';
  return 'drop';
}

/**
 * A replica hosted here is stale when the table gives this node no role in the shard (no voter of
 * either half, learner, or end of a move) while the member is up or down: the cluster re-created it
 * on other members while this node could not be reached, or rolled back a move that was adding it.
 * Not while the member joins (or drains): a join takes it into the shards' configurations before the
 * table records them. Only a table confirmed current may say so (node.ts's dropStaleReplicas): one
 * replayed at a restart may be older than the shard's own configuration here.
 */
export function isStaleReplica(
  self: string,
  entry: ShardEntry,
  memberState: MemberState | undefined,
): boolean {
  return (memberState === 'up' || memberState === 'down') && !replicasOf(entry).includes(self);
}

/**
 * What the requests waiting on a replica being dropped get. Not retry-safe: a write proposed here
 * may have been committed, and applied on the shard's other replicas, already; only its outcome is
 * unknown to this replica, which leaves. (Retry-safe, a client's retry wrote the value a second time,
 * and a checker saw a refused write's value: `ringkv sim --real --nodes 5`, seed 1.)
 */
export function replicaDropped(shard: number): UnavailableError {
  return new UnavailableError(
    `this node stopped holding shard ${shard} (its replica moved away) while the request waited: a write may have been applied; read before retrying`,
  );
}
