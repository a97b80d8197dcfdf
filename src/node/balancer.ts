// Leadership placement, every few seconds, once every data shard has a leader. A transfer must be
// started on the leader (a follower would have to forward a message on another node's behalf, which
// the transport rightly refuses), so every node runs this for the shards IT leads, and only gives
// leaderships away; at most a couple of moves happen per round per node. The cluster's policy
// (metadata.ts, LeaderPlacement):
// - 'spread': every shard has a preferred leader, computed from the shard table alone
//   (src/ring/leaders.ts): leaderships balanced over the members that are up. A node hands each
//   shard it leads to that shard's preferred leader. Every node computes the same preferences from
//   the same table, so two nodes never undo each other's moves (a node's own view would not do: it
//   counts only the shards it hosts). Shards with a replica move in flight are the rebalancer's to
//   hand over. A round moves nothing when the table changed since the round before: while moves
//   go on (a table change every step), the preferences shift with each one, and following them
//   would move leaderships back and forth; they are followed once the table has held for a round.
// - 'pack': every node hands the shards it leads to the metadata group's leader. There is one such
//   leader at a time, so moves never go back and forth; when it fails, the shards follow the next.
import type { Logger } from 'pino';
import type { NodeId } from '../raft/types.ts';
import { preferredLeaders } from '../ring/leaders.ts';
import type { ShardTable } from '../ring/shard-table.ts';
import type { Clock, Timer } from './clock.ts';
import { FailedPreconditionError } from './errors.ts';
import { METADATA_GROUP } from './ids.ts';
import type { GroupStatus, NodeIntents } from './intents.ts';
import { proposeMetadata } from './membership.ts';
import type { LeaderPlacement } from './metadata.ts';
import { everyRound } from './periodic.ts';
import type { RequestIds } from './state-machine.ts';

const MOVES_PER_ROUND_MAX = 2;

/** What the balancer needs of the node (KvNode implements it; balancer.test.ts fakes it). */
export interface BalancerHost extends Pick<NodeIntents, 'statuses' | 'transferLeadership'> {
  readonly id: NodeId;
  readonly isClosing: boolean;
  readonly logger: Pick<Logger, 'info' | 'error'>;
  /** The rounds' timer. */
  readonly clock: Pick<Clock, 'every' | 'cancel'>;
  /** The applied metadata: the cluster's placement policy and its shard table. */
  readonly metadata: {
    readonly leaderPlacement: LeaderPlacement;
    readonly table: ShardTable;
  };
}

export class Balancer {
  private readonly host: BalancerHost;
  private readonly intervalMs: number;
  private timer: Timer | undefined;
  /** The preferred leaders of the table the last round saw (tables are immutable: a new one is a change). */
  private preferred:
    | { readonly table: ShardTable; readonly leaders: ReadonlyMap<number, string> }
    | undefined;

  /** Rounds every `intervalMs` once started (0: never). */
  constructor(host: BalancerHost, intervalMs: number) {
    this.host = host;
    this.intervalMs = intervalMs;
  }

  start(): void {
    this.timer = everyRound(
      this.host.clock,
      this.intervalMs,
      this.host.logger,
      'leader placement round failed',
      () => {
        this.round();
      },
    );
  }

  stop(): void {
    if (this.timer !== undefined) this.host.clock.cancel(this.timer);
  }

  /** One balancing round; returns the transfers it asked for (for logs and tests). */
  round(): Move[] {
    const host = this.host;
    if (host.isClosing) return [];
    const groups = host.statuses();
    const shards = groups.filter((g) => g.id !== METADATA_GROUP);
    if (shards.length === 0 || shards.some((g) => g.leader === '')) return [];
    const placement = host.metadata.leaderPlacement;
    const moves =
      placement === 'pack' ? packMoves(host, groups, shards) : spreadMoves(host, shards, this.preferredOf());
    for (const m of moves) host.transferLeadership(m.group, m.to);
    if (moves.length > 0) {
      host.logger.info({ moves, placement }, 'moving shard leaderships to their placement');
    }
    return moves;
  }

  /** The preferred leaders, once the table has held since the last round (else none: wait). */
  private preferredOf(): ReadonlyMap<number, string> {
    const table = this.host.metadata.table;
    if (this.preferred?.table === table) return this.preferred.leaders;
    this.preferred = { table, leaders: spreadLeaders(table) };
    return NONE_PREFERRED;
  }
}

/** The preferred leader of each shard without a move in flight, over the members that are up. */
export function spreadLeaders(table: ShardTable): Map<number, string> {
  const up = new Set(table.members.filter((m) => m.state === 'up').map((m) => m.nodeId));
  const shards = table.shards
    .filter((s) => s.move === null)
    .map((s) => ({ shardId: s.shardId, voters: s.voters }));
  return preferredLeaders(shards, up);
}

const NONE_PREFERRED: ReadonlyMap<number, string> = new Map();

interface Move {
  readonly group: GroupStatus['id'];
  readonly from: NodeId;
  readonly to: NodeId;
}

function spreadMoves(
  host: BalancerHost,
  shards: readonly GroupStatus[],
  preferred: ReadonlyMap<number, string>,
): Move[] {
  const moves: Move[] = [];
  for (const g of shards) {
    if (moves.length >= MOVES_PER_ROUND_MAX) break;
    const to = preferred.get(g.id);
    if (to === undefined || to === host.id || !movable(g, to as NodeId)) continue;
    moves.push({ group: g.id, from: host.id, to: to as NodeId });
  }
  return moves;
}

function packMoves(
  host: BalancerHost,
  groups: readonly GroupStatus[],
  shards: readonly GroupStatus[],
): Move[] {
  // A joining node may host data shards before the metadata group reaches it.
  const target = groups.find((g) => g.id === METADATA_GROUP)?.leader ?? '';
  if (target === '' || target === host.id) return [];
  return shards
    .filter((s) => movable(s, target))
    .slice(0, MOVES_PER_ROUND_MAX)
    .map((s) => ({ group: s.id, from: host.id, to: target }));
}

/** This node leads the shard and can hand it to `to`. */
function movable(g: GroupStatus, to: NodeId): boolean {
  return g.role === 'leader' && g.confState.voters.includes(to) && caughtUp(g, to);
}

/** A transfer target must hold the leader's whole log, or the transfer stalls until it catches up. */
function caughtUp(g: GroupStatus, id: NodeId): boolean {
  const pr = g.progress?.get(id);
  return pr !== undefined && pr.state === 'replicate' && pr.match === g.lastIndex;
}

/** What setting the placement needs of the node (KvNode implements it). */
export interface PlacementHost extends Pick<NodeIntents, 'proposeMetadata'> {
  readonly id: NodeId;
  readonly logger: Pick<Logger, 'info'>;
  readonly requestIds: RequestIds;
  readonly metadata: { readonly leaderPlacement: LeaderPlacement };
}

/**
 * Metadata leader: makes `placement` the cluster's policy (idempotent). Every node's next rounds
 * move the leaderships; this returns once the policy is applied here, not once they have moved.
 */
export async function setLeaderPlacement(
  node: PlacementHost,
  placement: LeaderPlacement,
  deadlineMs: number,
): Promise<void> {
  if (node.metadata.leaderPlacement === placement) return;
  const { seq } = node.requestIds.next();
  const result = await proposeMetadata(
    node,
    { requestId: `placement/${node.id}/${seq}`, op: 'setLeaderPlacement', placement },
    deadlineMs,
  );
  if (!result.ok) throw new FailedPreconditionError(`cannot set the leader placement: ${result.reason}`);
  node.logger.info({ placement }, 'leader placement changed');
}
