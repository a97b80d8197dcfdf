// `cluster leave`'s progress: while the Leave call drains the member (the rebalancer moves its
// replicas to the others, then removes it), the shard table is read once a second and the replicas
// still placed on the member are counted down on a progress display.
import type { ShardPlacement, StatusResponse } from '../../client/index.ts';
import { createProgress, type ProgressStream } from '../progress.ts';

/** How often the table is read while the member drains. */
const DRAIN_POLL_MS = 1000;

/** Replicas `nodeId` holds in `table`: voter (either half of a joint state) or learner. */
export function replicasOn(table: readonly ShardPlacement[], nodeId: string): number {
  return table.filter(
    (p) => p.voters.includes(nodeId) || p.votersOutgoing.includes(nodeId) || p.learners.includes(nodeId),
  ).length;
}

export interface DrainWatch {
  /** The member is gone: shows every replica moved, then stops. */
  finish(): void;
  /** Stops reading the table and ends the display where it is (its last line stays). */
  stop(): void;
}

/**
 * Shows the replicas moved off `nodeId` out of `held` (its replicas when the leave began) until
 * stopped. `readTable` returns the shard table as some member applied it; a failed read is skipped.
 */
export function watchDrain(
  nodeId: string,
  held: number,
  readTable: () => Promise<StatusResponse>,
  stream?: ProgressStream,
): DrainWatch {
  if (held === 0) return { finish() {}, stop() {} };
  const progress = createProgress(`draining ${nodeId}`, held, stream);
  progress.update(0, 'replicas moved');
  let stopped = false;
  let reading = false;
  const timer = setInterval(() => {
    if (reading) return; // one read at a time: a slow member never piles up calls
    reading = true;
    readTable()
      .then((s) => {
        if (!stopped && s.placement.length > 0)
          progress.update(held - replicasOn(s.placement, nodeId), 'replicas moved');
      })
      .catch(() => {})
      .finally(() => {
        reading = false;
      });
  }, DRAIN_POLL_MS);
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    progress.stop();
  };
  return {
    finish() {
      if (!stopped) progress.update(held, 'replicas moved');
      stop();
    },
    stop,
  };
}
