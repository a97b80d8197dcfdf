// Leadership spread: every few seconds, when every data shard has a leader, the leader of the
// metadata group moves shard leaderships from the member leading the most shards to the one leading
// the fewest, until each member leads about S/N of them. A transfer is a request to the shard's
// current leader (the core forwards it there), and only to a voter that is caught up, so it is cheap
// and safe; at most a couple of moves happen per round, so leadership never churns.
import type { NodeId } from '../raft/types.ts';
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
    if (node.isClosing || !node.driver.groups.get(0)?.isLeader()) return [];
    const shards = [...node.driver.groups.values()].filter((g) => g.id !== 0);
    if (shards.length === 0 || shards.some((g) => g.leader === '')) return [];
    const members = node.metadata.members().map((m) => m.nodeId as NodeId);
    const led = new Map<NodeId, number>(members.map((m) => [m, 0]));
    for (const g of shards) led.set(g.leader, (led.get(g.leader) ?? 0) + 1);
    const moves: { group: number; from: NodeId; to: NodeId }[] = [];
    for (let i = 0; i < MOVES_PER_ROUND_MAX; i++) {
      const order = [...led.entries()].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
      const [minId, minCount] = order[0]!;
      const [maxId, maxCount] = order[order.length - 1]!;
      if (maxCount - minCount <= 1) break;
      const g = shards.find(
        (s) =>
          s.leader === maxId && s.confState.voters.includes(minId) && !moves.some((m) => m.group === s.id),
      );
      if (g === undefined) break;
      g.raw.transferLeadership(minId);
      moves.push({ group: g.id, from: maxId, to: minId });
      led.set(maxId, maxCount - 1);
      led.set(minId, minCount + 1);
    }
    if (moves.length > 0) {
      node.driver.schedule();
      node.logger.info({ moves }, 'moving shard leaderships to spread them evenly');
    }
    return moves;
  }
}
