// The options of `ringkv chaos`, read from commander's raw values into typed ones, and the outcome
// of a run: its last line and exit status. Pure, so that the tests can pin the formats.

import type { Verdict } from '../../lincheck/index.ts';
import { parseDurationMs } from '../duration.ts';
import { FAULT_KINDS, type FaultKind, isFaultKind } from './schedule.ts';

export class ChaosUsageError extends Error {
  override readonly name = 'ChaosUsageError';
  readonly code = 'CHAOS_USAGE';
}

export const CLUSTER_SIZES = [3, 5] as const;

/**
 * Bugs a node can be started with, to show that chaos finds them. Each is a test-only `serve` flag
 * implemented by the node; chaos only passes it on.
 */
export const PLANTED_BUGS = {
  'stale-reads': {
    /** The flag as `serve --help` lists it. */
    serveFlagName: '--unsafe_no_read_index',
    serveFlag: '--unsafe_no_read_index=true',
    description:
      'nodes answer linearizable reads from their local state without a ReadIndex round ' +
      '(serve --unsafe_no_read_index), so a deposed leader serves stale values',
  },
} as const;
export type PlantedBug = keyof typeof PLANTED_BUGS;

export interface ChaosOptions {
  readonly nodes: number;
  readonly durationMs: number;
  readonly faults: readonly FaultKind[];
  /** True when --faults was given: a kind that cannot run here is then an error, not a skip. */
  readonly faultsExplicit: boolean;
  readonly seed: number;
  /** Where to leave logs, history and timeline; undefined: a temp folder, removed at the end. */
  readonly keep: string | undefined;
  /** Concurrent workload clients. */
  readonly clients: number;
  /** Hot keys that every client reads, writes and compares-and-swaps. */
  readonly keys: number;
  /** Deadline of every workload operation. */
  readonly opTimeoutMs: number;
  readonly plantedBug: PlantedBug | undefined;
}

export const DURATION_MS_MIN = 5000;
export const DURATION_MS_MAX = 24 * 3600 * 1000;
const CLIENTS_MAX = 64;
/** Default clients per node: one of each role (workload.ts) bound to each node, one of each routed. */
export const CLIENTS_PER_NODE = 4;
const KEYS_MAX = 1000;

/** `60s`, `2m`, `1500ms`, `1h`, or a bare number of seconds (src/cli/duration.ts). */
export function parseRunDurationMs(text: string): number {
  const ms = parseDurationMs(text);
  if (ms === undefined) throw new ChaosUsageError(`--duration must be like 60s, 2m or 1500ms, got '${text}'`);
  if (ms < DURATION_MS_MIN || ms > DURATION_MS_MAX)
    throw new ChaosUsageError(`--duration must be between 5s and 24h, got '${text}'`);
  return ms;
}

export function parseFaults(text: string): FaultKind[] {
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (names.length === 0)
    throw new ChaosUsageError(`--faults needs at least one of ${FAULT_KINDS.join(',')}`);
  const out: FaultKind[] = [];
  for (const n of names) {
    if (!isFaultKind(n))
      throw new ChaosUsageError(`--faults: unknown fault '${n}' (known: ${FAULT_KINDS.join(', ')})`);
    if (!out.includes(n)) out.push(n);
  }
  return out;
}

function integer(value: unknown, flag: string, min: number, max: number): number {
  const text = String(value);
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max)
    throw new ChaosUsageError(`${flag} must be an integer from ${min} to ${max}, got '${text}'`);
  return n;
}

/** commander's values → ChaosOptions; `randomSeed` is used when --seed is absent. */
export function parseChaosOptions(opts: Record<string, unknown>, randomSeed: () => number): ChaosOptions {
  const nodes = integer(opts.nodes ?? '3', '--nodes', 1, 99);
  if (!(CLUSTER_SIZES as readonly number[]).includes(nodes))
    throw new ChaosUsageError(`--nodes must be 3 or 5, got ${nodes}`);
  const bugName = opts.plantedBug;
  let plantedBug: PlantedBug | undefined;
  if (bugName !== undefined) {
    if (!Object.hasOwn(PLANTED_BUGS, String(bugName)))
      throw new ChaosUsageError(
        `--planted-bug: unknown bug '${String(bugName)}' (known: ${Object.keys(PLANTED_BUGS).join(', ')})`,
      );
    plantedBug = String(bugName) as PlantedBug;
  }
  const keep = opts.keep === undefined ? undefined : String(opts.keep);
  if (keep === '') throw new ChaosUsageError('--keep needs a folder');
  return {
    nodes,
    durationMs: parseRunDurationMs(String(opts.duration ?? '60s')),
    faults: parseFaults(String(opts.faults ?? FAULT_KINDS.join(','))),
    faultsExplicit: opts.faults !== undefined,
    seed: opts.seed === undefined ? randomSeed() : integer(opts.seed, '--seed', 0, 2 ** 32 - 1),
    keep,
    clients: integer(opts.clients ?? String(CLIENTS_PER_NODE * nodes), '--clients', 1, CLIENTS_MAX),
    keys: integer(opts.keys ?? '5', '--keys', 1, KEYS_MAX),
    opTimeoutMs: integer(opts.opTimeoutMs ?? '2500', '--op-timeout-ms', 100, 600_000),
    plantedBug,
  };
}

export interface ChaosOutcome {
  /** Operations in the checked history (acknowledged and indeterminate). */
  readonly ops: number;
  /** Faults injected. */
  readonly faults: number;
  readonly lost: number;
  readonly verdict: Verdict;
  /** Keys whose replicas disagree, plus groups whose replicas never reached the same applied index. */
  readonly replicaMismatches: number;
  /**
   * What the cluster failed to do within generous bounds: a node not answering after its restart,
   * a join or leave that did not finish, no recovery after healing, keys that could not be read back.
   */
  readonly problems: readonly string[];
}

/** The last line of every run, whatever happened. */
export function finalLine(o: Pick<ChaosOutcome, 'ops' | 'faults' | 'lost' | 'verdict'>): string {
  return `chaos: ops ${o.ops}, faults ${o.faults}, lost ${o.lost}, verdict ${o.verdict}`;
}

export const EXIT_OK = 0;
export const EXIT_PROBLEM_FOUND = 1;
export const EXIT_NO_CONCLUSION = 2;

/**
 * 0: linearizable, nothing lost, replicas identical, the cluster recovered. 1: a problem found (not
 * linearizable, a lost write, replicas that differ, a cluster that did not recover). 2: no
 * conclusion (the checker ran out of budget) or a usage error.
 */
export function exitCodeOf(o: ChaosOutcome): number {
  if (o.verdict === 'not linearizable' || o.lost > 0 || o.replicaMismatches > 0 || o.problems.length > 0)
    return EXIT_PROBLEM_FOUND;
  return o.verdict === 'linearizable' ? EXIT_OK : EXIT_NO_CONCLUSION;
}
