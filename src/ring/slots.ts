// Which shard owns a key. Keys hash to one of SLOT_COUNT slots (FNV-1a, 32 bits); slots are cut
// into `shardCount` contiguous ranges, one per shard. Shard ids start at 1: group 0 is the
// metadata group. Client and node must agree on this function, so it lives here, below both.
//
// Hash tags (Redis Cluster's rule): when a key holds a `{` and, after it, a `}` with at least one
// byte between them, only the bytes between the first `{` and the next `}` are hashed, so that keys
// sharing a `{tag}` share a shard (a transaction may then name them all). Whether a cluster hashes
// tags is one of its settings, fixed when it is created (README.md: existing clusters keep the
// whole-key hash, which placed their keys), so every caller says which rule it follows.

export const SLOT_COUNT = 4096;
/** The Raft group that holds the member list and the shard table. */
export const METADATA_GROUP_ID = 0;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

const OPEN_BRACE = 0x7b; // '{'
const CLOSE_BRACE = 0x7d; // '}'

/** How a cluster hashes keys to slots: the whole key, or its hash tag when it has one. */
export interface KeyHashing {
  readonly hashTags: boolean;
}
/** The rule of clusters created before hash tags, and of those that keep it. */
export const WHOLE_KEY_HASHING: KeyHashing = { hashTags: false };
/** The rule of clusters created by this build. */
export const HASH_TAG_HASHING: KeyHashing = { hashTags: true };

/**
 * The bytes of `key` that are hashed under hash tags: [start, end) of its tag, or the whole key when
 * it has none (no `{`, no `}` after the first `{`, or nothing between them).
 */
export function hashedPart(key: Uint8Array): { start: number; end: number } {
  const open = key.indexOf(OPEN_BRACE);
  if (open === -1) return { start: 0, end: key.length };
  const close = key.indexOf(CLOSE_BRACE, open + 1);
  if (close === -1 || close === open + 1) return { start: 0, end: key.length };
  return { start: open + 1, end: close };
}

/** FNV-1a over the key's bytes (its tag's, under hash tags), reduced to a slot in [0, SLOT_COUNT). */
export function slotOf(key: Uint8Array, hashing: KeyHashing): number {
  const { start, end } = hashing.hashTags ? hashedPart(key) : { start: 0, end: key.length };
  let h = FNV_OFFSET;
  for (let i = start; i < end; i++) {
    h ^= key[i] as number;
    h = Math.imul(h, FNV_PRIME);
  }
  return (h >>> 0) % SLOT_COUNT;
}

/** The data shard (1..shardCount) that owns `key`. */
export function shardOf(key: Uint8Array, shardCount: number, hashing: KeyHashing): number {
  if (!Number.isInteger(shardCount) || shardCount < 1 || shardCount > SLOT_COUNT) {
    throw new RangeError(`shardCount must be an integer in [1, ${SLOT_COUNT}], got ${shardCount}`);
  }
  return Math.floor((slotOf(key, hashing) * shardCount) / SLOT_COUNT) + 1;
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
