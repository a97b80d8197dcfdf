// One seed of the real-node simulator, start to finish: form a cluster the way users do (n1
// bootstraps, the others join it), run clients against it under faults with the safety checks after
// every event, heal and restart everything, then check liveness (a leader everywhere, every key
// readable), convergence (every replica of a shard at the same applied index with the same state),
// that no acknowledged write was lost, and that the client history is linearizable.
import { checkOperations, formatViolation, kvModel } from '../../lincheck/index.ts';
import { shardId } from '../../node/ids.ts';
import { hashBytes } from '../hash.ts';
import { Prng } from '../prng.ts';
import { type RealBugName, realBug } from './bugs.ts';
import { NodeChecks } from './checks.ts';
import { type AckedWrite, SimClients } from './clients.ts';
import { Nemesis } from './nemesis.ts';
import { REAL_PROPERTY_EXPLANATIONS, type RealProperty, RealViolation } from './violation.ts';
import { World } from './world.ts';

export interface RealRunOptions {
  /** Keep every trace line. */
  readonly trace?: boolean;
  /** Virtual ms of the fault phase (default 20 s). */
  readonly faultMs?: number;
  readonly bug?: RealBugName;
  /**
   * Half the seeds tear unsynced writes by sectors, in any order, as a disk may (beyond the prefix the
   * FileSystem contract promises), instead of as a prefix. Off by default: the WAL then reports a torn
   * last write as corruption and the node does not start (a known limitation, src/storage/README.md).
   */
  readonly sectorTearing?: boolean;
}

export interface RealViolationReport {
  readonly property: RealProperty;
  readonly explanation: string;
  readonly detail: string;
  readonly atMs: number;
  readonly phase: Phase;
  readonly excerpt: readonly string[];
  readonly report: readonly string[];
}

export interface RealRunStats {
  readonly virtualMs: number;
  readonly events: number;
  readonly traceLines: number;
  readonly leadersElected: number;
  readonly maxTerm: number;
  readonly opsCompleted: number;
  readonly opsIndeterminate: number;
  readonly crashes: number;
  readonly crashesMidWrite: number;
  readonly partitions: number;
  readonly pauses: number;
  readonly diskFaults: number;
  readonly restartsChecked: number;
  readonly messagesSent: number;
  readonly lincheck: string;
}

export interface RealSeedResult {
  readonly seed: number;
  readonly nodes: number;
  readonly bug: RealBugName | undefined;
  readonly violations: readonly RealViolationReport[];
  readonly traceHash: string;
  readonly traceLines: readonly string[] | undefined;
  readonly stats: RealRunStats;
}

type Phase = 'formation' | 'fault' | 'liveness' | 'history';

const NODES = 3;
const SHARDS = 2;
const FAULT_MS_DEFAULT = 20_000;
const FORMATION_BOUND_MS = 60_000;
const LIVENESS_BOUND_MS = 30_000;
const OP_TIMEOUT_MS = 2_000;
/** Lincheck budget per key, in calls of its injected clock (a counter: deterministic). */
const LINCHECK_CLOCK_CALLS_MAX = 3_000;

class RealRun {
  readonly world: World;
  readonly checks: NodeChecks;
  readonly clients: SimClients;
  readonly nemesis: Nemesis;
  phase: Phase = 'formation';

  constructor(seed: number, o: RealRunOptions) {
    const settings = new Prng(seed).derive('real-settings');
    this.world = new World({
      seed,
      nodes: NODES,
      node: {
        shardCount: SHARDS,
        tickMs: 100,
        electionTick: 10,
        heartbeatTick: 1,
        requestTimeoutMs: OP_TIMEOUT_MS,
        snapshotEveryEntries: settings.pick([20, 100, 1000]),
        retainEntries: settings.pick([5, 50]),
        walSegmentBytes: 64 * 1024,
        walSegmentsKept: settings.intBetween(2, 4),
        balanceIntervalMs: settings.pick([0, 3000]),
        joinTimeoutMs: FORMATION_BOUND_MS,
        ...(o.bug === undefined ? {} : realBug(o.bug).options),
      },
      diskLatency: { minMs: 0, maxMs: settings.intBetween(1, 5) },
      diskCapacityBytes: 256 * 1024 * 1024,
      // Drawn in every seed, so that the option changes nothing else of the run.
      diskTearing: settings.chance(0.5) && o.sectorTearing === true ? 'sectors' : 'prefix',
      keepTrace: o.trace ?? false,
    });
    this.checks = new NodeChecks(this.world);
    this.clients = new SimClients(this.world, this.world.stream('clients'), {
      clients: 3,
      keys: 3,
      opTimeoutMs: OP_TIMEOUT_MS,
      thinkMaxMs: 200,
      opsMax: 2_000,
    });
    this.nemesis = new Nemesis(this.world, this.checks, this.world.stream('nemesis'), {
      everyMinMs: 500,
      everyMaxMs: 3_000,
      downMinMs: 300,
      downMaxMs: 4_000,
      crashes: true,
      moreDownChance: 0.3,
      crashMidWriteChance: 0.5,
      partitions: true,
      pauses: true,
      diskFaults: true,
      pauseMinMs: 500,
      pauseMaxMs: 5_000,
    });
  }

