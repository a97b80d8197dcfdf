// Where each shard's replicas live: R distinct members per shard, chosen along the shard's ring
// preference list (hash-ring.ts), in R distinct zones when there are at least R zones, with every
// member holding its fair share of replicas: ⌊S·R/N⌋ or ⌈S·R/N⌉ (the bounded-load rule, at its
// tightest).
//
// place(current, members) keeps what it can of the current placement and moves only what the
// membership forces, so the rebalancer can turn the difference into moves:
//   1. replicas on departed members go; a shard keeps at most R, in distinct zones;
//   2. every member gets a quota (the fair share; the extra units go to those holding most);
//   3. members above quota shed the replicas they rank lowest for;
//   4. shards short of R take, in ring-preference order, the first eligible member below quota;
//   5. while a member is above quota and another below, a replica moves between them.
// So a new member takes about S·R/(N+1) replicas and nothing else moves; a member that leaves has
// its replicas re-created elsewhere and nothing else moves (unless the fair shares shift by one).
// From an empty placement, step 4 alone is the ring with bounded loads: each shard's first R
// distinct members clockwise, overflowing clockwise past members at quota.
//
// Deterministic: the same current placement and members (in any order) give the same result.
import { HashRing, shardPoint, VNODES_DEFAULT } from './hash-ring.ts';

export interface RingMember {
  readonly nodeId: string;
  /** Failure domain ('' or absent: none; such a member is a domain of its own). */
  readonly zone?: string;
}

export interface PlacementSettings {
  readonly shardCount: number;
  readonly replicationFactor: number;
  readonly vnodes?: number;
}

/** shard id (1..S) → its replicas' node ids. */
export type Placement = ReadonlyMap<number, readonly string[]>;

export const SHARD_COUNT_MAX = 4096;
export const REPLICATION_FACTOR_MAX = 7;

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`placement invariant violated: ${message}`);
}

/** The placement that `members` should have, moving as little of `current` as it can. */
export function place(
  current: Placement,
  members: readonly RingMember[],
  settings: PlacementSettings,
): Map<number, string[]> {
  const s = new PlacementState(members, settings);
  s.keep(current);
  s.assignQuotas();
  s.shedOverQuota();
  s.fillShort();
  s.balance();
  s.checkResult();
  return s.result();
}

/** Replicas to add and to remove to go from `from` to `to`, shard by shard. */
export function placementDiff(
  from: Placement,
  to: Placement,
): { shard: number; add: string[]; remove: string[] }[] {
  const shards = [...new Set([...from.keys(), ...to.keys()])].sort((a, b) => a - b);
  const out: { shard: number; add: string[]; remove: string[] }[] = [];
  for (const shard of shards) {
    const before = new Set(from.get(shard) ?? []);
    const after = new Set(to.get(shard) ?? []);
    const add = [...after].filter((n) => !before.has(n)).sort();
    const remove = [...before].filter((n) => !after.has(n)).sort();
    if (add.length > 0 || remove.length > 0) out.push({ shard, add, remove });
  }
  return out;
}

/** Replicas held per member (members holding none included). */
export function replicaCounts(p: Placement, members: readonly RingMember[]): Map<string, number> {
  const counts = new Map<string, number>(members.map((m) => [m.nodeId, 0]));
  for (const replicas of p.values()) for (const n of replicas) counts.set(n, (counts.get(n) ?? 0) + 1);
  return counts;
}

/**
 * The ring's members (sorted) and every shard's preference list, kept for the last member list
 * asked: the planner calls place() again and again with the same members, and building the ring
 * (N × vnodes 64-bit hashes) and walking it for every shard is most of a call's cost. One entry:
 * bounded, and a change of membership simply replaces it. The lists are never mutated.
 */
let lastPrefs: { key: string; ids: readonly string[]; prefs: readonly (readonly string[])[] } | undefined;

function preferenceLists(
  memberIds: readonly string[],
  vnodes: number,
  shardCount: number,
): { ids: readonly string[]; prefs: readonly (readonly string[])[] } {
  // JSON: unambiguous whatever characters the ids hold.
  const key = JSON.stringify([vnodes, shardCount, [...memberIds].sort()]);
  if (lastPrefs?.key === key) return lastPrefs;
  const ring = new HashRing(memberIds, vnodes);
  const prefs: string[][] = [];
  for (let s = 1; s <= shardCount; s++) prefs.push(ring.preference(shardPoint(s)));
  lastPrefs = { key, ids: ring.members, prefs };
  return lastPrefs;
}

