// The shards a set of keys spans, for a transaction's one-shard rule: the client checks it before it
// sends a transaction and the node before it proposes one, with the same grouping and the same words.

/**
 * The shards of `keys` by `shardOf`, each with its first key, in the keys' order; undefined as soon
 * as `shardOf` places a key nowhere (the caller does not know the cluster's rule yet).
 */
export function keysByShard(
  keys: Iterable<Uint8Array>,
  shardOf: (key: Uint8Array) => number | undefined,
): Map<number, Uint8Array> | undefined {
  const byShard = new Map<number, Uint8Array>();
  for (const key of keys) {
    const s = shardOf(key);
    if (s === undefined) return undefined;
    if (!byShard.has(s)) byShard.set(s, key);
  }
  return byShard;
}

const utf8 = new TextDecoder();

/**
 * Why keys of several shards cannot be one transaction, naming each shard (in order) and a key of it:
 * "the transaction's keys live in 2 shards: shard 1 (key "a"), shard 3 (key "b"); …".
 */
export function spansShardsMessage(byShard: ReadonlyMap<number, Uint8Array>): string {
  const named = [...byShard]
    .sort(([a], [b]) => a - b)
    .map(([s, k]) => `shard ${s} (key ${JSON.stringify(utf8.decode(k))})`)
    .join(', ');
  return `the transaction's keys live in ${byShard.size} shards: ${named}; a transaction runs in one shard: give keys that belong together the same {tag} (hash tags)`;
}
