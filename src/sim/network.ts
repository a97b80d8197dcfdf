// The simulated network between Raft nodes: per-message loss, delay and duplication, each directed
// link delivering in send order (a stream per peer, like the real gRPC transport) but for a share of
// its messages that may skip that order (reordering: the real transport's order holds only within
// one stream; data of a stream that broke may still arrive after the next stream's),
// plus directed link cuts that express every partition shape (halves, an isolated
// leader, one-way links, a node that reaches only some peers). Messages are plain immutable data:
// a duplicate delivers the same object twice, and the core never mutates what it receives.
import type { Message, NodeId } from '../raft/types.ts';
import type { Prng } from './prng.ts';

export interface NetworkConditions {
  /** Probability that a message is dropped, in [0, 0.3]. */
  readonly lossRate: number;
  /** Probability that a delivered message is delivered a second time. */
  readonly duplicateRate: number;
  /** Every delivery takes between delayMinMs and delayMaxMs (uniform). */
  readonly delayMinMs: number;
  readonly delayMaxMs: number;
  /**
   * Probability that a delivered message skips its link's order, in [0, REORDER_RATE_MAX]: it arrives
   * at a time of its own, uniform in [delayMinMs, reorderDelayMaxMs] after its send, neither held
   * back by the messages sent before it nor holding back those sent after it.
   */
  readonly reorderRate: number;
  /** The longest delay of a message that skips its link's order (at least delayMaxMs). */
  readonly reorderDelayMaxMs: number;
}

export const CALM_NETWORK: NetworkConditions = {
  lossRate: 0,
  duplicateRate: 0,
  delayMinMs: 1,
  delayMaxMs: 5,
  reorderRate: 0,
  reorderDelayMaxMs: 5,
};

export const LOSS_RATE_MAX = 0.3;
export const REORDER_RATE_MAX = 0.5;

/** A delivery the caller must schedule: `message` arrives at `message.to` at `atMs`. */
export interface Delivery {
  readonly message: Message;
  readonly atMs: number;
  /** It skipped its link's order (NetworkConditions.reorderRate). */
  readonly reordered: boolean;
}

export type PartitionKind = 'halves' | 'isolateLeader' | 'oneWay' | 'partialReach';

export class Network {
  private readonly rng: Prng;
  private conditions: NetworkConditions = CALM_NETWORK;
  /** blocked.get(a).has(b): messages from a to b are dropped. Directed, so one-way cuts are possible. */
  private readonly blocked = new Map<NodeId, Set<NodeId>>();
  /** Latest scheduled delivery per directed link, to keep links FIFO. */
  private readonly lastDeliveryMs = new Map<NodeId, Map<NodeId, number>>();
  private blockedCount = 0;
  stats = { sent: 0, dropped: 0, cut: 0, duplicated: 0, reordered: 0 };

  constructor(rng: Prng) {
    this.rng = rng;
  }

  setConditions(c: NetworkConditions): void {
    if (!(c.lossRate >= 0 && c.lossRate <= LOSS_RATE_MAX))
      throw new Error(`Network: loss rate ${c.lossRate}`);
    if (!(c.delayMinMs >= 0 && c.delayMaxMs >= c.delayMinMs)) {
      throw new Error(`Network: bad delay range [${c.delayMinMs}, ${c.delayMaxMs}]`);
    }
    if (!(c.reorderRate >= 0 && c.reorderRate <= REORDER_RATE_MAX && c.reorderDelayMaxMs >= c.delayMaxMs))
      throw new Error(`Network: reorder rate ${c.reorderRate}, up to ${c.reorderDelayMaxMs} ms`);
    this.conditions = c;
  }

  getConditions(): NetworkConditions {
    return this.conditions;
  }

  /**
   * Decides the fate of one message sent by `from` (its physical sender, which differs from m.from
   * when a follower forwards a request on behalf of another node): zero, one or two deliveries.
   */
  send(from: NodeId, m: Message, nowMs: number): Delivery[] {
    this.stats.sent++;
    if (this.isCut(from, m.to)) {
      this.stats.cut++;
      return [];
    }
    const c = this.conditions;
    if (this.rng.chance(c.lossRate)) {
      this.stats.dropped++;
      return [];
    }
    const first = this.delivery(from, m, nowMs);
    if (!this.rng.chance(c.duplicateRate)) return [first];
    this.stats.duplicated++;
    return [first, this.delivery(from, m, nowMs)];
  }

