// Dead members. On the metadata group's leader, a member that leader has not heard from for the
// table's dead-node timeout (`settings.deadNodeTimeoutMs`) is marked down; the planner then
// re-creates its replicas on the others (rebalance.ts, reason sourceDown), as long as each shard
// keeps a quorum. A down member heard from again is marked up, and gets a share again by the same
// moves as a new member.
//
// "Heard from" is the leader's own record: a metadata replica whose progress is recently active (any
// append or heartbeat response since the core's last quorum check, at most an election timeout ago).
// Only the leader knows it, so only the leader judges; a new leader cannot know how long a member
// was silent before, so it starts every member's clock afresh: a leader change can delay a verdict
// by up to one timeout, never hasten one. A member that is not (yet) a metadata replica is never
// judged. This node itself is never marked down, and marks itself up when it finds itself down (a
// leader before it judged it dead; leading, it is alive, and no one else judges while it leads).
import type { MemberState } from '../ring/shard-table.ts';

export interface LivenessInput {
  readonly nowMs: number;
  /** This node's id. */
  readonly self: string;
  /** The metadata group's replicas as its leader sees them; undefined when this node does not lead it. */
  readonly progress: ReadonlyMap<string, { readonly recentActive: boolean }> | undefined;
  /** The table's members (removed ones may be included: they are ignored). */
  readonly members: readonly { readonly nodeId: string; readonly state: MemberState }[];
  readonly deadNodeTimeoutMs: number;
}

export interface LivenessVerdict {
  readonly nodeId: string;
  readonly state: 'down' | 'up';
  /** How long the member had not been heard from (for the log). */
  readonly silentMs: number;
}

export class MemberLiveness {
  /**
   * When each member was last heard from, while this node leads the metadata group (empty otherwise).
   * Invariant: keys are members of the table (not removed), so it is bounded by the member count.
   */
  private readonly lastHeardMs = new Map<string, number>();
  private leading = false;

  /** One look at the metadata group's progress: the members whose state should change now. */
  observe(i: LivenessInput): LivenessVerdict[] {
    if (i.progress === undefined) {
      this.leading = false;
      this.lastHeardMs.clear();
      return [];
    }
    if (!this.leading) {
      this.leading = true;
      this.lastHeardMs.clear();
    }
    const out: LivenessVerdict[] = [];
    const present = new Set<string>();
    for (const m of i.members) {
      if (m.nodeId === i.self) {
        if (m.state === 'down') out.push({ nodeId: m.nodeId, state: 'up', silentMs: 0 });
        continue;
      }
      if (m.state === 'removed') continue;
      present.add(m.nodeId);
      const pr = i.progress.get(m.nodeId);
      const heard = pr === undefined || pr.recentActive;
      if (heard || !this.lastHeardMs.has(m.nodeId)) this.lastHeardMs.set(m.nodeId, i.nowMs);
      const silentMs = i.nowMs - this.lastHeardMs.get(m.nodeId)!;
      if (pr === undefined) continue;
      if (m.state === 'up' && silentMs > i.deadNodeTimeoutMs)
        out.push({ nodeId: m.nodeId, state: 'down', silentMs });
      else if (m.state === 'down' && heard) out.push({ nodeId: m.nodeId, state: 'up', silentMs });
    }
    for (const id of this.lastHeardMs.keys()) if (!present.has(id)) this.lastHeardMs.delete(id);
    return out;
  }
}
