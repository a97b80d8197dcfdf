// The leases of one shard's KV state (kv-state.ts): each lease's TTL and the keys attached to it,
// and each attached key's lease, as replicated state (every replica holds the same). A lease is named
// within its shard by the index of the entry that granted it (unique in the shard's log, the same on
// every replica); the cluster-wide id adds the shard (src/node/lease/lease-id.ts). When a lease
// expires is not replicated state: the shard's leader decides it and proposes a revoke
// (src/node/lease). Keys are latin1 strings, as in KvState.
//
// Serialised (inside the KV snapshot, version 3), little-endian, leases by increasing index and
// each lease's keys in increasing order, so that equal tables give equal bytes:
//   [u32 leases] leases × ([u64 index][u64 ttlMs][u32 keys] keys × ([u32 keyBytes][key]))

/** Bound on the leases of one shard: a grant beyond it is refused. */
export const LEASES_PER_SHARD_MAX = 10_000;
/** Bound on the keys attached to one lease (a revoke deletes them all in one entry). */
export const KEYS_PER_LEASE_MAX = 10_000;
/** A lease's TTL: at least 1 s (its keep-alive runs every TTL/3) and at most 30 days. */
export const LEASE_TTL_MS_MIN = 1000;
export const LEASE_TTL_MS_MAX = 30 * 24 * 3600 * 1000;

interface Lease {
  readonly ttlMs: number;
  /** Invariant: every key here maps back to this lease in LeaseTable.keyLease; size <= KEYS_PER_LEASE_MAX. */
  readonly keys: Set<string>;
}

export class LeaseTable {
  /** Invariant: size <= LEASES_PER_SHARD_MAX; every index is the index of a grant entry. */
  private readonly leases = new Map<number, Lease>();
  /** Each attached key's lease. Invariant: k in leases.get(keyLease.get(k)).keys. */
  private readonly keyLease = new Map<string, number>();

  get size(): number {
    return this.leases.size;
  }

  /** The TTL of lease `index`, or undefined when there is no such lease. */
  ttlMs(index: number): number | undefined {
    return this.leases.get(index)?.ttlMs;
  }

  /** Every lease as index → TTL (ms), for the leader's deadlines. */
  ttls(): Map<number, number> {
    const out = new Map<number, number>();
    for (const [i, l] of this.leases) out.set(i, l.ttlMs);
    return out;
  }

  /** The keys attached to lease `index` in increasing order (empty when none or no such lease). */
  keysOf(index: number): string[] {
    const l = this.leases.get(index);
    return l === undefined ? [] : [...l.keys].sort();
  }

  /** The lease key `k` is attached to (0: none). */
  leaseOf(k: string): number {
    return this.keyLease.get(k) ?? 0;
  }

  /** Why a grant now would be refused, or undefined. */
  grantRefusal(): string | undefined {
    if (this.leases.size >= LEASES_PER_SHARD_MAX)
      return `the shard holds ${this.leases.size} leases, the most it keeps (${LEASES_PER_SHARD_MAX}); revoke some`;
    return undefined;
  }

  grant(index: number, ttlMs: number): void {
    if (this.leases.has(index) || this.leases.size >= LEASES_PER_SHARD_MAX || !validTtl(ttlMs))
      throw new Error(`leases: grant ${index} (ttl ${ttlMs} ms) with ${this.leases.size} leases`);
    this.leases.set(index, { ttlMs, keys: new Set() });
  }

  /**
   * Why attaching `newKeys` keys not yet attached to lease `index` would be refused (absent, or
   * past KEYS_PER_LEASE_MAX), or undefined.
   */
  addRefusal(index: number, newKeys: number): 'leaseNotFound' | 'leaseFull' | undefined {
    const l = this.leases.get(index);
    if (l === undefined) return 'leaseNotFound';
    if (l.keys.size + newKeys > KEYS_PER_LEASE_MAX) return 'leaseFull';
    return undefined;
  }

  /** Attaches `k` to lease `index` (0: to none), detaching it from the one it had. */
  attach(k: string, index: number): void {
    // Most puts name no lease, in a shard whose keys have none: no lookup.
    if (index === 0 && this.keyLease.size === 0) return;
    const had = this.keyLease.get(k) ?? 0;
    if (had === index) return;
    if (had !== 0) this.detach(k);
    if (index === 0) return;
    const l = this.leases.get(index);
    if (l === undefined || l.keys.size >= KEYS_PER_LEASE_MAX)
      throw new Error(`leases: attaching to lease ${index}: ${l === undefined ? 'absent' : 'full'}`);
    l.keys.add(k);
    this.keyLease.set(k, index);
  }