class PlacementState {
  private readonly shardCount: number;
  /** Replicas per shard: min(R, N). */
  private readonly r: number;
  private readonly ids: readonly string[];
  private readonly zoneOf = new Map<string, string>();
  /** Whether a shard's replicas must be in distinct zones (there are at least r zones). */
  private readonly zoned: boolean;
  /** prefs[s]: shard s's ring preference list (every member once). Index 0 unused. */
  private readonly prefs: (readonly string[])[] = [];
  /** ranks[s].get(n): n's position in prefs[s]. */
  private readonly ranks: Map<string, number>[] = [];
  /** replicas[s]. Invariant: distinct members, at most r, distinct zones when zoned. */
  private readonly replicas: string[][] = [];
  /** Invariant: load.get(n) = number of shards whose replicas include n. */
  private readonly load = new Map<string, number>();
  private readonly quota = new Map<string, number>();

  constructor(members: readonly RingMember[], settings: PlacementSettings) {
    const { shardCount, replicationFactor } = settings;
    if (!Number.isInteger(shardCount) || shardCount < 1 || shardCount > SHARD_COUNT_MAX)
      throw new RangeError(`shard count must be an integer in [1, ${SHARD_COUNT_MAX}], got ${shardCount}`);
    if (
      !Number.isInteger(replicationFactor) ||
      replicationFactor < 1 ||
      replicationFactor > REPLICATION_FACTOR_MAX
    )
      throw new RangeError(
        `replication factor must be an integer in [1, ${REPLICATION_FACTOR_MAX}], got ${replicationFactor}`,
      );
    const { ids, prefs } = preferenceLists(
      members.map((m) => m.nodeId),
      settings.vnodes ?? VNODES_DEFAULT,
      shardCount,
    );
    this.shardCount = shardCount;
    this.ids = ids;
    this.r = Math.min(replicationFactor, this.ids.length);
    for (const m of members) this.zoneOf.set(m.nodeId, m.zone ? `zone:${m.zone}` : `node:${m.nodeId}`);
    this.zoned = new Set(this.zoneOf.values()).size >= this.r;
    for (const id of this.ids) this.load.set(id, 0);
    this.prefs.push([]);
    this.ranks.push(new Map());
    this.replicas.push([]);
    for (let s = 1; s <= shardCount; s++) {
      const pref = prefs[s - 1] as readonly string[];
      this.prefs.push(pref);
      this.ranks.push(new Map(pref.map((n, i) => [n, i])));
      this.replicas.push([]);
    }
  }

  /** Step 1: the current replicas that may stay. */
  keep(current: Placement): void {
    for (let s = 1; s <= this.shardCount; s++) {
      for (const n of current.get(s) ?? []) if (this.eligible(s, n)) this.add(s, n);
    }
    // A shard over r (the replication factor went down) drops from its most loaded members.
    for (let s = 1; s <= this.shardCount; s++) {
      // Bounded: each pass removes one replica.
      while (this.at(s).length > this.r) {
        const victim = this.pick(
          this.at(s),
          (a, b) => this.loadOf(b) - this.loadOf(a) || this.rank(s, b) - this.rank(s, a),
        );
        this.remove(s, victim);
      }
    }
  }

  /**
   * Step 2: fair shares. The units left over go to the members holding most (fewest moves); among
   * equals, one zone after another (a zone's total is fixed when shards need one replica per zone).
   */
  assignQuotas(): void {
    const total = this.shardCount * this.r;
    const base = Math.floor(total / this.ids.length);
    let extra = total - base * this.ids.length;
    const placeInZone = new Map<string, number>();
    const seenPerZone = new Map<string, number>();
    for (const id of this.ids) {
      const z = this.zoneOf.get(id) ?? '';
      const k = seenPerZone.get(z) ?? 0;
      placeInZone.set(id, k);
      seenPerZone.set(z, k + 1);
    }
    const byLoad = [...this.ids].sort(
      (a, b) =>
        this.loadOf(b) - this.loadOf(a) ||
        (placeInZone.get(a) ?? 0) - (placeInZone.get(b) ?? 0) ||
        ((this.zoneOf.get(a) ?? '') < (this.zoneOf.get(b) ?? '') ? -1 : 1),
    );
    for (const id of byLoad) this.quota.set(id, base + (extra-- > 0 ? 1 : 0));
  }

