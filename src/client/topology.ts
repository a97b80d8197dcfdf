// What the client believes about the cluster: the number of data shards, the client address of
// each shard's leader, the members, and which endpoints refused connections recently. Learned
// from Status, from every response header and from the leader hints on errors; it is only a
// cache, so being wrong costs a hop or a retry, never correctness.
import type { ResponseHeader, StatusResponse } from '../gen/ringkv/v1/kv.ts';
import {
  HASH_TAG_HASHING,
  type KeyHashing,
  METADATA_GROUP_ID,
  SLOT_COUNT,
  shardOf,
  WHOLE_KEY_HASHING,
} from '../ring/slots.ts';
import { assertEndpoint, ENDPOINTS_MAX } from './channels.ts';

export class Topology {
  /** Data shards (ids 1..shardCount); undefined until a Status answered. */
  shardCount: number | undefined;
  /**
   * How the cluster hashes keys (its settings, fixed at its creation); undefined until a Status
   * that knows the cluster answered. Without it no key is placed here: a guess by the wrong rule
   * would refuse a transaction the cluster would run, or the other way round.
   */
  keyHashing: KeyHashing | undefined;
  /** The configured endpoints, in the caller's order. Invariant: non-empty. */
  readonly seeds: readonly string[];
  // Invariant: keys are shard ids in [0, SLOT_COUNT]; values are endpoints (host:port).
  private readonly leaderByShard = new Map<number, string>();
  // Client addresses of the members named by the last Status (node id → host:port).
  private readonly memberAddrs = new Map<string, string>();
  // Invariant: keys are shard ids in [1, SLOT_COUNT]; values are the newest epoch seen for the shard
  // (Status, a response header, a stale-route answer). Requests carry it (`shard_epoch`).
  private readonly epochByShard = new Map<number, bigint>();
  // Endpoint → time (ms) before which it is not worth trying again (it refused a connection).
  private readonly downUntilMs = new Map<string, number>();
  private nextPick = 0;

  constructor(seeds: readonly string[]) {
    if (seeds.length === 0) throw new RangeError('RingkvClient needs at least one endpoint');
    for (const s of seeds) assertEndpoint(s);
    this.seeds = [...new Set(seeds)];
  }

  learnStatus(status: StatusResponse): void {
    this.memberAddrs.clear();
    for (const m of status.members.slice(0, ENDPOINTS_MAX)) {
      if (isEndpoint(m.clientAddr)) this.memberAddrs.set(m.nodeId, m.clientAddr);
    }
    let maxShard = 0;
    for (const s of status.shards) {
      if (s.shardId === METADATA_GROUP_ID || s.shardId > SLOT_COUNT) continue;
      maxShard = Math.max(maxShard, s.shardId);
      const addr = this.memberAddrs.get(s.leader);
      if (addr === undefined) this.leaderByShard.delete(s.shardId);
      else this.leaderByShard.set(s.shardId, addr);
    }
    if (maxShard > 0) this.shardCount = maxShard;
    if (status.settings !== undefined)
      this.keyHashing = status.settings.hashTags ? HASH_TAG_HASHING : WHOLE_KEY_HASHING;
    for (const p of status.placement) this.learnEpoch(p.shardId, p.epoch);
  }

  learnHeader(header: ResponseHeader | undefined): void {
    if (header === undefined) return;
    this.learnLeader(header.shardId, header.leaderAddr);
    this.learnEpoch(header.shardId, header.shardEpoch);
  }

  /** Keeps the newest epoch seen for a data shard (an older one is ignored). */
  learnEpoch(shardId: number, epoch: bigint): void {
    if (!Number.isInteger(shardId) || shardId <= METADATA_GROUP_ID || shardId > SLOT_COUNT) return;
    if (epoch > (this.epochByShard.get(shardId) ?? 0n)) this.epochByShard.set(shardId, epoch);
  }

  /** The epoch of the shard in this client's table; 0 when unknown (the node then forwards as it must). */
  epochOf(shardId: number | undefined): bigint {
    return shardId === undefined ? 0n : (this.epochByShard.get(shardId) ?? 0n);
  }

  learnLeader(shardId: number, leaderAddr: string | undefined): void {
    if (leaderAddr === undefined || !isEndpoint(leaderAddr)) return;
    if (!Number.isInteger(shardId) || shardId < 0 || shardId > SLOT_COUNT) return;
    this.leaderByShard.set(shardId, leaderAddr);
  }

  /** Forgets the leader of `shardId` if it is still `endpoint` (it just failed us). */
  forgetLeader(shardId: number, endpoint: string): void {
    if (this.leaderByShard.get(shardId) === endpoint) this.leaderByShard.delete(shardId);
  }

  leaderOf(shardId: number): string | undefined {
    return this.leaderByShard.get(shardId);
  }

  /** The shard of `key`, or undefined while the shard count or the cluster's key hashing is unknown. */
  shardFor(key: Uint8Array): number | undefined {
    if (this.shardCount === undefined || this.keyHashing === undefined) return undefined;
    return shardOf(key, this.shardCount, this.keyHashing);
  }

  /** Every endpoint worth knowing: the configured ones first, then the members learned. */
  candidates(): string[] {
    const all = new Set<string>(this.seeds);
    for (const addr of this.memberAddrs.values()) {
      if (all.size >= ENDPOINTS_MAX) break;
      all.add(addr);
    }
    return [...all];
  }

  /** Any endpoint, round-robin, preferring those that have not refused a connection lately. */
  pickAny(nowMs: number, avoid?: string): string {
    const all = this.candidates();
    const usable = all.filter((e) => (this.downUntilMs.get(e) ?? 0) <= nowMs && e !== avoid);
    const pool = usable.length > 0 ? usable : all;
    const picked = pool[this.nextPick++ % pool.length];
    if (picked === undefined) throw new Error(`Topology: no endpoint to pick among ${all.length}`);
    return picked;
  }

  isDown(endpoint: string, nowMs: number): boolean {
    return (this.downUntilMs.get(endpoint) ?? 0) > nowMs;
  }

  markDown(endpoint: string, untilMs: number): void {
    if (this.downUntilMs.size < ENDPOINTS_MAX || this.downUntilMs.has(endpoint)) {
      this.downUntilMs.set(endpoint, untilMs);
    }
  }

  markUp(endpoint: string): void {
    this.downUntilMs.delete(endpoint);
  }
}

function isEndpoint(addr: string): boolean {
  try {
    assertEndpoint(addr);
    return true;
  } catch {
    return false;
  }
}
