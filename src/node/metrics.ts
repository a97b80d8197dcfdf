// What the node reports about its own work, for an operator's metrics: the events that happen inside
// the driver and its storage (a WAL sync, a snapshot saved, a batch applied, a leader changed, a
// proposal failed). The node does not know how they are kept: src/server/admin implements this sink
// with prom-client; the default drops everything (tests, the simulator). What can be read at any
// moment instead (leaders, commit and applied index, requests waiting) is not reported here: the
// metrics read it from the node's status when they are scraped, which costs the hot path nothing.
//
// Contract: every method is called on the node's thread, where the event happens, returns at once,
// never throws and never calls back into the node. Durations are measured on the sink's own clock:
// the node asks `startedAt()` before the work and hands the value back after it, so src/node reads
// no clock for metrics (the simulator's runs stay deterministic whatever the sink does).
import type { GroupId } from './ids.ts';

export interface NodeMetrics {
  /** A start time on the sink's own scale, handed back to one of the `…(startedAt)` methods below. */
  startedAt(): number;
  /** One durable WAL write (a sync) of a driver turn, or one a full buffer or a snapshot forced, ended. */
  walSynced(startedAt: number): void;
  /** A snapshot file (taken here, or received from a leader) was written and synced. */
  snapshotSaved(startedAt: number): void;
  /** One group's committed entries of a driver turn were applied to its state machine. */
  applied(startedAt: number): void;
  /** A group learned of a new leader (not when it lost one: as etcd's leader_changes_seen_total). */
  leaderChanged(group: GroupId): void;
  /** A proposal failed: refused by the core, its deadline passed unapplied, or the node closed. */
  proposalFailed(): void;
}

/** The default sink: reports nothing, costs a call. */
export const NO_METRICS: NodeMetrics = {
  startedAt: () => 0,
  walSynced: () => {},
  snapshotSaved: () => {},
  applied: () => {},
  leaderChanged: () => {},
  proposalFailed: () => {},
};
