// One seed, start to finish: build the cluster, run the fault phase (clients, nemesis, membership
// changes, safety checks after every event), then the liveness phase, then the linearizability
// check of the client history. The result carries the violations (at most one per phase, since a
// run stops at its first), a hash of the whole trace (for determinism) and statistics.

import type { KvOperation } from '../lincheck/index.ts';
import { checkOperations, formatViolation, kvModel } from '../lincheck/index.ts';
import type { BugName } from './bugs.ts';
import { SafetyChecker } from './checker.ts';
import { Cluster, type SimEvent } from './cluster.ts';
import { TICK_MS } from './event-queue.ts';
import { FaultInjector } from './faults.ts';
import { checkLiveness, healEverything } from './liveness.ts';
import { MembershipDriver } from './membership.ts';
import { Prng } from './prng.ts';
import { type RunOptions, type SimSettings, settingsFor } from './settings.ts';
import { Trace } from './trace.ts';
import { PROPERTY_EXPLANATIONS, type Property, SimViolation } from './violation.ts';

export interface Violation {
  readonly property: Property;
  readonly explanation: string;
  readonly detail: string;
  readonly atMs: number;
  readonly phase: 'fault' | 'liveness' | 'history';
  /** The last trace lines before the violation. */
  readonly excerpt: readonly string[];
  /** Extra lines (the linearizability checker's report). */
  readonly report: readonly string[];
}

export interface RunStats {
  readonly virtualMs: number;
  readonly events: number;
  readonly traceLines: number;
  readonly leadersElected: number;
  readonly maxTerm: number;
  readonly committedMax: number;
  readonly opsCompleted: number;
  readonly opsIndeterminate: number;
  readonly crashes: number;
  readonly partitions: number;
  readonly pauses: number;
  readonly membershipChanges: number;
  readonly messagesSent: number;
  readonly messagesLost: number;
  readonly lincheck: string;
}

export interface SeedResult {
  readonly seed: number;
  readonly nodes: number;
  readonly bug: BugName | undefined;
  readonly violations: readonly Violation[];
  readonly traceHash: string;
  readonly traceLines: readonly string[] | undefined;
  readonly stats: RunStats;
}

/** Bound on events in one run, so a livelocked core cannot hang the simulator. */
const EVENTS_MAX = 5_000_000;
/**
 * Lincheck budget per key, in calls of its injected clock (deterministic: a counter, not the wall
 * clock). The search reads the clock once every 1024 steps, so this is about 3 million steps.
 */
const LINCHECK_CLOCK_CALLS_MAX = 3_000;

class Run {
  readonly settings: SimSettings;
  readonly trace: Trace;
  readonly checker = new SafetyChecker();
  readonly cluster: Cluster;
  readonly faults: FaultInjector;
  readonly membership: MembershipDriver | undefined;
  phase: Violation['phase'] = 'fault';
  events = 0;
  faultEndMs: number;

  constructor(seed: number, options: RunOptions) {
    const root = new Prng(seed);
    this.settings = settingsFor(root.derive('settings'), options);
    this.trace = new Trace(options.trace ?? false);
    this.cluster = new Cluster(this.settings, root, this.checker, this.trace);
    this.faults = new FaultInjector(this.cluster, root.derive('faults'), this.settings.faults);
    this.membership =
      this.settings.membershipEveryMs > 0
        ? new MembershipDriver(
            this.cluster,
            root.derive('membership'),
            this.settings.nodes,
            this.cluster.initialVoters(),
          )
        : undefined;
    this.faultEndMs = this.settings.faultSteps * TICK_MS;
  }

