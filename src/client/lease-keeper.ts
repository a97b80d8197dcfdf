// Keeping a lease alive from the client (RingkvClient.keepAlive): a keep-alive every TTL/3, and a
// `lost` promise that settles once the lease can no longer be counted on. Conservative: the lease is
// lost when no renewal has succeeded within one TTL of the *send* time of the last one that did
// (the leader may have renewed it at any moment after that send, so its deadline is no earlier than
// send + TTL, and may be no later), or at once when the leader says it is gone (NOT_FOUND).

import { parseLeaseId, parseLeaseIdText } from '../ring/lease-id.ts';
import { InvalidArgumentError, RingkvError } from './errors.ts';
import type { CallOptions } from './kv-types.ts';

/** What the keeper needs of the client. */
export interface LeaseRenewer {
  leaseKeepAlive(id: bigint, opts: CallOptions): Promise<{ ttlSeconds: number }>;
}

export interface KeepAliveOptions {
  /** Called after each successful renewal with the lease's TTL. */
  readonly onRenewed?: (ttlSeconds: number) => void;
}

/** Why a kept lease was lost: gone at the leader, or not renewed within its TTL. */
export interface LeaseLost {
  readonly reason: 'notFound' | 'expired';
  /** The last renewal's failure, when there was one. */
  readonly error: unknown;
}

/** A failed renewal is tried again after this long (bounded by TTL/3). */
const RETRY_MS_MAX = 500;

export class LeaseKeeper {
  readonly id: bigint;
  /** Settles (never rejects) when the lease is lost; stays pending after stop(). */
  readonly lost: Promise<LeaseLost>;
  private settle: (l: LeaseLost) => void = () => {};
  private readonly renewer: LeaseRenewer;
  private readonly onRenewed: ((ttlSeconds: number) => void) | undefined;
  /** Real time of the last successful renewal's send; undefined before the first. */
  private okSentAtMs: number | undefined;
  private ttlMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private expiry: NodeJS.Timeout | undefined;
  private lastError: unknown;
  /** Invariant: once true, no timer is set and no renewal starts. */
  private done = false;

  constructor(renewer: LeaseRenewer, id: bigint, opts: KeepAliveOptions = {}) {
    this.renewer = renewer;
    this.id = id;
    this.onRenewed = opts.onRenewed;
    this.lost = new Promise((resolve) => {
      this.settle = resolve;
    });
    this.renew();
  }

  /**
   * The real time before which the leader cannot have expired the lease: the last successful
   * renewal's send time + TTL (undefined before the first). Never later than the leader's deadline.
   */
  get horizonMs(): number | undefined {
    return this.okSentAtMs === undefined ? undefined : this.okSentAtMs + this.ttlMs;
  }

  /** Stops renewing (the lease then expires one TTL after the last renewal unless revoked). */
  stop(): void {
    this.done = true;
    clearTimeout(this.timer);
    clearTimeout(this.expiry);
  }

  private renew(): void {
    if (this.done) return;
    const sentAtMs = Date.now();
    // Each try is bounded: by the lease's remaining window once known, else by 5 s.
    const timeoutMs =
      this.okSentAtMs === undefined ? 5000 : Math.max(100, this.okSentAtMs + this.ttlMs - sentAtMs);
    this.renewer.leaseKeepAlive(this.id, { timeoutMs }).then(
      (res) => this.renewed(sentAtMs, res.ttlSeconds),
      (e: unknown) => this.failed(e),
    );
  }

  private renewed(sentAtMs: number, ttlSeconds: number): void {
    if (this.done) return;
    this.ttlMs = ttlSeconds * 1000;
    this.okSentAtMs = Math.max(this.okSentAtMs ?? 0, sentAtMs);
    clearTimeout(this.expiry);
    this.expiry = setTimeout(() => this.lose('expired'), this.okSentAtMs + this.ttlMs - Date.now());
    this.onRenewed?.(ttlSeconds);
    this.timer = setTimeout(() => this.renew(), this.ttlMs / 3);
  }

  private failed(e: unknown): void {
    if (this.done) return;
    this.lastError = e;
    if (e instanceof RingkvError && e.grpcCode === 'NOT_FOUND') {
      this.lose('notFound');
      return;
    }
    if (this.okSentAtMs === undefined && e instanceof InvalidArgumentError) {
      this.lose('notFound');
      return;
    }
    const retryMs = this.ttlMs === 0 ? RETRY_MS_MAX : Math.min(RETRY_MS_MAX, this.ttlMs / 3);
    this.timer = setTimeout(() => this.renew(), retryMs);
  }

  private lose(reason: LeaseLost['reason']): void {
    if (this.done) return;
    this.stop();
    this.settle({ reason, error: this.lastError });
  }
}

/** A lease id from a bigint or its decimal string; InvalidArgumentError when it names no lease. */
export function leaseIdOf(id: bigint | string): bigint {
  const parsed =
    typeof id === 'string' ? parseLeaseIdText(id) : parseLeaseId(id) === undefined ? undefined : id;
  if (parsed === undefined)
    throw new InvalidArgumentError(`${String(id)} is not a lease id (decimal: shard << 48 | index)`);
  return parsed;
}

/** The shard a lease lives in (its id's high 16 bits). */
export function leaseShard(id: bigint): number | undefined {
  return parseLeaseId(id)?.shard;
}
