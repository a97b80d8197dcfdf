// A small in-memory network of TestNodes for the paper tests and the cluster properties: it runs
// the driver loop on every node, carries messages (dropping those a filter rejects), and offers
// the handful of probes the tests need (who leads, what was committed).

import type { Config } from '../index.ts';
import { emptyMessage } from '../index.ts';
import type { ConfState, Index, Message, MessageType, NodeId, Ready } from '../types.ts';
import { index, nodeId } from '../types.ts';
import { TestNode } from './node.ts';

export type NodeConfig = Partial<Omit<Config, 'id' | 'storage' | 'rng'>>;

export interface ClusterOptions {
  readonly voters: readonly string[];
  readonly learners?: readonly string[];
  readonly seed?: number;
  readonly config?: NodeConfig;
  /** Index of the bootstrap snapshot (default 1). */
  readonly index?: number;
  /** See TestNode: false = the leader only has snapshots made by compact(). */
  readonly snapshotOnDemand?: boolean;
}

const ROUNDS_MAX = 1_000;

/** A message drop rule: return true to drop. */
export type DropRule = (m: Message) => boolean;

export class Network {
  readonly nodes = new Map<NodeId, TestNode>();
  queue: Message[] = [];
  drop: DropRule = () => false;
  /** Every Ready each node handled, in order (for tests that look at what was emitted). */
  readonly readies: { id: NodeId; rd: Ready }[] = [];

  constructor(opts: ClusterOptions) {
    const confState: ConfState = {
      voters: opts.voters.map(nodeId),
      votersOutgoing: [],
      learners: (opts.learners ?? []).map(nodeId),
      learnersNext: [],
      autoLeave: false,
    };
    const all = [...opts.voters, ...(opts.learners ?? [])];
    all.forEach((id, k) => {
      const n = new TestNode({
        id: nodeId(id),
        seed: opts.seed ?? 1,
        stream: k,
        config: opts.config ?? {},
        bootstrap: { index: index(opts.index ?? 1), confState },
        ...(opts.snapshotOnDemand === undefined ? {} : { snapshotOnDemand: opts.snapshotOnDemand }),
      });
      this.nodes.set(n.id, n);
    });
  }

  node(id: string): TestNode {
    const n = this.nodes.get(nodeId(id));
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /** Adds a node with an empty log and configuration (it learns both from the leader). */
  addEmptyNode(id: string, config: NodeConfig = {}, snapshotOnDemand = true): TestNode {
    const n = new TestNode({ id: nodeId(id), seed: 1, stream: this.nodes.size, config, snapshotOnDemand });
    this.nodes.set(n.id, n);
    return n;
  }

  /** One Ready turn on one node; returns the messages it sent (also queued for delivery). */
  processReady(id: string): Message[] {
    const n = this.node(id);
    if (!n.rn.hasReady()) return [];
    const { rd } = n.handleReady();
    // Persist before send: an acknowledgement vouches only for entries the storage now holds.
    for (const m of rd.messages) {
      if (m.type === 'appResp' && !m.reject && m.index > n.storage.lastIndex()) {
        throw new Error(`${n.id} acknowledges index ${m.index} to ${m.to} holding ${n.storage.lastIndex()}`);
      }
    }
    this.readies.push({ id: n.id, rd });
    this.queue.push(...rd.messages);
    return [...rd.messages];
  }

  /** Delivers every queued message once (new ones wait for the next round). */
  deliverAll(): number {
    const batch = this.queue;
    this.queue = [];
    let delivered = 0;
    for (const m of batch) {
      const target = this.nodes.get(m.to);
      if (target === undefined || this.drop(m)) continue;
      target.rn.step(m);
      delivered++;
    }
    return delivered;
  }

  /** Runs Ready loops and delivery until nothing moves. */
  stabilize(): void {
    for (let round = 0; round < ROUNDS_MAX; round++) {
      let moved = false;
      for (const id of this.nodes.keys()) moved = this.processReady(id).length > 0 || moved;
      for (const n of this.nodes.values()) moved = n.rn.hasReady() || moved;
      moved = this.deliverAll() > 0 || moved;
      if (!moved && this.queue.length === 0) return;
    }
    throw new Error(`network did not settle in ${ROUNDS_MAX} rounds`);
  }

  campaign(id: string): void {
    this.node(id).rn.campaign();
    this.stabilize();
  }

  /** Ticks one node n times without settling the network. */
  tick(id: string, n: number): void {
    for (let k = 0; k < n; k++) this.node(id).rn.tick();
  }

  /** Ticks every node once per round and settles after each round. */
  tickAll(rounds: number): void {
    for (let r = 0; r < rounds; r++) {
      for (const n of this.nodes.values()) n.rn.tick();
      this.stabilize();
    }
  }

  /** Drops every message to or from the given nodes. */
  isolate(...ids: string[]): void {
    const set = new Set(ids);
    this.drop = (m) => set.has(m.from) || set.has(m.to);
  }

  /** Drops messages between the two sides only. */
  cut(left: readonly string[], right: readonly string[]): void {
    const l = new Set(left);
    const r = new Set(right);
    this.drop = (m) => (l.has(m.from) && r.has(m.to)) || (r.has(m.from) && l.has(m.to));
  }

  heal(): void {
    this.drop = () => false;
  }

  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.rn.status().role === 'leader').map((n) => n.id);
  }

  committed(id: string): Index {
    return this.node(id).rn.status().hardState.commit;
  }
}

/** A message with every unused field at its zero value. */
export function msg(
  type: MessageType,
  from: string,
  to: string,
  fields: Partial<Omit<Message, 'type' | 'from' | 'to'>> = {},
): Message {
  return emptyMessage({ ...fields, type, from: nodeId(from), to: nodeId(to) });
}
