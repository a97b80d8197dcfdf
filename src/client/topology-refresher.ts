// Keeps the shard map fresh: one refresh at a time (single flight), no more often than every
// MIN_INTERVAL_MS. A refresh asks the endpoints for Status one after the other, hedged: the next
// one is asked when the previous failed or after HEDGE_AFTER_MS without an answer, and the first
// answer wins (the others are cancelled). So a hung endpoint listed first costs HEDGE_AFTER_MS, not
// the refresh's whole budget. Runs in the background after a failure that came without a leader
// hint, and in the foreground before a client's first keyed call.
import type { StatusResponse } from '../gen/ringkv/v1/kv.ts';
import type { ChannelPool } from './channels.ts';
import { callUnary } from './rpc.ts';
import type { Topology } from './topology.ts';

const MIN_INTERVAL_MS = 200;
/** Bound on one Status attempt, so a paused node cannot hold a background refresh for long. */
const ATTEMPT_TIMEOUT_MS_MAX = 1000;
/** How long an endpoint may take to answer Status before the next one is asked as well. */
const HEDGE_AFTER_MS = 150;

export class TopologyRefresher {
  private readonly pool: ChannelPool;
  private readonly topology: Topology;
  private readonly enabled: boolean;
  private readonly closing = new AbortController();
  // Invariant: at most one refresh runs at a time.
  private inFlight: Promise<void> | undefined;
  private lastStartMs = Number.NEGATIVE_INFINITY;
  private readonly trace: ((line: string) => void) | undefined;

  /** `trace`: one line per Status asked and per refresh (RingkvClientOptions.trace). */
  constructor(pool: ChannelPool, topology: Topology, enabled: boolean, trace?: (line: string) => void) {
    this.pool = pool;
    this.topology = topology;
    this.enabled = enabled;
    this.trace = trace;
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
    const done = new AbortController();
    const abort = AbortSignal.any([
      this.closing.signal,
      done.signal,
      ...(signal === undefined ? [] : [signal]),
    ]);
    const deadlineMs = Date.now() + timeoutMs;
    const now = Date.now();
    const all = this.topology.candidates();
    // Endpoints that refused connections lately go last.
    const ordered = [
      ...all.filter((e) => !this.topology.isDown(e, now)),
      ...all.filter((e) => this.topology.isDown(e, now)),
    ];
    const trace = this.trace;
    try {
      const status = await hedged(ordered, HEDGE_AFTER_MS, deadlineMs, abort, (endpoint) => {
        const stubs = this.pool.get(endpoint);
        const askedMs = Date.now();
        const attemptDeadlineMs = Math.min(deadlineMs, askedMs + ATTEMPT_TIMEOUT_MS_MAX);
        const asked = callUnary(
          stubs.cluster.status.bind(stubs.cluster),
          {},
          endpoint,
          attemptDeadlineMs,
          abort,
        );
        if (trace === undefined) return asked;
        const after = () => `${Date.now() - askedMs} ms (at +${askedMs - now} ms of the refresh)`;
        return asked.then(
          (s) => {
            trace(`shard map: status from ${endpoint} (${s.nodeId}) after ${after()}`);
            return s;
          },
          (e: unknown) => {
            trace(
              done.signal.aborted
                ? `shard map: status from ${endpoint} cancelled after ${after()} (another answered first)`
                : `shard map: status from ${endpoint} failed after ${after()}: ${(e as Error).message}`,
            );
            throw e;
          },
        );
      });
      if (status !== undefined) this.topology.learnStatus(status);
      else trace?.(`shard map: no status within ${timeoutMs} ms from ${ordered.join(', ')}`);
    } finally {
      done.abort(); // cancels the attempts still under way
    }
  }
}

/**
 * Asks `endpoints` in order, starting the next one when the previous fails or after `hedgeMs`
 * without an answer; resolves with the first answer, or undefined when every one failed, the
 * deadline passed or `abort` fired. At most endpoints.length calls; never rejects.
 */
function hedged(
  endpoints: readonly string[],
  hedgeMs: number,
  deadlineMs: number,
  abort: AbortSignal,
  ask: (endpoint: string) => Promise<StatusResponse>,
): Promise<StatusResponse | undefined> {
  return new Promise((resolve) => {
    let next = 0;
    let running = 0;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (v: StatusResponse | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(deadlineTimer);
      abort.removeEventListener('abort', onAbort);
      resolve(v);
    };
    const onAbort = (): void => finish(undefined);
    const deadlineTimer = setTimeout(onAbort, Math.max(0, deadlineMs - Date.now()));
    const launch = (): void => {
      clearTimeout(timer);
      if (settled) return;
      const endpoint = endpoints[next++];
      if (endpoint === undefined) {
        if (running === 0) finish(undefined);
        return;
      }
      running++;
      ask(endpoint).then(finish, () => {
        running--;
        launch();
      });
      timer = setTimeout(launch, hedgeMs);
    };
    abort.addEventListener('abort', onAbort, { once: true });
    if (abort.aborted) finish(undefined);
    else launch();
  });
}