  /**
   * Step 3: each member above quota drops replicas: of shards still whole first (a shard that
   * loses two would need a second new member, and only the joiner has room), then of shards that a
   * member with room may take (the planner calls place() again partway through a join, when the
   * joiner holds some shards already), then of the shards that rank it lowest.
   */
  shedOverQuota(): void {
    // The members with room now (shedding leaves the others at their quota, without room).
    const takers = this.ids.filter((n) => this.hasRoom(n));
    for (const id of this.ids) {
      const mine: number[] = [];
      for (let s = 1; s <= this.shardCount; s++) if (this.at(s).includes(id)) mine.push(s);
      const short = (s: number): number => this.r - this.at(s).length;
      // A shard that no member with room may take (each holds it already, or shares its zone) would
      // be filled by a member at quota, which then sheds another: two moves for one.
      const blocked = (s: number): number => (takers.some((n) => this.eligibleReplacing(s, n, id)) ? 0 : 1);
      mine.sort(
        (a, b) =>
          short(a) - short(b) || blocked(a) - blocked(b) || this.rank(b, id) - this.rank(a, id) || b - a,
      );
      for (const s of mine) {
        if (this.loadOf(id) <= this.quotaOf(id)) break;
        this.remove(s, id);
      }
    }
  }

  /**
   * Step 4: shards short of r take the first eligible member below quota in ring order. When none
   * is eligible (the members with room already hold a replica of the shard, or share a zone with
   * one), replicas added earlier in this step are re-routed to make room (an augmenting path, as in
   * bipartite matching): a shard that got member m takes another member with room instead, and m
   * goes here. Only replicas added in this step move, so this costs no extra replica moves.
   */
  fillShort(): void {
    for (let s = 1; s <= this.shardCount; s++) {
      // Bounded: each pass adds one replica or throws.
      while (this.at(s).length < this.r) {
        const candidates = (this.prefs[s] as string[]).filter((n) => this.eligible(s, n));
        check(candidates.length > 0, `shard ${s} has ${this.at(s)} and no eligible member`);
        const under = candidates.find((n) => this.hasRoom(n));
        if (under !== undefined) {
          this.addFilled(s, under);
        } else if (!this.augment(s, candidates)) {
          // Zones leave no room anywhere: exceed a quota; step 5 evens out what it can.
          this.addFilled(
            s,
            this.pick(candidates, (a, b) => this.loadOf(a) - this.loadOf(b)),
          );
        }
      }
    }
  }

  /** Shards each member was given by fillShort (they may be re-routed by augment). */
  private readonly filled = new Map<string, Set<number>>();

  private addFilled(s: number, n: string): void {
    this.add(s, n);
    const set = this.filled.get(n) ?? new Set<number>();
    set.add(s);
    this.filled.set(n, set);
  }

  private removeFilled(s: number, n: string): void {
    this.remove(s, n);
    this.filled.get(n)?.delete(s);
  }

  /**
   * Finds members m0 (eligible for s), shard s1 filled with m0 that can take m1 instead, … , until
   * a member with room; then applies the switches. Breadth first over members: each visited once.
   */
  private augment(s: number, candidates: readonly string[]): boolean {
    const parent = new Map<string, { shard: number; from: string | undefined }>();
    const queue: string[] = [];
    for (const m of candidates) {
      parent.set(m, { shard: s, from: undefined });
      queue.push(m);
    }
    // Bounded: every member enters the queue at most once.
    for (let head = 0; head < queue.length; head++) {
      const m = queue[head] as string;
      for (const s2 of [...(this.filled.get(m) ?? [])].sort((a, b) => a - b)) {
        if (s2 === s) continue;
        for (const m2 of this.prefs[s2] as string[]) {
          if (parent.has(m2) || !this.eligibleReplacing(s2, m2, m)) continue;
          parent.set(m2, { shard: s2, from: m });
          if (this.hasRoom(m2)) {
            this.applyPath(m2, parent);
            return true;
          }
          queue.push(m2);
        }
      }
    }
    return false;
  }

  private applyPath(
    end: string,
    parent: ReadonlyMap<string, { shard: number; from: string | undefined }>,
  ): void {
    let cur = end;
    // Bounded: the path visits each member once.
    for (let steps = 0; steps <= parent.size; steps++) {
      const step = parent.get(cur);
      check(step !== undefined, `augmenting path lost at ${cur}`);
      if (step.from !== undefined) this.removeFilled(step.shard, step.from);
      this.addFilled(step.shard, cur);
      if (step.from === undefined) return;
      cur = step.from;
    }
    throw new Error(`placement: augmenting path longer than ${parent.size} steps`);
  }

