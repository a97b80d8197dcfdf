// Which shard owns a key. Keys hash to one of SLOT_COUNT slots (FNV-1a, 32 bits); slots are cut
// into `shardCount` contiguous ranges, one per shard. Shard ids start at 1: group 0 is the
// metadata group. Client and node must agree on this function, so it lives here, below both.

export const SLOT_COUNT = 4096;
/** The Raft group that holds the member list and the shard table. */
export const METADATA_GROUP_ID = 0;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a over the key's bytes, reduced to a slot in [0, SLOT_COUNT). */
export function slotOf(key: Uint8Array): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < key.length; i++) {
    h ^= key[i] as number;
    h = Math.imul(h, FNV_PRIME);
  }
  return (h >>> 0) % SLOT_COUNT;
}

/** The data shard (1..shardCount) that owns `key`. */
export function shardOf(key: Uint8Array, shardCount: number): number {
  if (!Number.isInteger(shardCount) || shardCount < 1 || shardCount > SLOT_COUNT) {
    throw new RangeError(`shardCount must be an integer in [1, ${SLOT_COUNT}], got ${shardCount}`);
  }
  return Math.floor((slotOf(key) * shardCount) / SLOT_COUNT) + 1;
}

/** The slots a data shard owns: `first..last` inclusive, the ranges of 1..shardCount in order. */
export function slotRange(shardId: number, shardCount: number): { first: number; last: number } {
  if (!Number.isInteger(shardCount) || shardCount < 1 || shardCount > SLOT_COUNT) {
    throw new RangeError(`shardCount must be an integer in [1, ${SLOT_COUNT}], got ${shardCount}`);
  }
  if (!Number.isInteger(shardId) || shardId < 1 || shardId > shardCount) {
    throw new RangeError(`shard id must be an integer in [1, ${shardCount}], got ${shardId}`);
  }
  // shardOf puts slot x in shard ⌊x·S/SLOT_COUNT⌋ + 1, so shard s starts at ⌈(s−1)·SLOT_COUNT/S⌉.
  const first = Math.ceil(((shardId - 1) * SLOT_COUNT) / shardCount);
  const last = Math.ceil((shardId * SLOT_COUNT) / shardCount) - 1;
  return { first, last };
}