  /** Detaches `k` from its lease, if any (the key was deleted or written without one). */
  detach(k: string): void {
    const had = this.keyLease.get(k);
    if (had === undefined) return;
    this.keyLease.delete(k);
    const removed = this.leases.get(had)?.keys.delete(k);
    if (removed !== true) throw new Error(`leases: key of lease ${had} not among its keys`);
  }

  /** Forgets lease `index` (its keys must have been deleted first); whether it existed. */
  drop(index: number): boolean {
    const l = this.leases.get(index);
    if (l === undefined) return false;
    if (l.keys.size !== 0) throw new Error(`leases: dropping lease ${index} with ${l.keys.size} keys`);
    this.leases.delete(index);
    return true;
  }

  serializedBytes(): number {
    let n = 4;
    for (const l of this.leases.values()) {
      n += 20;
      for (const k of l.keys) n += 4 + k.length;
    }
    return n;
  }

  serializeInto(buf: Buffer, at: number): number {
    let p = at;
    buf.writeUInt32LE(this.leases.size, p);
    p += 4;
    for (const i of [...this.leases.keys()].sort((a, b) => a - b)) {
      const l = this.leases.get(i)!;
      writeU64(buf, p, i);
      writeU64(buf, p + 8, l.ttlMs);
      buf.writeUInt32LE(l.keys.size, p + 16);
      p += 20;
      for (const k of [...l.keys].sort()) {
        buf.writeUInt32LE(k.length, p);
        p += 4 + buf.write(k, p + 4, 'latin1');
      }
    }
    return p;
  }

  /**
   * Reads serializeInto's bytes at `at`; `hasKey` says whether the state holds a key (an attached
   * key must exist). Calls `fail` (which throws) on malformed bytes.
   */
  static readFrom(
    buf: Buffer,
    at: number,
    appliedIndex: number,
    hasKey: (k: string) => boolean,
    fail: (why: string) => never,
  ): { table: LeaseTable; end: number } {
    const table = new LeaseTable();
    let p = at;
    if (p + 4 > buf.length) fail('cut short before the leases');
    const count = buf.readUInt32LE(p);
    p += 4;
    if (count > LEASES_PER_SHARD_MAX) fail(`${count} leases, more than ${LEASES_PER_SHARD_MAX}`);
    let prev = 0;
    for (let i = 0; i < count; i++) {
      if (p + 20 > buf.length) fail(`cut short in lease ${i}`);
      const index = readU64(buf, p);
      const ttlMs = readU64(buf, p + 8);
      const keys = buf.readUInt32LE(p + 16);
      p += 20;
      if (!(index > prev) || index > appliedIndex) fail(`lease index ${index} out of order or too high`);
      if (!validTtl(ttlMs) || keys > KEYS_PER_LEASE_MAX) fail(`lease ${index}: ttl ${ttlMs}, ${keys} keys`);
      prev = index;
      table.grant(index, ttlMs);
      for (let j = 0; j < keys; j++) {
        if (p + 4 > buf.length) fail(`cut short in lease ${index}'s keys`);
        const n = buf.readUInt32LE(p);
        if (p + 4 + n > buf.length) fail(`cut short in lease ${index}'s keys`);
        const k = buf.toString('latin1', p + 4, p + 4 + n);
        p += 4 + n;
        if (!hasKey(k) || table.keyLease.has(k)) fail(`lease ${index}: key absent or attached twice`);
        table.attach(k, index);
      }
    }
    return { table, end: p };
  }
}

export function validTtl(ttlMs: number): boolean {
  return Number.isSafeInteger(ttlMs) && ttlMs >= LEASE_TTL_MS_MIN && ttlMs <= LEASE_TTL_MS_MAX;
}

function writeU64(buf: Buffer, off: number, n: number): void {
  buf.writeUInt32LE(n >>> 0, off);
  buf.writeUInt32LE(Math.floor(n / 0x1_0000_0000), off + 4);
}

function readU64(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off + 4) * 0x1_0000_0000 + buf.readUInt32LE(off);
}
