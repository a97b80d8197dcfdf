// Keeps the shard map fresh: one Status call at a time (single flight), no more often than every
// MIN_INTERVAL_MS, asking the endpoints in turn until one answers. Runs in the background after a
// failure that came without a leader hint, and in the foreground before a client's first keyed call.
import type { ChannelPool } from './channels.ts';
import { callUnary } from './rpc.ts';
import type { Topology } from './topology.ts';

const MIN_INTERVAL_MS = 200;
/** Bound on one Status attempt, so a paused node cannot hold a refresh for long. */
const ATTEMPT_TIMEOUT_MS_MAX = 1000;

export class TopologyRefresher {
  private readonly pool: ChannelPool;
  private readonly topology: Topology;
  private readonly enabled: boolean;
  private readonly closing = new AbortController();
  // Invariant: at most one refresh runs at a time.
  private inFlight: Promise<void> | undefined;
  private lastStartMs = Number.NEGATIVE_INFINITY;

  constructor(pool: ChannelPool, topology: Topology, enabled: boolean) {
    this.pool = pool;
    this.topology = topology;
    this.enabled = enabled;
  }

  /** Starts a background refresh unless one is running or one started very recently. */
  request(): void {
    if (!this.enabled || this.closing.signal.aborted || this.inFlight !== undefined) return;
    if (Date.now() - this.lastStartMs < MIN_INTERVAL_MS) return;
    this.start(ATTEMPT_TIMEOUT_MS_MAX * 2, undefined).catch(() => {});
  }

  /** Refreshes now (or joins the refresh under way), within `timeoutMs`. Never throws. */
  async refreshNow(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    if (!this.enabled || this.closing.signal.aborted) return;
    await (this.inFlight ?? this.start(timeoutMs, signal)).catch(() => {});
  }

  close(): void {
    this.closing.abort();
  }

  private start(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    this.lastStartMs = Date.now();
    const run = this.refresh(timeoutMs, signal).finally(() => {
      this.inFlight = undefined;
    });
    this.inFlight = run;
    return run;
  }

  private async refresh(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    const abort = signal === undefined ? this.closing.signal : AbortSignal.any([this.closing.signal, signal]);
    const deadlineMs = Date.now() + timeoutMs;
    const now = Date.now();
    const all = this.topology.candidates();
    // Endpoints that refused connections lately go last.
    const ordered = [
      ...all.filter((e) => !this.topology.isDown(e, now)),
      ...all.filter((e) => this.topology.isDown(e, now)),
    ];
    for (const endpoint of ordered) {
      const remainingMs = deadlineMs - Date.now();
      if (remainingMs <= 0 || abort.aborted) return;
      try {
        const stubs = this.pool.get(endpoint);
        const attemptDeadlineMs = Date.now() + Math.min(remainingMs, ATTEMPT_TIMEOUT_MS_MAX);
        const status = await callUnary(
          stubs.cluster.status.bind(stubs.cluster),
          {},
          endpoint,
          attemptDeadlineMs,
          abort,
        );
        this.topology.learnStatus(status);
        return;
      } catch {
        // Try the next endpoint; the caller's own attempt loop reports failures.
      }
    }
  }
}
