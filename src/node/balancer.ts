// Leadership spread: every few seconds, when every data shard has a leader, a node that leads more
// shards than the least-loaded member plus one hands one of its shards to that member, until each
// member leads about S/N of them. Every node runs this for the shards IT leads: a transfer must be
// started on the leader (a follower would have to forward a message on another node's behalf,
// which the transport rightly refuses). At most a couple of moves happen per round per node, and a
// node only gives leaderships away, so two nodes never undo each other's moves.
import type { NodeId } from '../raft/types.ts';
import type { Group } from './group.ts';
import type { KvNode } from './node.ts';

const MOVES_PER_ROUND_MAX = 2;

export class Balancer {
  private readonly node: KvNode;
  private timer: NodeJS.Timeout | undefined;

  constructor(node: KvNode) {
    this.node = node;
  }

  start(): void {
    const every = this.node.opts.balanceIntervalMs;
    if (every <= 0) return;
    this.timer = setInterval(() => this.round(), every);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  /** One balancing round; returns the transfers it asked for (for logs and tests). */
  round(): { group: number; from: NodeId; to: NodeId }[] {
    const node = this.node;
    if (node.isClosing) return [];
    const shards = [...node.driver.groups.values()].filter((g) => g.id !== 0);
    if (shards.length === 0 || shards.some((g) => g.leader === '')) return [];
    const members = node.metadata.members().map((m) => m.nodeId as NodeId);
    const led = new Map<NodeId, number>(members.map((m) => [m, 0]));
    for (const g of shards) led.set(g.leader, (led.get(g.leader) ?? 0) + 1);
    const moves: { group: number; from: NodeId; to: NodeId }[] = [];
    for (let i = 0; i < MOVES_PER_ROUND_MAX; i++) {
      const order = [...led.entries()].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
      const [minId, minCount] = order[0]!;
      const maxCount = order[order.length - 1]![1];
      // Only the most loaded node gives a shard away (ties: each of them may).
      if (maxCount - minCount <= 1 || (led.get(node.id) ?? 0) !== maxCount) break;
      const g = shards.find(
        (s) =>
          s.isLeader() &&
          s.confState.voters.includes(minId) &&
          caughtUp(s, minId) &&
          !moves.some((m) => m.group === s.id),
      );
      if (g === undefined) break;
      g.raw.transferLeadership(minId);
      moves.push({ group: g.id, from: node.id, to: minId });
      led.set(node.id, maxCount - 1);
      led.set(minId, minCount + 1);
    }
    if (moves.length > 0) {
      node.driver.schedule();
      node.logger.info({ moves }, 'moving shard leaderships to spread them evenly');
    }
    return moves;
  }
}

/** A transfer target must hold the leader's whole log, or the transfer stalls until it catches up. */
function caughtUp(g: Group, id: NodeId): boolean {
  const st = g.raw.status();
  const pr = st.progress?.get(id);
  return pr !== undefined && pr.state === 'replicate' && pr.match === st.lastIndex;
}