  /** Every machine joined, and every running node sees each group with every machine as a voter. */
  formed(): boolean {
    const ids = this.world.machines.map((m) => m.id);
    return this.world.machines.every((m) => {
      const inc = m.running;
      if (inc === undefined || !inc.joined) return false;
      const sts = inc.kv.statuses();
      return (
        sts.length === SHARDS + 1 && sts.every((s) => ids.every((id) => s.confState.voters.includes(id)))
      );
    });
  }

  /** Every machine runs and knows a leader of every group. */
  led(): boolean {
    return this.world.machines.every((m) => {
      const inc = m.running;
      return inc?.joined === true && inc.kv.statuses().every((s) => s.leader !== '');
    });
  }

  /** Every group: the same commit and applied index on every machine. */
  converged(): boolean {
    const all = this.world.machines.map((m) => m.running?.kv.statuses());
    const first = all[0];
    if (first === undefined) return false;
    return all.every(
      (sts) =>
        sts !== undefined &&
        sts.length === first.length &&
        sts.every((s, i) => s.applied === s.commit && s.applied === first[i]?.applied),
    );
  }

  async form(): Promise<void> {
    for (const m of this.world.machines) this.world.schedule(0, () => m.start());
    const ok = await this.world.runUntil(() => this.formed(), FORMATION_BOUND_MS);
    if (!ok) throw new RealViolation('liveness', `the cluster did not form within ${FORMATION_BOUND_MS} ms`);
    this.world.note('formed');
  }

  async faults(faultMs: number): Promise<void> {
    this.phase = 'fault';
    this.clients.begin();
    this.nemesis.begin();
    await this.world.runUntil(() => false, this.world.nowMs() + faultMs);
  }

  async heal(): Promise<void> {
    this.phase = 'liveness';
    this.clients.stop();
    this.nemesis.end();
    const bound = this.world.nowMs() + LIVENESS_BOUND_MS;
    if (!(await this.world.runUntil(() => this.led(), bound)))
      throw new RealViolation(
        'liveness',
        'after healing, not every node runs and knows a leader of every group',
      );
    // Operations still in flight end by their deadline.
    await this.world.runUntil(() => false, this.world.nowMs() + OP_TIMEOUT_MS + 2);
    const finals = new Map<string, { found: boolean; value: string }>();
    for (const key of this.clients.keys) {
      while (!finals.has(key)) {
        let answer: { found: boolean; value: string } | undefined;
        let done = false;
        void this.clients.finalRead(key).then((a) => {
          answer = a;
          done = true;
        });
        if (!(await this.world.runUntil(() => done, bound)))
          throw new RealViolation('liveness', `after healing, no linearizable read of ${key} succeeded`);
        if (answer !== undefined) finals.set(key, answer);
        else await this.world.runUntil(() => false, this.world.nowMs() + 100);
      }
    }
    checkNothingLost(finals, this.clients.acked, this.clients.mayHaveWritten);
    if (!(await this.world.runUntil(() => this.converged(), bound)))
      throw new RealViolation(
        'replicaConvergence',
        `after healing, the replicas did not reach the same applied index: ${this.appliedSummary()}`,
      );
    await this.compareStates();
  }

  private appliedSummary(): string {
    return this.world.machines
      .map(
        (m) =>
          `${m.id}: ${
            m.running?.kv
              .statuses()
              .map((s) => `g${s.id} ${s.applied}/${s.commit}`)
              .join(' ') ?? 'down'
          }`,
      )
      .join('; ');
  }

  /** Every shard's state, hashed on every machine: the replicas at one applied index hold the same bytes. */
  private async compareStates(): Promise<void> {
    for (let s = 1; s <= SHARDS; s++) {
      const hashes = new Map<string, string>();
      for (const m of this.world.machines) {
        const kv = m.running?.kv;
        if (kv === undefined) continue;
        const r = await kv.read(shardId(s), {
          consistency: 'serializable',
          deadlineMs: this.world.nowMs() + 1,
          onTimeout: () => {
            throw new Error('a serializable read does not wait');
          },
          run: (machine) => hashBytes(machine.snapshot()),
        });
        hashes.set(m.id, `${r.index}:${r.value}`);
      }
      if (new Set(hashes.values()).size > 1) {
        throw new RealViolation(
          'replicaConvergence',
          `shard ${s}: ${[...hashes].map(([id, h]) => `${id} ${h}`).join(', ')}`,
        );
      }
    }
  }

