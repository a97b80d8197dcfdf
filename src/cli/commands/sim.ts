// `ringkv sim`: runs the deterministic simulator over a range of seeds: real nodes (src/node's
// KvNode) on a simulated clock, disk and network (src/sim). Every failing seed prints the violated
// property, a trace excerpt and the exact command that replays it; the last line on stdout is always
// `seeds: N, violations: V`, and the exit status is 1 when V > 0 (2 on bad options).
import { isRealBugName, REAL_PLANTED_BUGS, type RealBugName } from '../../sim/real/bugs.ts';
import { nodesOfSeed, REAL_NODE_COUNTS, type RealSeedResult, runRealSeed } from '../../sim/real/run.ts';

const SEEDS_MAX = 100_000_000;

export class SimUsageError extends Error {
  override readonly name = 'SimUsageError';
  readonly code = 'SIM_USAGE';
}

export interface SimCommandOptions {
  readonly seeds: number;
  readonly start: number;
  /** 3, 4 or 5 machines; undefined: each seed draws its own (nodesOfSeed). */
  readonly nodes: number | undefined;
  readonly bug: RealBugName | undefined;
  readonly trace: boolean;
  readonly sectorTearing: boolean;
}

export async function runSimCommand(opts: Record<string, unknown>): Promise<number> {
  if (opts.listBugs === true) {
    for (const b of REAL_PLANTED_BUGS) process.stdout.write(`${b.name.padEnd(26)} ${b.description}\n`);
    return 0;
  }
  let parsed: SimCommandOptions;
  try {
    parsed = parseSimOptions(opts);
  } catch (err) {
    if (!(err instanceof SimUsageError)) throw err;
    process.stderr.write(`ringkv sim: ${err.message}\n`);
    return 2;
  }
  return runSeeds(parsed);
}

/** The command's options; `--real` (the simulator's mode before it had only one) is accepted and means nothing. */
export function parseSimOptions(opts: Record<string, unknown>): SimCommandOptions {
  const seeds = integerOption(opts.seeds, '--seeds', 1, SEEDS_MAX, 100);
  const start = integerOption(opts.start, '--start', 0, Number.MAX_SAFE_INTEGER - SEEDS_MAX, 1);
  let nodes: number | undefined;
  if (opts.nodes !== undefined) {
    nodes = integerOption(opts.nodes, '--nodes', 3, 5, 3);
    if (!REAL_NODE_COUNTS.includes(nodes))
      throw new SimUsageError(`--nodes must be 3, 4 or 5 (got ${String(opts.nodes)})`);
  }
  let bug: RealBugName | undefined;
  if (opts.bug !== undefined) {
    const name = String(opts.bug);
    if (!isRealBugName(name)) {
      const known = REAL_PLANTED_BUGS.map((b) => b.name).join(', ');
      throw new SimUsageError(`unknown bug '${name}'; known bugs: ${known} (see --list-bugs)`);
    }
    bug = name;
  }
  return {
    seeds,
    start,
    nodes,
    bug,
    trace: opts.trace === true,
    sectorTearing: opts.sectorTearing === true,
  };
}

function integerOption(raw: unknown, name: string, min: number, max: number, fallback: number): number {
  if (raw === undefined) return fallback;
  const text = String(raw).trim();
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new SimUsageError(`${name} must be an integer from ${min} to ${max} (got '${text}')`);
  }
  return n;
}

async function runSeeds(o: SimCommandOptions): Promise<number> {
  const progress = process.stderr.isTTY === true && !o.trace ? new Progress(o.seeds) : undefined;
  const startedMs = performance.now();
  let violations = 0;
  let unknown = 0;
  const bySize = new Map<number, number>();
  for (let k = 0; k < o.seeds; k++) {
    const seed = o.start + k;
    const nodes = o.nodes ?? nodesOfSeed(seed);
    bySize.set(nodes, (bySize.get(nodes) ?? 0) + 1);
    const result = await runRealSeed(seed, {
      nodes,
      trace: o.trace,
      sectorTearing: o.sectorTearing,
      ...(o.bug !== undefined ? { bug: o.bug } : {}),
    });
    if (o.trace) {
      for (const line of result.traceLines ?? []) process.stdout.write(`${line}\n`);
      process.stdout.write(
        `seed ${seed}: trace hash ${result.traceHash} (${result.stats.traceLines} lines)\n`,
      );
    }
    if (result.stats.lincheck === 'unknown') unknown++;
    if (result.violations.length > 0) {
      violations++;
      progress?.clear();
      process.stdout.write(`${describeFailure(result, o).join('\n')}\n`);
    }
    progress?.update(k + 1, violations);
  }
  progress?.clear();
  const elapsedS = (performance.now() - startedMs) / 1000;
  const sizes = [...bySize].sort(([a], [b]) => a - b).map(([n, count]) => `${count} of ${n} nodes`);
  process.stdout.write(
    `ran ${o.seeds} seed(s) (${sizes.join(', ')}) in ${elapsedS.toFixed(1)} s (${(elapsedS / o.seeds).toFixed(2)} s per seed)\n`,
  );
  if (unknown > 0) {
    process.stdout.write(
      `note: ${unknown} history check(s) ran out of budget (verdict unknown, not a violation)\n`,
    );
  }
  process.stdout.write(`seeds: ${o.seeds}, violations: ${violations}\n`);
  return violations > 0 ? 1 : 0;
}

/** The command that replays one seed with its trace (the machine count always named: a drawn one too). */
export function reproduceCommand(
  seed: number,
  o: Pick<SimCommandOptions, 'bug' | 'sectorTearing'> & { readonly nodes: number },
): string {
  const parts = ['npx ringkv sim --seeds 1', `--start ${seed}`, `--nodes ${o.nodes}`];
  if (o.bug !== undefined) parts.push(`--bug ${o.bug}`);
  if (o.sectorTearing) parts.push('--sector-tearing');
  parts.push('--trace');
  return parts.join(' ');
}

function describeFailure(r: RealSeedResult, o: SimCommandOptions): string[] {
  const lines: string[] = [];
  for (const v of r.violations) {
    lines.push(
      `FAIL seed ${r.seed} (${r.nodes} nodes${r.bug !== undefined ? `, planted bug ${r.bug}` : ''}): ` +
        `${v.property} violated in the ${v.phase} phase at ${v.atMs} ms (virtual)`,
      `  property: ${v.explanation}`,
      ...v.detail.split('\n').map((l) => `  ${l}`),
    );
    for (const l of v.report) lines.push(`  ${l}`);
    lines.push('  trace, last lines:');
    for (const l of v.excerpt) lines.push(`    ${l}`);
  }
  lines.push(`  reproduce: ${reproduceCommand(r.seed, { ...o, nodes: r.nodes })}`);
  return lines;
}

/** A one-line progress display on stderr, redrawn at most every 100 ms (TTY only). */
class Progress {
  private readonly total: number;
  private readonly startedMs = performance.now();
  private lastDrawMs = 0;

  constructor(total: number) {
    this.total = total;
  }

  update(done: number, violations: number): void {
    const now = performance.now();
    if (now - this.lastDrawMs < 100 && done < this.total) return;
    this.lastDrawMs = now;
    const perSeedS = (now - this.startedMs) / 1000 / Math.max(done, 1);
    process.stderr.write(
      `\rseeds ${done}/${this.total}, violations ${violations}, ${perSeedS.toFixed(2)} s per seed   `,
    );
  }

  clear(): void {
    process.stderr.write('\r\x1b[K');
  }
}
