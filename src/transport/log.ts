// Logging for the transport without depending on a logging library: a pino Logger fits this
// interface as it is. Failures repeat at network speed, so repeated lines are rate limited.

export interface TransportLogger {
  debug(fields: Record<string, unknown>, msg: string): void;
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
}

const ignore = (): void => {};
export const silentLogger: TransportLogger = { debug: ignore, info: ignore, warn: ignore, error: ignore };

const KEYS_MAX = 1024;

/** Says whether a line with `key` may be logged now: at most once per intervalMs per key. */
export class LogLimiter {
  private readonly intervalMs: number;
  private readonly lastLoggedMs = new Map<string, number>();

  constructor(intervalMs: number) {
    if (!(intervalMs >= 0)) throw new Error(`LogLimiter: intervalMs must be >= 0, got ${intervalMs}`);
    this.intervalMs = intervalMs;
  }

  allow(key: string, nowMs: number = Date.now()): boolean {
    const last = this.lastLoggedMs.get(key);
    if (last !== undefined && nowMs - last < this.intervalMs) return false;
    if (this.lastLoggedMs.size >= KEYS_MAX) this.lastLoggedMs.clear(); // bound: forget, log again
    this.lastLoggedMs.set(key, nowMs);
    return true;
  }
}
