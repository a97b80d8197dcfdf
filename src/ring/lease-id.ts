// A lease's cluster-wide id: its shard in the high 16 bits, the index of the entry that granted it
// in that shard's log in the low 48 (src/storage/leases.ts names a lease by that index within its
// shard). Unique (one grant per entry) and the same on every replica, so the server and the client
// can tell a lease's shard from its id. On the wire a uint64; printed and parsed as decimal.

export const LEASE_SHARD_MAX = 0xffff;
const INDEX_BITS = 48n;
const INDEX_MASK = (1n << INDEX_BITS) - 1n;

export interface LeaseRef {
  /** The data shard (1..LEASE_SHARD_MAX) the lease lives in. */
  readonly shard: number;
  /** The grant entry's index in that shard's log (>= 1). */
  readonly index: number;
}

export function leaseId(ref: LeaseRef): bigint {
  if (!Number.isInteger(ref.shard) || ref.shard < 1 || ref.shard > LEASE_SHARD_MAX)
    throw new Error(`lease-id: shard ${ref.shard} outside [1, ${LEASE_SHARD_MAX}]`);
  if (!Number.isSafeInteger(ref.index) || ref.index < 1 || BigInt(ref.index) > INDEX_MASK)
    throw new Error(`lease-id: index ${ref.index} outside [1, 2^48)`);
  return (BigInt(ref.shard) << INDEX_BITS) | BigInt(ref.index);
}

/** The shard and index of a lease id; undefined when no lease could have it (shard or index 0). */
export function parseLeaseId(id: bigint): LeaseRef | undefined {
  if (id <= 0n || id >= 1n << 64n) return undefined;
  const shard = Number(id >> INDEX_BITS);
  const index = Number(id & INDEX_MASK);
  if (shard < 1 || index < 1) return undefined;
  return { shard, index };
}

/** A lease id as the CLI takes it: decimal digits; undefined when it is not one or names no lease. */
export function parseLeaseIdText(text: string): bigint | undefined {
  if (!/^[0-9]{1,20}$/.test(text)) return undefined;
  const id = BigInt(text);
  return parseLeaseId(id) === undefined ? undefined : id;
}