  start(): void {
    const s = this.settings;
    this.cluster.trace(
      `sim: ${s.nodes} nodes${s.growFromOne ? ' (growing from one)' : ''}, ${s.clients.clients} clients on ${s.clients.keys} keys, ` +
        `snapshot every ${s.node.snapshotEveryEntries}, preVote ${s.node.preVote}, checkQuorum ${s.node.checkQuorum}, ` +
        `reads ${s.node.readOnlyOption}, bug ${s.bug ?? 'none'}`,
    );
    this.cluster.leaderHook = (node) => {
      const delayMs = this.faults.newLeaderCrashDelayMs();
      if (delayMs !== undefined) {
        this.cluster.queue.after(delayMs, { kind: 'crashLeader', node, incarnation: node.incarnation });
      }
    };
    this.cluster.bootstrap();
    this.cluster.clients.begin();
    this.cluster.queue.after(this.faults.nextDelayMs(), { kind: 'fault' });
    if (this.membership !== undefined) this.cluster.queue.after(s.membershipEveryMs, { kind: 'membership' });
  }

  /** Processes events until `until()` holds or the next event is past `deadlineMs`. */
  runUntil(until: () => boolean, deadlineMs: number): boolean {
    let events = 0;
    const ok = this.cluster.runUntil(
      until,
      deadlineMs,
      (ev) => {
        events++;
        this.dispatch(ev);
      },
      EVENTS_MAX - this.events,
    );
    this.events += events;
    return ok;
  }

  private dispatch(ev: SimEvent): void {
    const c = this.cluster;
    switch (ev.kind) {
      case 'crashLeader':
        if (this.phase === 'fault') this.faults.crashNewLeader(ev.node, ev.incarnation);
        return;
      case 'fault':
        if (this.phase !== 'fault') return;
        this.faults.act();
        c.queue.after(this.faults.nextDelayMs(), { kind: 'fault' });
        return;
      case 'membership':
        if (this.phase !== 'fault' || this.membership === undefined) return;
        this.membership.step();
        c.queue.after(this.settings.membershipEveryMs, { kind: 'membership' });
        return;
      default:
        c.handle(ev);
    }
  }

  /** The client history must be linearizable; the checker's budget is counted in clock calls. */
  checkHistory(): { verdict: string; violation?: string[]; window?: { fromMs: number; toMs: number } } {
    let clockCalls = 0;
    const history = refineIndeterminate(
      this.cluster.clients.history,
      this.cluster.clients.seqOf,
      this.cluster.firstAppliedMs,
    );
    const result = checkOperations(kvModel, history, {
      budgetMsPerPartition: LINCHECK_CLOCK_CALLS_MAX,
      now: () => clockCalls++,
    });
    const v = result.violation;
    if (v === undefined) return { verdict: result.verdict };
    const blocked = v.blocked.operation;
    const fromMs = Math.min(blocked.callTime, ...v.concurrent.map((r) => r.operation.callTime));
    const toMs = Number.isFinite(blocked.returnTime) ? blocked.returnTime : blocked.callTime + 2_000;
    return { verdict: result.verdict, violation: formatViolation(v), window: { fromMs, toMs } };
  }
}

/**
 * The simulator sees every state machine, so it can narrow indeterminate writes soundly: one that no
 * node ever applied had no effect anyone could observe and is dropped; one that was applied took
 * effect no later than its first application, which bounds its return time. Narrowing only removes
 * linearizations a correct system never needs, and it keeps the search from exploding.
 */
export function refineIndeterminate(
  history: readonly KvOperation[],
  seqOf: ReadonlyMap<KvOperation, number>,
  firstAppliedMs: ReadonlyMap<string, number>,
): KvOperation[] {
  const out: KvOperation[] = [];
  for (const op of history) {
    const seq = seqOf.get(op);
    if (op.output !== undefined || seq === undefined) {
      out.push(op);
      continue;
    }
    const appliedMs = firstAppliedMs.get(`${op.clientId}:${seq}`);
    if (appliedMs !== undefined) out.push({ ...op, returnTime: Math.max(op.callTime, appliedMs) });
  }
  return out;
}

