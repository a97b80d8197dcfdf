// Random schedules for the cluster properties: the actions a fast-check generator picks and how
// each one is carried out on a Network (ticks, Ready turns, deliveries in any order, losses,
// duplicates, partitions, crash-restarts, compaction, proposals and membership changes).
import type { Message } from '../types.ts';
import { nodeId } from '../types.ts';
import type { Network } from './network.ts';
import { bytes } from './node.ts';

export type Action =
  | { kind: 'tick'; node: number }
  | { kind: 'tickAll' }
  | { kind: 'isolate'; node: number }
  | { kind: 'heal' }
  /** One-way partition: the node hears everybody, nobody hears it. */
  | { kind: 'mute'; node: number }
  | { kind: 'round'; lossy: boolean; salt: number }
  | { kind: 'ready'; node: number }
  | { kind: 'deliver'; pick: number; duplicate: boolean }
  | { kind: 'drop'; pick: number }
  /** `batch` > 1: that many commands in one proposeBatch call (all or none). */
  | { kind: 'propose'; node: number; value: number; batch?: number }
  | { kind: 'restart'; node: number }
  /** ReadIndex with a context unique in the run (filled in by the test before performing). */
  | { kind: 'read'; node: number; ctx?: string }
  | { kind: 'compact'; node: number }
  | {
      kind: 'confChange';
      node: number;
      /** Empty: leave the joint configuration. Several voter changes: joint consensus. */
      changes: { type: 'addVoter' | 'addLearner' | 'removeNode'; target: number }[];
      transition: 'auto' | 'explicit';
    };

export const idsOf = (net: Network): string[] => [...net.nodes.keys()];
export const nth = (net: Network, k: number): string => idsOf(net)[k % net.nodes.size]!;

export function perform(net: Network, a: Action): void {
  switch (a.kind) {
    case 'tick':
      net.node(nth(net, a.node)).rn.tick();
      return;
    case 'tickAll':
      for (const id of idsOf(net)) net.node(id).rn.tick();
      return;
    case 'round': {
      // Every node handles its Ready, then every queued message is delivered once, in order;
      // a lossy round drops every third message.
      for (const id of idsOf(net)) net.processReady(id);
      const batch = net.queue;
      net.queue = [];
      batch.forEach((m, k) => {
        if (net.drop(m)) return;
        if (!a.lossy || (k + a.salt) % 3 !== 0) net.node(m.to).rn.step(m);
      });
      return;
    }
    case 'isolate':
      net.isolate(nth(net, a.node));
      return;
    case 'heal':
      net.heal();
      return;
    case 'mute': {
      const muted = nth(net, a.node);
      net.drop = (m) => m.from === muted;
      return;
    }
    case 'ready':
      net.processReady(nth(net, a.node));
      return;
    case 'deliver':
    case 'drop': {
      if (net.queue.length === 0) return;
      const k = a.pick % net.queue.length;
      const m = net.queue[k] as Message;
      if (a.kind === 'drop' || !a.duplicate) net.queue.splice(k, 1);
      if (a.kind === 'deliver' && !net.drop(m)) net.node(m.to).rn.step(m);
      return;
    }
    case 'propose':
      try {
        const rn = net.node(nth(net, a.node)).rn;
        const n = a.batch ?? 1;
        if (n <= 1) rn.propose(bytes(`v${a.value}`));
        else rn.proposeBatch(Array.from({ length: n }, (_, i) => bytes(`v${a.value}.${i}`)));
      } catch {
        // No leader known, transferring, …: a dropped proposal is allowed; safety is what counts.
      }
      return;
    case 'restart':
      net.node(nth(net, a.node)).restart();
      return;
    case 'read':
      net.node(nth(net, a.node)).rn.readIndex(bytes(a.ctx ?? 'read'));
      return;
    case 'compact': {
      // Snapshot and drop the log up to what this node has applied (a real driver does this).
      const n = net.node(nth(net, a.node));
      if (n.appliedIndex >= n.storage.firstIndex()) n.compact(n.appliedIndex);
      return;
    }
    case 'confChange':
      try {
        const changes = a.changes.map((c) => ({ type: c.type, nodeId: nodeId(nth(net, c.target)) }));
        net.node(nth(net, a.node)).rn.proposeConfChange({ changes, transition: a.transition });
      } catch {
        // Refused (not leader, one already in flight, would remove the last voter, …).
      }
      return;
  }
}
