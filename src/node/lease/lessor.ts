// When leases expire: decided by each shard's leader alone, in memory, on the node's Clock, and
// carried out by proposing a leaseRevoke through Raft (src/storage/leases.ts holds the replicated
// leases; this holds only deadlines). Followers keep no deadlines.
//
// A replica that starts leading a shard (a term it did not lead before) first sets every lease's
// deadline to now + its TTL, before it may expire any: the old leader's keep-alives are not known
// here, so a leader change extends every lease by one TTL instead of expiring a live one (as etcd
// does). A lease granted while leading gets now + TTL when this first sees it. KeepAlive sets now +
// TTL. Every round (LEASE_CHECK_INTERVAL_MS) proposes revokes of the leases past their deadline, at
// most LEASE_REVOKES_PER_ROUND_MAX in flight; a revoke that fails is proposed again a round later.
import type { Logger } from 'pino';
import type { Clock, Timer } from '../clock.ts';
import { everyRound } from '../periodic.ts';

export const LEASE_CHECK_INTERVAL_MS = 250;
/** Bound on the revokes this node has proposed and not seen settle, over all shards. */
export const LEASE_REVOKES_PER_ROUND_MAX = 64;

/** A shard this node's replica leads now, as the lessor needs it. */
export interface LedShard {
  readonly term: number;
  /** The shard's leases (grant index → TTL ms) as this replica has applied them. */
  ttls(): ReadonlyMap<number, number>;
}

export interface LessorHost {
  readonly clock: Pick<Clock, 'nowMs' | 'every' | 'cancel'>;
  readonly logger: Pick<Logger, 'error'>;
  /** Shard ids of the data shards hosted here. */
  shardIds(): Iterable<number>;
  /** The shard as its leader sees it, or undefined when this replica does not lead it. */
  led(shard: number): LedShard | undefined;
  /** Proposes revoking lease `index` of `shard`; settles once applied here or failed. */
  revoke(shard: number, index: number): Promise<unknown>;
}

interface Deadlines {
  /** The term these deadlines were set in. Invariant: the replica led the shard in it. */
  readonly term: number;
  /** Grant index → deadline (ms on the clock). Invariant: only leases the replica has applied. */
  readonly atMs: Map<number, number>;
}

export class Lessor {
  private readonly host: LessorHost;
  private readonly shards = new Map<number, Deadlines>();
  /** Revokes proposed and not settled, as `shard:index`. Invariant: size <= LEASE_REVOKES_PER_ROUND_MAX. */
  private readonly revoking = new Set<string>();
  private timer: Timer | undefined;

  constructor(host: LessorHost) {
    this.host = host;
  }

  start(): void {
    this.timer = everyRound(
      this.host.clock,
      LEASE_CHECK_INTERVAL_MS,
      this.host.logger,
      'lease expiry round failed',
      () => this.round(),
    );
  }

  stop(): void {
    if (this.timer !== undefined) this.host.clock.cancel(this.timer);
    this.timer = undefined;
  }

  /**
   * Renews lease `index` of a shard this replica leads: its deadline becomes now + TTL. Returns the
   * TTL (ms), or undefined when the replica has applied no such lease.
   */
  keepAlive(shard: number, led: LedShard, index: number): number | undefined {
    const d = this.deadlines(shard, led);
    const ttlMs = led.ttls().get(index);
    if (ttlMs === undefined) return undefined;
    d.atMs.set(index, this.host.clock.nowMs() + ttlMs);
    return ttlMs;
  }

  /** The ms left before lease `index` of a shard this replica leads expires (>= 0), or undefined. */
  remainingMs(shard: number, led: LedShard, index: number): number | undefined {
    const at = this.deadlines(shard, led).atMs.get(index);
    return at === undefined ? undefined : Math.max(0, at - this.host.clock.nowMs());
  }

  /** One round: forget shards no longer led, bring the others' deadlines up to date, revoke the expired. */
  round(): void {
    const nowMs = this.host.clock.nowMs();
    const ids = new Set(this.host.shardIds());
    for (const shard of this.shards.keys()) if (!ids.has(shard)) this.shards.delete(shard);
    for (const shard of ids) {
      const led = this.host.led(shard);
      if (led === undefined) {
        this.shards.delete(shard);
        continue;
      }
      const d = this.deadlines(shard, led);
      for (const [index, atMs] of d.atMs) {
        if (atMs > nowMs) continue;
        if (this.revoking.size >= LEASE_REVOKES_PER_ROUND_MAX) return;
        this.startRevoke(shard, index);
      }
    }
  }

  private startRevoke(shard: number, index: number): void {
    const key = `${shard}:${index}`;
    if (this.revoking.has(key)) return;
    this.revoking.add(key);
    this.host.revoke(shard, index).then(
      () => this.revoking.delete(key),
      () => this.revoking.delete(key),
    );
  }

  /**
   * The shard's deadlines, synced with its applied leases: all set to now + TTL when this term is
   * new to the lessor (the replica just became leader), else new leases added and revoked ones
   * dropped.
   */
  private deadlines(shard: number, led: LedShard): Deadlines {
    const nowMs = this.host.clock.nowMs();
    const ttls = led.ttls();
    let d = this.shards.get(shard);
    if (d === undefined || d.term !== led.term) {
      d = { term: led.term, atMs: new Map() };
      this.shards.set(shard, d);
    }
    for (const index of d.atMs.keys()) if (!ttls.has(index)) d.atMs.delete(index);
    for (const [index, ttlMs] of ttls) if (!d.atMs.has(index)) d.atMs.set(index, nowMs + ttlMs);
    return d;
  }
}