export function runSeed(seed: number, options: RunOptions): SeedResult {
  const run = new Run(seed, options);
  const violations: Violation[] = [];
  let lincheck = 'not run';
  const c = run.cluster;
  try {
    run.start();
    run.runUntil(() => false, run.faultEndMs);
    run.phase = 'liveness';
    c.leaderHook = undefined;
    healEverything(c);
    checkLiveness(c, (until, deadlineMs) => run.runUntil(until, deadlineMs), run.settings.livenessBoundMs);
    run.phase = 'history';
    c.clients.abandonAll();
    const h = run.checkHistory();
    lincheck = h.verdict;
    if (h.violation !== undefined) {
      const v = violationOf(
        run,
        new SimViolation('linearizability', 'the client history is not linearizable'),
        h.violation,
      );
      // The end of the trace says nothing about a history violation: show the time of the operation.
      const lines = run.trace.lines ?? runSeed(seed, { ...options, trace: true }).traceLines ?? [];
      violations.push({ ...v, excerpt: historyExcerpt(lines, h.window) });
    }
  } catch (err) {
    violations.push(violationOf(run, err, []));
  }
  return {
    seed,
    nodes: run.settings.nodes,
    bug: run.settings.bug,
    violations,
    traceHash: run.trace.hashHex(),
    traceLines: run.trace.lines,
    stats: statsOf(run, lincheck),
  };
}

/** Trace lines about clients, leaders and faults around the operation that could not be linearized. */
function historyExcerpt(
  lines: readonly string[],
  window: { fromMs: number; toMs: number } | undefined,
): string[] {
  if (window === undefined) return [];
  const interesting = /client|leader|fault|restored|started|role/;
  const picked = lines.filter((l) => {
    const t = Number(l.slice(0, l.indexOf(' ')));
    return t >= window.fromMs - 300 && t <= window.toMs && interesting.test(l);
  });
  return picked.length <= 40 ? picked : [...picked.slice(0, 20), '…', ...picked.slice(-19)];
}

function violationOf(run: Run, err: unknown, report: string[]): Violation {
  const v = err instanceof SimViolation ? err : new SimViolation(blame(err), describeError(err));
  const atMs = run.cluster.nowMs();
  run.cluster.trace(`VIOLATION ${v.property}: ${v.detail}`);
  return {
    property: v.property,
    explanation: PROPERTY_EXPLANATIONS[v.property],
    detail: v.detail,
    atMs,
    phase: run.phase,
    excerpt: run.trace.recent(25),
    report,
  };
}

/** An error thrown from inside src/raft is the core's; anything else is the simulator's own. */
function blame(err: unknown): Property {
  const firstFrame =
    err instanceof Error ? ((err.stack ?? '').split('\n').find((l) => l.includes(' at ')) ?? '') : '';
  return firstFrame.includes('/src/raft/') ? 'coreAssertion' : 'simulatorError';
}

function describeError(err: unknown): string {
  return err instanceof Error ? `${err.message}\n${stackTop(err)}` : String(err);
}

function stackTop(err: Error): string {
  return (err.stack ?? '').split('\n').slice(1, 6).join('\n');
}

function statsOf(run: Run, lincheck: string): RunStats {
  const c = run.cluster;
  const m = run.membership?.stats;
  return {
    virtualMs: c.nowMs(),
    events: run.events,
    traceLines: run.trace.lineCount,
    leadersElected: run.checker.stats.leadersElected,
    maxTerm: run.checker.stats.maxTerm,
    committedMax: run.checker.stats.committedMax,
    opsCompleted: c.clients.stats.completed,
    opsIndeterminate: c.clients.stats.indeterminate,
    crashes: run.faults.stats.crashes,
    partitions: run.faults.stats.partitions,
    pauses: run.faults.stats.pauses,
    membershipChanges: m === undefined ? 0 : m.learnersAdded + m.promoted + m.removed,
    messagesSent: c.network.stats.sent,
    messagesLost: c.network.stats.dropped + c.network.stats.cut,
    lincheck,
  };
}