  checkHistory(): { verdict: string; report?: string[] } {
    let clockCalls = 0;
    const result = checkOperations(kvModel, this.clients.history, {
      budgetMsPerPartition: LINCHECK_CLOCK_CALLS_MAX,
      now: () => clockCalls++,
    });
    if (result.violation === undefined) return { verdict: result.verdict };
    return { verdict: result.verdict, report: formatViolation(result.violation) };
  }
}

/**
 * Every key's final value must be that of a write that may be the last one: not one that returned
 * before an acknowledged write of the key was called (that one was then overwritten), and never a
 * value no write could have written; a key with an acknowledged write is never absent (the clients
 * do not delete).
 */
export function checkNothingLost(
  finals: ReadonlyMap<string, { found: boolean; value: string }>,
  acked: readonly AckedWrite[],
  mayHaveWritten: ReadonlyMap<string, { key: string; callMs: number; returnMs: number }>,
): void {
  for (const [key, final] of finals) {
    const ackedHere = acked.filter((a) => a.key === key);
    if (!final.found) {
      const a = ackedHere[ackedHere.length - 1];
      if (a !== undefined)
        throw new RealViolation(
          'lostWrite',
          `${key} is absent after healing, but ${a.value} was acknowledged at ${a.returnMs} ms`,
        );
      continue;
    }
    const w = mayHaveWritten.get(final.value);
    if (w === undefined || w.key !== key) {
      throw new RealViolation(
        'lostWrite',
        `${key} holds ${final.value}, which no write that may have taken effect wrote`,
      );
    }
    const later = ackedHere.find((a) => a.callMs > w.returnMs);
    if (later !== undefined) {
      throw new RealViolation(
        'lostWrite',
        `${key} holds ${final.value} (written by ${w.returnMs} ms), but ${later.value}, called at ${later.callMs} ms, was acknowledged at ${later.returnMs} ms`,
      );
    }
  }
}

export async function runRealSeed(seed: number, o: RealRunOptions = {}): Promise<RealSeedResult> {
  const run = new RealRun(seed, o);
  const violations: RealViolationReport[] = [];
  let lincheck = 'not run';
  try {
    await run.form();
    await run.faults(o.faultMs ?? FAULT_MS_DEFAULT);
    await run.heal();
    run.phase = 'history';
    const h = run.checkHistory();
    lincheck = h.verdict;
    if (h.report !== undefined) {
      violations.push(
        report(run, new RealViolation('linearizability', 'the client history is not linearizable'), h.report),
      );
    }
  } catch (err) {
    violations.push(report(run, err, []));
  }
  const w = run.world;
  return {
    seed,
    nodes: NODES,
    bug: o.bug,
    violations,
    traceHash: w.trace.hashHex(),
    traceLines: w.trace.lines,
    stats: {
      virtualMs: w.nowMs(),
      events: w.events,
      traceLines: w.trace.lineCount,
      leadersElected: run.checks.stats.leadersElected,
      maxTerm: run.checks.stats.maxTerm,
      opsCompleted: run.clients.stats.completed,
      opsIndeterminate: run.clients.stats.indeterminate,
      crashes: run.nemesis.stats.crashes,
      crashesMidWrite: w.crashesMidWrite,
      partitions: run.nemesis.stats.partitions,
      pauses: run.nemesis.stats.pauses,
      diskFaults: run.nemesis.stats.diskFaults,
      restartsChecked: run.checks.stats.restartsChecked,
      messagesSent: w.network.stats.sent,
      lincheck,
    },
  };
}

function report(run: RealRun, err: unknown, lines: string[]): RealViolationReport {
  const v =
    err instanceof RealViolation
      ? err
      : new RealViolation(
          'simulatorError',
          err instanceof Error
            ? `${err.message}\n${(err.stack ?? '').split('\n').slice(1, 6).join('\n')}`
            : String(err),
        );
  run.world.note(`VIOLATION ${v.property}: ${v.detail}`);
  return {
    property: v.property,
    explanation: REAL_PROPERTY_EXPLANATIONS[v.property],
    detail: v.detail,
    atMs: run.world.nowMs(),
    phase: run.phase,
    excerpt: run.world.trace.recent(25),
    report: lines,
  };
}
