// Exponential backoff with jitter between retries, and a sleep that an AbortSignal can cut short.

export interface BackoffPolicy {
  /** First delay. */
  readonly baseMs: number;
  /** Largest delay. */
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 25, maxMs: 1000 };

/**
 * Delay before retry number `attempt` (0-based): "equal jitter", uniformly in [cap/2, cap] with
 * cap = min(maxMs, baseMs * 2^attempt), so that clients that failed together do not retry in
 * lockstep but every retry still waits a little.
 */
export function backoffDelayMs(policy: BackoffPolicy, attempt: number, random: () => number): number {
  if (!(policy.baseMs > 0 && policy.maxMs >= policy.baseMs)) {
    throw new RangeError(`backoff needs 0 < baseMs <= maxMs, got ${policy.baseMs}, ${policy.maxMs}`);
  }
  const cap = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  const r = random();
  if (!(r >= 0 && r < 1)) throw new RangeError(`random() must be in [0, 1), got ${r}`);
  return cap / 2 + (r * cap) / 2;
}

/** Resolves after `ms`, or early (without error) when `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted === true || ms <= 0) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