  private hasRoom(n: string): boolean {
    return this.loadOf(n) < this.quotaOf(n);
  }

  /** Step 5: moves replicas from members above quota to members below, while any such move exists. */
  balance(): void {
    // Bounded: each move lowers the total excess over quota by one.
    for (let moves = 0; moves <= this.shardCount * this.r; moves++) {
      if (!this.moveOne()) return;
    }
    throw new Error(`placement: balancing did not settle after ${this.shardCount * this.r} moves`);
  }

  private moveOne(): boolean {
    const over = this.ids.filter((n) => this.loadOf(n) > this.quotaOf(n));
    const under = this.ids.filter((n) => this.loadOf(n) < this.quotaOf(n));
    for (const from of over) {
      for (const to of under) {
        let best: number | undefined;
        for (let s = 1; s <= this.shardCount; s++) {
          const reps = this.at(s);
          if (!reps.includes(from) || reps.includes(to)) continue;
          if (!this.eligibleReplacing(s, to, from)) continue;
          if (best === undefined || this.rank(s, to) < this.rank(best, to)) best = s;
        }
        if (best !== undefined) {
          this.remove(best, from);
          this.add(best, to);
          return true;
        }
      }
    }
    return false;
  }

  checkResult(): void {
    let total = 0;
    for (let s = 1; s <= this.shardCount; s++) {
      const reps = this.at(s);
      check(reps.length === this.r, `shard ${s} has ${reps.length} replicas, wants ${this.r}`);
      check(new Set(reps).size === reps.length, `shard ${s} has a member twice: ${reps}`);
      if (this.zoned) {
        const zones = new Set(reps.map((n) => this.zoneOf.get(n)));
        check(zones.size === reps.length, `shard ${s} has two replicas in one zone: ${reps}`);
      }
      total += reps.length;
    }
    let counted = 0;
    for (const n of this.ids) counted += this.loadOf(n);
    check(counted === total, `loads add up to ${counted}, replicas to ${total}`);
  }

  result(): Map<number, string[]> {
    const out = new Map<number, string[]>();
    for (let s = 1; s <= this.shardCount; s++) {
      // Replicas listed in the shard's ring order: the first is the preferred leader.
      out.set(
        s,
        [...this.at(s)].sort((a, b) => this.rank(s, a) - this.rank(s, b)),
      );
    }
    return out;
  }

  // ---- helpers ------------------------------------------------------------------------------------

  private at(s: number): string[] {
    return this.replicas[s] as string[];
  }

  private loadOf(n: string): number {
    return this.load.get(n) ?? 0;
  }

  private quotaOf(n: string): number {
    return this.quota.get(n) ?? 0;
  }

  private rank(s: number, n: string): number {
    const r = (this.ranks[s] as Map<string, number>).get(n);
    check(r !== undefined, `${n} is not on shard ${s}'s preference list`);
    return r;
  }

  /** Whether `n` may join shard s's replicas as they are now. */
  private eligible(s: number, n: string): boolean {
    return this.eligibleReplacing(s, n, undefined);
  }

  /** Whether `n` may join shard s's replicas once `leaving` (if any) has left them. */
  private eligibleReplacing(s: number, n: string, leaving: string | undefined): boolean {
    if (!this.load.has(n)) return false; // not a member
    const reps = this.at(s).filter((x) => x !== leaving);
    if (reps.includes(n)) return false;
    if (!this.zoned) return true;
    const zone = this.zoneOf.get(n);
    return !reps.some((x) => this.zoneOf.get(x) === zone);
  }

  private add(s: number, n: string): void {
    check(this.eligible(s, n), `adding ${n} to shard ${s} (${this.at(s)})`);
    this.at(s).push(n);
    this.load.set(n, this.loadOf(n) + 1);
  }

  private remove(s: number, n: string): void {
    const reps = this.at(s);
    const i = reps.indexOf(n);
    check(i >= 0, `removing ${n} from shard ${s} (${reps})`);
    reps.splice(i, 1);
    this.load.set(n, this.loadOf(n) - 1);
  }

  /** The first of `list` by `order` (ties: the earlier in `list`). */
  private pick(list: readonly string[], order: (a: string, b: string) => number): string {
    let best = list[0];
    check(best !== undefined, 'picking from an empty list');
    for (const x of list) if (order(x, best) < 0) best = x;
    return best;
  }
}
