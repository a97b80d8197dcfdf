// Which keys a watch follows: one key exactly, or a range [start, end) (a prefix is the range of its
// keys: prefixRange). The test runs once per change per watcher of the shard, so it allocates nothing.
import type { KeyRange } from '../../storage/kv-state.ts';

export type WatchKeys =
  | { readonly kind: 'key'; readonly key: Uint8Array }
  | { readonly kind: 'range'; readonly range: KeyRange };

/** Whether `key` is one of the watched keys. */
export function watches(keys: WatchKeys, key: Uint8Array): boolean {
  if (keys.kind === 'key') return bytesCompare(keys.key, key) === 0;
  const { start, end } = keys.range;
  return bytesCompare(key, start) >= 0 && (end === undefined || bytesCompare(key, end) < 0);
}

function bytesCompare(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(
    Buffer.from(a.buffer, a.byteOffset, a.byteLength),
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}
