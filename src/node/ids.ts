// The ids of the Raft groups a node hosts. Group METADATA_GROUP (0) holds the cluster's metadata
// (metadata.ts); groups 1..S are the data shards (`shardOf` in src/ring/slots.ts), each a ShardId.
// Branded, so that a shard id is never confused with a count, an index or the metadata group.

/** A Raft group hosted by the node: the metadata group or a data shard. */
export type GroupId = number & { readonly __brand: 'GroupId' };
/** A data shard's group (never METADATA_GROUP). Every ShardId is a GroupId. */
export type ShardId = GroupId & { readonly __shard: true };

/** The metadata group: members, cluster settings, shard count. */
export const METADATA_GROUP = 0 as GroupId;
/** Highest group id a node hosts (a joiner creates its groups on first contact, up to this). */
export const GROUP_ID_MAX = 1024;

export function isGroupId(n: number): n is GroupId {
  return Number.isInteger(n) && n >= 0 && n <= GROUP_ID_MAX;
}

export function isShardId(n: number): n is ShardId {
  return isGroupId(n) && n !== METADATA_GROUP;
}

/** `n` as a GroupId; a number outside [0, GROUP_ID_MAX] is a bug of the caller. */
export function groupId(n: number): GroupId {
  if (!isGroupId(n)) throw new Error(`${n} is not a group id (an integer in [0, ${GROUP_ID_MAX}])`);
  return n;
}

/** `n` as a ShardId; anything else (the metadata group included) is a bug of the caller. */
export function shardId(n: number): ShardId {
  if (!isShardId(n)) throw new Error(`group ${n} is not a data shard (an integer in [1, ${GROUP_ID_MAX}])`);
  return n;
}
