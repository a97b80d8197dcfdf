// An ordered set of keys for cheap range scans: a list of sorted leaves (each a small sorted array)
// plus each leaf's largest key, as in Python's sortedcontainers. Insert and delete cost a binary search
// over the leaves, a binary search in one leaf and a splice of at most leafKeysMax elements; a scan
// walks leaves in order. Keys are latin1 strings (one char per byte), so JS string order is bytewise.

const LEAF_KEYS_MAX_DEFAULT = 512;

/** Index of the first element of sorted `xs` that is >= k (xs.length if none). */
function lowerBound(xs: readonly string[], k: string): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < k) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A position in the set: leaf number and offset in it. */
export interface KeyCursor {
  leaf: number;
  pos: number;
}

export class SortedKeys {
  /** Invariants: no leaf is empty; keys strictly increase across leaves; maxes[i] === last key of leaves[i]. */
  private leaves: string[][] = [];
  private maxes: string[] = [];
  private readonly leafKeysMax: number;
  /** Leaves handed out by freeze() since the last thaw(): never changed, copied before a change. */
  private frozen = new WeakSet<string[]>();
  size = 0;

  constructor(leafKeysMax: number = LEAF_KEYS_MAX_DEFAULT) {
    if (!Number.isInteger(leafKeysMax) || leafKeysMax < 2)
      throw new Error(`sorted-keys: leafKeysMax ${leafKeysMax} < 2`);
    this.leafKeysMax = leafKeysMax;
  }

  /** Builds from keys already in strictly increasing order. */
  static fromSorted(keys: readonly string[], leafKeysMax: number = LEAF_KEYS_MAX_DEFAULT): SortedKeys {
    const set = new SortedKeys(leafKeysMax);
    const per = Math.max(1, leafKeysMax >>> 1);
    for (let i = 0; i < keys.length; i += per) {
      const leaf = keys.slice(i, i + per);
      set.leaves.push(leaf);
      set.maxes.push(leaf[leaf.length - 1]!);
    }
    set.size = keys.length;
    return set;
  }

  /** Adds k; false when it was present. */
  insert(k: string): boolean {
    if (this.leaves.length === 0) {
      this.leaves.push([k]);
      this.maxes.push(k);
      this.size = 1;
      return true;
    }
    const i = Math.min(lowerBound(this.maxes, k), this.leaves.length - 1);
    const pos = lowerBound(this.leaves[i]!, k);
    if (this.leaves[i]![pos] === k) return false;
    const leaf = this.writableLeaf(i);
    leaf.splice(pos, 0, k);
    this.maxes[i] = leaf[leaf.length - 1]!;
    this.size++;
    if (leaf.length > this.leafKeysMax) {
      const half = leaf.splice(leaf.length >>> 1);
      this.leaves.splice(i + 1, 0, half);
      this.maxes[i] = leaf[leaf.length - 1]!;
      this.maxes.splice(i + 1, 0, half[half.length - 1]!);
    }
    return true;
  }

  /** Removes k; false when it was absent. */
  delete(k: string): boolean {
    const i = lowerBound(this.maxes, k);
    const found = this.leaves[i];
    if (found === undefined) return false;
    const pos = lowerBound(found, k);
    if (found[pos] !== k) return false;
    const leaf = this.writableLeaf(i);
    leaf.splice(pos, 1);
    this.size--;
    if (leaf.length === 0) {
      this.leaves.splice(i, 1);
      this.maxes.splice(i, 1);
      return true;
    }
    this.maxes[i] = leaf[leaf.length - 1]!;
    // Merge a small leaf into its successor so that deletions cannot leave many tiny leaves.
    const next = this.leaves[i + 1];
    if (next !== undefined && leaf.length + next.length <= this.leafKeysMax >>> 1) {
      this.leaves[i] = leaf.concat(next);
      this.maxes[i] = this.maxes[i + 1]!;
      this.leaves.splice(i + 1, 1);
      this.maxes.splice(i + 1, 1);
    }
    return true;
  }

  /** A cursor at the first key >= k. */
  seek(k: string): KeyCursor {
    const leaf = lowerBound(this.maxes, k);
    const keys = this.leaves[leaf];
    return { leaf, pos: keys === undefined ? 0 : lowerBound(keys, k) };
  }

  /** The key at the cursor, or undefined past the end. */
  at(c: KeyCursor): string | undefined {
    return this.leaves[c.leaf]?.[c.pos];
  }

  /** Moves the cursor to the next key. */
  next(c: KeyCursor): void {
    c.pos++;
    if (c.pos >= (this.leaves[c.leaf]?.length ?? 0)) {
      c.leaf++;
      c.pos = 0;
    }
  }

  /**
   * The keys as they are now, in order, as leaves that later changes never touch: a leaf is copied
   * before its first change after this. Costs a reference per leaf, not per key.
   */
  freeze(): readonly (readonly string[])[] {
    for (const leaf of this.leaves) this.frozen.add(leaf);
    return this.leaves.slice();
  }

  /** No leaf freeze() handed out is read any more: changes stop copying them. */
  thaw(): void {
    this.frozen = new WeakSet();
  }

  /** Leaf i, ready to be changed in place (a copy replaces it if it is frozen). */
  private writableLeaf(i: number): string[] {
    const leaf = this.leaves[i]!;
    if (!this.frozen.has(leaf)) return leaf;
    const copy = leaf.slice();
    this.leaves[i] = copy;
    return copy;
  }

  /** All keys in order (for serialisation and tests). */
  toArray(): string[] {
    return this.leaves.flat();
  }
}
