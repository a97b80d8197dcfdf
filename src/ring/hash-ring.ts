// The consistent-hashing ring: every member owns `vnodes` tokens at pseudo-random points of a 64-bit
// circle; a point's preference list is the distinct members met walking clockwise from it. A shard's
// point is fixed, so its preference list changes only where a member's tokens are added or removed:
// a new member enters each list at a position that depends on its own tokens alone, and the order
// of the others is unchanged. Pure and deterministic: the same members give the same ring anywhere.

/** Tokens per member. Why 64: see ring/README.md (the spread of the preference lists, measured). */
export const VNODES_DEFAULT = 64;
/** Bounds: a ring of more tokens costs memory and sort time for nothing measurable. */
export const VNODES_MAX = 1024;
export const MEMBERS_MAX = 1024;

const MASK_64 = (1n << 64n) - 1n;
const FNV64_OFFSET = 0xcbf29ce484222325n;
const FNV64_PRIME = 0x100000001b3n;
const encoder = new TextEncoder();

/**
 * A 64-bit hash of a string: FNV-1a over its UTF-8 bytes, then splitmix64's finaliser (FNV alone
 * maps strings that differ in their last character, such as "n1#1" and "n1#2", to nearby values).
 */
export function hash64(s: string): bigint {
  let h = FNV64_OFFSET;
  for (const b of encoder.encode(s)) {
    h ^= BigInt(b);
    h = (h * FNV64_PRIME) & MASK_64;
  }
  h = ((h ^ (h >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK_64;
  h = ((h ^ (h >> 27n)) * 0x94d049bb133111ebn) & MASK_64;
  return h ^ (h >> 31n);
}

interface Token {
  readonly point: bigint;
  /** Index into HashRing.members. */
  readonly member: number;
}

export class HashRing {
  /** Member ids, sorted. Invariant: distinct, 1..MEMBERS_MAX of them. */
  readonly members: readonly string[];
  /** Sorted by point (ties by member index). Invariant: members.length × vnodes tokens. */
  private readonly tokens: readonly Token[];

  constructor(memberIds: readonly string[], vnodes = VNODES_DEFAULT) {
    if (!Number.isInteger(vnodes) || vnodes < 1 || vnodes > VNODES_MAX) {
      throw new RangeError(`vnodes must be an integer in [1, ${VNODES_MAX}], got ${vnodes}`);
    }
    const members = [...memberIds].sort();
    if (members.length === 0 || members.length > MEMBERS_MAX) {
      throw new RangeError(`a ring needs 1 to ${MEMBERS_MAX} members, got ${members.length}`);
    }
    for (let i = 1; i < members.length; i++) {
      if (members[i] === members[i - 1]) throw new RangeError(`member ${members[i]} is listed twice`);
    }
    const tokens: Token[] = [];
    for (let m = 0; m < members.length; m++) {
      for (let v = 0; v < vnodes; v++) tokens.push({ point: hash64(`${members[m]}#${v}`), member: m });
    }
    tokens.sort((a, b) => (a.point < b.point ? -1 : a.point > b.point ? 1 : a.member - b.member));
    this.members = members;
    this.tokens = tokens;
  }

  /** Every member once, in the order met walking clockwise from `point` (inclusive). */
  preference(point: bigint): string[] {
    const tokens = this.tokens;
    let lo = 0;
    let hi = tokens.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((tokens[mid] as Token).point < point) lo = mid + 1;
      else hi = mid;
    }
    const seen = new Uint8Array(this.members.length);
    const out: string[] = [];
    // Bounded: one lap of the ring at most.
    for (let i = 0; i < tokens.length && out.length < this.members.length; i++) {
      const t = tokens[(lo + i) % tokens.length] as Token;
      if (seen[t.member] === 1) continue;
      seen[t.member] = 1;
      out.push(this.members[t.member] as string);
    }
    if (out.length !== this.members.length) {
      throw new Error(`ring: a lap met ${out.length} of ${this.members.length} members`);
    }
    return out;
  }
}

/** The fixed point of a shard on the ring. */
export function shardPoint(shardId: number): bigint {
  return hash64(`shard#${shardId}`);
}
