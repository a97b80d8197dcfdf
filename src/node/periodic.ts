// A round of background work run every interval on the node's clock (the leader-placement balancer,
// the rebalancer): a round that throws is logged and the next one runs, since a bug in background
// work must not take the node down; what it manages stays where it is.
import type { Logger } from 'pino';
import type { Clock, Timer } from './clock.ts';

/** Runs `round` every `intervalMs` (0 or less: never, and returns undefined). */
export function everyRound(
  clock: Pick<Clock, 'every'>,
  intervalMs: number,
  logger: Pick<Logger, 'error'>,
  failure: string,
  round: () => void,
): Timer | undefined {
  if (intervalMs <= 0) return undefined;
  return clock.every(intervalMs, () => {
    try {
      round();
    } catch (err) {
      logger.error({ err }, failure);
    }
  });
}