  private delivery(from: NodeId, m: Message, nowMs: number): Delivery {
    const c = this.conditions;
    // No draw without reordering, so that the runs from before it existed stay what they were.
    if (c.reorderRate > 0 && this.rng.chance(c.reorderRate)) {
      this.stats.reordered++;
      const atMs = nowMs + this.rng.intBetween(c.delayMinMs, c.reorderDelayMaxMs);
      return { message: m, atMs, reordered: true };
    }
    return { message: m, atMs: this.deliveryTime(from, m.to, nowMs), reordered: false };
  }

  /** A delivery time in the link's order: never before the link's latest scheduled delivery. */
  private deliveryTime(from: NodeId, to: NodeId, nowMs: number): number {
    const c = this.conditions;
    const atMs = nowMs + c.delayMinMs + this.rng.nextInt(c.delayMaxMs - c.delayMinMs + 1);
    let links = this.lastDeliveryMs.get(from);
    if (links === undefined) {
      links = new Map();
      this.lastDeliveryMs.set(from, links);
    }
    const fifoMs = Math.max(atMs, links.get(to) ?? 0);
    links.set(to, fifoMs);
    return fifoMs;
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.blockedCount > 0 && (this.blocked.get(from)?.has(to) ?? false);
  }

  /** Cuts the directed link from -> to. */
  cut(from: NodeId, to: NodeId): void {
    if (from === to) throw new Error(`Network.cut: self link ${from}`);
    let set = this.blocked.get(from);
    if (set === undefined) {
      set = new Set();
      this.blocked.set(from, set);
    }
    if (!set.has(to)) {
      set.add(to);
      this.blockedCount++;
    }
  }

  cutBoth(a: NodeId, b: NodeId): void {
    this.cut(a, b);
    this.cut(b, a);
  }

  heal(): void {
    this.blocked.clear();
    this.blockedCount = 0;
  }

  get cutLinkCount(): number {
    return this.blockedCount;
  }

  /**
   * Applies a partition of `kind` over `nodes` (replacing any previous one) and returns a short
   * description for the trace. `leader` is the node believed to lead (for isolateLeader).
   */
  partition(kind: PartitionKind, nodes: readonly NodeId[], leader: NodeId | undefined): string {
    if (nodes.length < 2) throw new Error(`Network.partition: need two nodes, got ${nodes.length}`);
    this.heal();
    switch (kind) {
      case 'halves':
        return this.partitionHalves(nodes);
      case 'isolateLeader': {
        const victim = leader !== undefined && nodes.includes(leader) ? leader : this.rng.pick(nodes);
        for (const other of nodes) if (other !== victim) this.cutBoth(victim, other);
        return `isolate ${victim}`;
      }
      case 'oneWay': {
        const [a, b] = this.rng.shuffled(nodes) as [NodeId, NodeId];
        if (this.rng.chance(0.5)) {
          // A deaf node: it can still send (and so disturb others) but hears nobody.
          for (const other of nodes) if (other !== b) this.cut(other, b);
          return `one-way: ${b} hears nobody`;
        }
        this.cut(a, b);
        return `one-way: ${a} -> ${b} cut`;
      }
      case 'partialReach':
        return this.partitionPartialReach(nodes);
    }
  }

  private partitionHalves(nodes: readonly NodeId[]): string {
    const order = this.rng.shuffled(nodes);
    const split = this.rng.intBetween(1, order.length - 1);
    const left = order.slice(0, split);
    const right = order.slice(split);
    for (const a of left) for (const b of right) this.cutBoth(a, b);
    return `halves [${left.join(',')}] | [${right.join(',')}]`;
  }

  /** A node that can reach only some of its peers: the shape that makes naive Raft churn leaders. */
  private partitionPartialReach(nodes: readonly NodeId[]): string {
    const order = this.rng.shuffled(nodes);
    const hub = order[0] as NodeId;
    const others = order.slice(1);
    const reach = this.rng.intBetween(1, Math.max(1, others.length - 1));
    const reachable = others.slice(0, reach);
    const unreachable = others.slice(reach);
    for (const x of unreachable) this.cutBoth(hub, x);
    // The reachable peers cannot see each other: only the hub bridges them.
    for (let i = 0; i < reachable.length; i++) {
      for (let j = i + 1; j < reachable.length; j++)
        this.cutBoth(reachable[i] as NodeId, reachable[j] as NodeId);
    }
    return `partial: ${hub} reaches only [${reachable.join(',')}]`;
  }
}
