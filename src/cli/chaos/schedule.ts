// The fault schedule of a chaos run: a list of faults drawn from the seed alone, one at a time, each
// with a quiet gap before it and a hold time. Nothing here looks at the cluster: a fault names its
// victim by a rule and a number in [0, 1) ("the leader of shard ⌊pick × S⌋ + 1", "member
// ⌊pick × N⌋ in id order"), which the fault runner resolves against the members at that moment.
// So the same seed always gives the same schedule (a test checks it), and a run is repeated with
// `--seed`, as far as real processes allow.
import { Prng } from '../../sim/prng.ts';

export const FAULT_KINDS = ['kill', 'pause', 'partition', 'membership'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export function isFaultKind(s: string): s is FaultKind {
  return (FAULT_KINDS as readonly string[]).includes(s);
}

/**
 * isolate: the target can neither send to nor receive from any other node; split: a minority
 * (⌊(N-1)/2⌋ nodes, the target first) from the majority, both ways; one-way-out: the target's
 * packets to the other nodes are dropped (theirs still reach it); one-way-in: the other nodes'
 * packets to the target are dropped. Clients reach every node throughout.
 */
export const PARTITION_SHAPES = ['isolate', 'split', 'one-way-out', 'one-way-in'] as const;
export type PartitionShape = (typeof PARTITION_SHAPES)[number];

/** Who a fault hits, resolved when it starts. */
export type TargetRule =
  /** Member ⌊pick × N⌋ of the current members sorted by id. */
  | { readonly rule: 'any-node'; readonly pick: number }
  /** The leader of data shard ⌊pick × S⌋ + 1 (any node when that shard has no leader). */
  | { readonly rule: 'shard-leader'; readonly pick: number };

interface FaultTiming {
  /** 1-based position in the schedule. */
  readonly seq: number;
  /** Quiet time before the fault starts (after the previous one healed). */
  readonly gapBeforeMs: number;
  /** How long the fault lasts: kill, time down; pause, time stopped; partition, time cut. */
  readonly holdMs: number;
}

export type PlannedFault =
  | (FaultTiming & { readonly kind: 'kill'; readonly target: TargetRule })
  | (FaultTiming & { readonly kind: 'pause'; readonly target: TargetRule })
  | (FaultTiming & {
      readonly kind: 'partition';
      readonly shape: PartitionShape;
      readonly target: TargetRule;
      /** Orders the rest of the minority of a split. */
      readonly pick2: number;
    })
  /** A new node joins (and takes its share of the shards), then member ⌊leavePick × N⌋ of the old ones leaves. */
  | (FaultTiming & { readonly kind: 'membership'; readonly leavePick: number });

export interface ScheduleOptions {
  readonly seed: number;
  readonly durationMs: number;
  readonly kinds: readonly FaultKind[];
}

/** No fault before the workload has run this long (bounded by a fifth of the run). */
export const WARMUP_MS_MAX = 3000;
const GAP_MS = [1500, 4000] as const;
const HOLD_MS: Record<FaultKind, readonly [number, number]> = {
  kill: [1000, 4000],
  // Longer than an election (1–2 s) and than a client's deadline (2.5 s) most of the time: a
  // leader that comes back from such a pause still believes it leads, while the others have moved
  // on (the GC pause that ReadIndex exists for).
  pause: [2000, 6000],
  partition: [3000, 8000],
  membership: [0, 0],
};
/**
 * What a fault costs beyond its hold time, for planning only: a restart and the wait for the node
 * to answer (kill), the join, catch-up and promotion in every group plus the leave (membership).
 */
const OVERHEAD_MS: Record<FaultKind, number> = { kill: 2500, pause: 0, partition: 0, membership: 15_000 };
/**
 * How often each kind is drawn after the first round: a membership change takes 10–20 s of a run
 * while it finds little that kill, pause and partition do not, so it comes half as often.
 */
const WEIGHT: Record<FaultKind, number> = { kill: 2, pause: 2, partition: 2, membership: 1 };
/** Bound on the schedule's length, whatever the duration. */
export const FAULTS_MAX = 1000;

/**
 * The faults that fit in `durationMs` by their planned times (the runner may still stop early
 * when real faults take longer). The first faults are the asked kinds in a seeded order, so that a
 * run long enough for N faults sees every kind; the rest are drawn by WEIGHT.
 */
export function planSchedule(o: ScheduleOptions): PlannedFault[] {
  if (!(Number.isSafeInteger(o.seed) && o.seed >= 0))
    throw new RangeError(`seed must be >= 0, got ${o.seed}`);
  if (!(o.durationMs > 0)) throw new RangeError(`durationMs must be > 0, got ${o.durationMs}`);
  const kinds = [...new Set(o.kinds)];
  if (kinds.length === 0) return [];
  const rng = new Prng(o.seed).derive('chaos-schedule');
  const firstRound = rng.shuffled(kinds);
  const out: PlannedFault[] = [];
  let atMs = 0;
  for (let seq = 1; seq <= FAULTS_MAX; seq++) {
    const kind = firstRound[seq - 1] ?? weightedPick(rng, kinds);
    const gapBeforeMs = seq === 1 ? Math.min(WARMUP_MS_MAX, o.durationMs / 5) : between(rng, GAP_MS);
    const holdMs = between(rng, HOLD_MS[kind]);
    const fault = planOne(rng, kind, { seq, gapBeforeMs, holdMs });
    atMs += gapBeforeMs + holdMs + OVERHEAD_MS[kind];
    if (atMs > o.durationMs) break;
    out.push(fault);
  }
  return out;
}

function planOne(rng: Prng, kind: FaultKind, t: FaultTiming): PlannedFault {
  switch (kind) {
    case 'kill':
    case 'pause':
      return { ...t, kind, target: targetRule(rng) };
    case 'partition':
      return {
        ...t,
        kind,
        shape: rng.pick(PARTITION_SHAPES),
        target: targetRule(rng),
        pick2: rng.nextFloat(),
      };
    case 'membership':
      return { ...t, kind, leavePick: rng.nextFloat() };
  }
}

/** Half the faults go for a shard's leader: that is where a bug in failover or reads shows. */
function targetRule(rng: Prng): TargetRule {
  return rng.chance(0.5)
    ? { rule: 'shard-leader', pick: rng.nextFloat() }
    : { rule: 'any-node', pick: rng.nextFloat() };
}

function weightedPick(rng: Prng, kinds: readonly FaultKind[]): FaultKind {
  const total = kinds.reduce((sum, k) => sum + WEIGHT[k], 0);
  let x = rng.nextInt(total);
  for (const k of kinds) {
    x -= WEIGHT[k];
    if (x < 0) return k;
  }
  throw new Error(`weightedPick: ${x} left of ${total}`);
}

function between(rng: Prng, [lo, hi]: readonly [number, number]): number {
  return rng.intBetween(lo / 100, hi / 100) * 100;
}

/** Index ⌊pick × n⌋ in [0, n): how a pick in [0, 1) chooses among n things. */
export function pickIndex(pick: number, n: number): number {
  if (!(n >= 1)) throw new RangeError(`pickIndex: nothing to choose from (n = ${n})`);
  if (!(pick >= 0 && pick < 1)) throw new RangeError(`pickIndex: pick must be in [0, 1), got ${pick}`);
  return Math.min(n - 1, Math.floor(pick * n));
}

/** One line saying what a planned fault will do (before it is resolved against the cluster). */
export function describePlanned(f: PlannedFault): string {
  const who = (t: TargetRule): string => (t.rule === 'any-node' ? 'a node' : "a shard's leader");
  switch (f.kind) {
    case 'kill':
      return `kill -9 ${who(f.target)}, restart after ${f.holdMs} ms`;
    case 'pause':
      return `SIGSTOP ${who(f.target)} for ${f.holdMs} ms`;
    case 'partition':
      return `partition ${f.shape} (${who(f.target)}) for ${f.holdMs} ms`;
    case 'membership':
      return 'join a new node, then remove an old one';
  }
}
