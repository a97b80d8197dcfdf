// One chaos run, start to end: the run folder, the network, the cluster, the workload, the faults
// from the seeded schedule, then healing and the three checks (lost writes, replicas, the history
// through src/lincheck), the files, and the cleanup, which always happens: every process started is
// stopped by pid and every namespace removed, also on an error or Ctrl+C.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { sleep } from '../../client/backoff.ts';
import { RingkvClient } from '../../client/index.ts';
import {
  type CheckResult,
  checkOperations,
  formatViolation,
  type KvInput,
  type KvOutput,
  kvModel,
} from '../../lincheck/index.ts';
import { ChaosCluster, serveAccepts } from './cluster.ts';
import { FaultRunner } from './faults.ts';
import { type HistoryEvent, jepsenKvLine, operationsOf } from './history.ts';
import { describeLostWrite, findLostWrites, type LostWriteCheck } from './lost-writes.ts';
import { type ChaosNetwork, LoopbackNetwork, NamespaceNetwork } from './network.ts';
import {
  type ChaosOptions,
  type ChaosOutcome,
  ChaosUsageError,
  exitCodeOf,
  finalLine,
  PLANTED_BUGS,
} from './options.ts';
import { killAllNow } from './processes.ts';
import { checkReplicas, type ReplicaReport, readAll, replicaMismatches } from './replicas.ts';
import { type FaultKind, type PlannedFault, planSchedule } from './schedule.ts';
import { stamp, Timeline } from './timeline.ts';
import { Workload } from './workload.ts';

const FORM_TIMEOUT_MS = 60_000;
const HEAL_TIMEOUT_MS = 90_000;
/** Bound on waiting for the balancer to spread the leaderships before the workload starts. */
const SPREAD_TIMEOUT_MS = 30_000;
const REPLICAS_TIMEOUT_MS = 60_000;
const READ_BACK_TIMEOUT_MS = 60_000;
const PROGRESS_EVERY_MS = 10_000;
/** The checker's budget per key before it answers "unknown". */
const CHECK_BUDGET_MS_PER_KEY = 60_000;
export const EXIT_INTERRUPTED = 130;

type Print = (line: string) => void;

interface RunFolder {
  readonly dir: string;
  readonly dataDir: string;
  readonly kept: boolean;
}

function prepareFolder(keep: string | undefined): RunFolder {
  if (keep === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'ringkv-chaos-'));
    return { dir, dataDir: join(dir, 'data'), kept: false };
  }
  const dir = resolve(keep);
  if (existsSync(dir) && readdirSync(dir).length > 0)
    throw new ChaosUsageError(`--keep ${keep}: the folder exists and is not empty; give a new or empty one`);
  mkdirSync(dir, { recursive: true });
  return { dir, dataDir: join(dir, 'data'), kept: true };
}

/** The network to run on, and the fault kinds it allows (partitions need namespaces). */
async function chooseNetwork(
  o: ChaosOptions,
  print: Print,
): Promise<{ network: ChaosNetwork; kinds: FaultKind[] }> {
  const why = await NamespaceNetwork.available();
  if (why === undefined) {
    const stale = await NamespaceNetwork.removeStale();
    if (stale.length > 0) print(`chaos: removed namespaces left by an earlier run: ${stale.join(', ')}`);
    return { network: await NamespaceNetwork.create(), kinds: [...o.faults] };
  }
  if (o.faults.includes('partition')) {
    if (o.faultsExplicit) throw new ChaosUsageError(`--faults partition cannot run here: ${why}`);
    print(`chaos: partitions skipped: ${why}`);
  }
  return { network: new LoopbackNetwork(), kinds: o.faults.filter((k) => k !== 'partition') };
}

/**
 * Runs chaos with `o`, printing progress with `print`; returns the exit status. Throws
 * ChaosUsageError when the options cannot run here (nothing is left behind then).
 */
export async function runChaos(o: ChaosOptions, print: Print): Promise<number> {
  const abort = new AbortController();
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    interrupts++;
    if (interrupts > 1) {
      // A second Ctrl+C: no more waiting. The exit hooks kill the nodes and remove the namespaces.
      process.exit(EXIT_INTERRUPTED);
    }
    print(`chaos: ${sig}: stopping (again to stop at once)`);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let folder: RunFolder | undefined;
  let network: ChaosNetwork | undefined;
  let cluster: ChaosCluster | undefined;
  let outcome: ChaosOutcome = {
    ops: 0,
    faults: 0,
    lost: 0,
    verdict: 'unknown',
    replicaMismatches: 0,
    problems: [],
  };
  let problemFound = false;
  try {
    const bug = o.plantedBug === undefined ? undefined : PLANTED_BUGS[o.plantedBug];
    if (bug !== undefined && !serveAccepts(bug.serveFlagName))
      throw new ChaosUsageError(
        `--planted-bug ${o.plantedBug} starts the nodes with ${bug.serveFlag}, which this build's ` +
          '`ringkv serve` does not accept (the node side of the planted bug is not built)',
      );
    const bugArgs = bug === undefined ? [] : [bug.serveFlag];
    folder = prepareFolder(o.keep);
    const chosen = await chooseNetwork(o, print);
    network = chosen.network;
    cluster = new ChaosCluster(network, { logDir: folder.dir, dataDir: folder.dataDir }, bugArgs);
    outcome = await runPhases(
      o,
      { folder, network, cluster, kinds: chosen.kinds, signal: abort.signal },
      print,
    );
    problemFound = exitCodeOf(outcome) === 1;
  } catch (e) {
    if (e instanceof ChaosUsageError) {
      // Refused before anything started (a --keep folder in use, partitions asked for as a normal user).
      await cleanup(cluster, network, folder?.kept === true ? undefined : folder, false, print);
      throw e;
    }
    print(`chaos: the run could not be completed: ${(e as Error).message}`);
    outcome = { ...outcome, problems: [...outcome.problems, (e as Error).message] };
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  await cleanup(cluster, network, folder, problemFound, print);
  print(finalLine(outcome));
  if (abort.signal.aborted) return EXIT_INTERRUPTED;
  return exitCodeOf(outcome);
}

interface RunContext {
  readonly folder: RunFolder;
  readonly network: ChaosNetwork;
  readonly cluster: ChaosCluster;
  readonly kinds: readonly FaultKind[];
  readonly signal: AbortSignal;
}

async function runPhases(o: ChaosOptions, ctx: RunContext, print: Print): Promise<ChaosOutcome> {
  const { folder, network, cluster, signal } = ctx;
  const schedule = planSchedule({ seed: o.seed, durationMs: o.durationMs, kinds: ctx.kinds });
  print(
    `chaos: seed ${o.seed}, ${o.nodes} nodes, ${o.durationMs / 1000} s, faults ${ctx.kinds.join(',') || 'none'}, ` +
      `${o.clients} clients on ${o.keys} hot keys (repeat with --seed ${o.seed})`,
  );
  if (o.plantedBug !== undefined)
    print(`chaos: planted bug ${o.plantedBug}: ${PLANTED_BUGS[o.plantedBug].description}`);
  print(`chaos: network: ${network.description}`);
  print(`chaos: run folder ${folder.dir}${folder.kept ? '' : ' (removed at the end; --keep DIR keeps it)'}`);
  const timeline = new Timeline(print, join(folder.dir, 'timeline.log'));
  timeline.log(
    `run started ${new Date(timeline.t0Ms).toISOString()} (${timeline.t0Ms} in the nodes' log times)`,
  );
  timeline.log(`starting ${o.nodes} nodes: node1 bootstraps, the others join it`);
  const formedMs = await startCluster(cluster, o.nodes, signal);
  timeline.log(
    `cluster formed in ${formedMs} ms: ${cluster.members.map((n) => `${n.name} ${n.endpoint}`).join(', ')}`,
  );

  const spreadMs = Date.now();
  const spread = await cluster.waitLeadersSpread(SPREAD_TIMEOUT_MS);
  timeline.log(
    spread
      ? `leaderships spread over the members (${Date.now() - spreadMs} ms)`
      : `leaderships still not spread after ${SPREAD_TIMEOUT_MS} ms; going on`,
  );

  const workload = new Workload(cluster, {
    clients: o.clients,
    keys: o.keys,
    opTimeoutMs: o.opTimeoutMs,
    seed: o.seed,
    now: () => timeline.elapsedMs,
  });
  const problems: string[] = [];
  const endMs = timeline.elapsedMs + o.durationMs;
  workload.start();
  timeline.log(`workload started: ${o.clients} clients`);
  const progress = setInterval(() => timeline.log(progressLine(workload)), PROGRESS_EVERY_MS);
  let injected = 0;
  try {
    injected = await injectFaults(
      schedule,
      new FaultRunner(cluster, network, timeline, signal),
      timeline,
      endMs,
      signal,
      problems,
    );
    const restMs = endMs - timeline.elapsedMs;
    if (restMs > 0) await sleep(restMs, signal);
  } finally {
    clearInterval(progress);
    await network.heal();
    await workload.stop();
  }
  timeline.log(`workload stopped: ${progressLine(workload)}; ${injected} faults`);
  if (workload.unexpectedCount > 0) {
    timeline.log(
      `${workload.unexpectedCount} unexpected errors, the first: ${workload.unexpected.slice(0, 3).join(' | ')}`,
    );
  }
  const events = workload.history.events;
  writeFileSync(join(folder.dir, 'history.edn'), `${events.map(jepsenKvLine).join('\n')}\n`);
  const ops = operationsOf(events);
  if (signal.aborted)
    return { ops: ops.length, faults: injected, lost: 0, verdict: 'unknown', replicaMismatches: 0, problems };

  const healed = await heal(cluster, timeline);
  if (healed !== undefined) problems.push(healed);
  const lost = await readBack(cluster, ops, timeline);
  if (typeof lost === 'string') problems.push(lost);
  const replicas = await checkReplicas(cluster, REPLICAS_TIMEOUT_MS);
  reportReplicas(replicas, timeline);
  const check = checkHistory(ops, events, timeline);
  const outcome: ChaosOutcome = {
    ops: ops.length,
    faults: injected,
    lost: typeof lost === 'string' ? 0 : lost.lost.length,
    verdict: check.verdict,
    replicaMismatches: replicaMismatches(replicas),
    problems,
  };
  writeResult(folder.dir, o, network, workload, outcome, replicas);
  for (const p of problems) print(`chaos: problem: ${p}`);
  print(
    `chaos: history: ${ops.length} ops (${workload.history.okCount} ok, ${workload.history.infoCount} indeterminate), ` +
      `${workload.history.failCount} failed (did nothing; not in the history), written to ${join(folder.dir, 'history.edn')}`,
  );
  return outcome;
}

async function startCluster(cluster: ChaosCluster, nodes: number, signal: AbortSignal): Promise<number> {
  const t0 = Date.now();
  const started = cluster.start(nodes, FORM_TIMEOUT_MS);
  const aborted = new Promise<never>((_, reject) =>
    signal.addEventListener('abort', () => reject(new Error('interrupted while starting the cluster')), {
      once: true,
    }),
  );
  aborted.catch(() => {});
  await Promise.race([started, aborted]);
  return Date.now() - t0;
}

/** Faults one at a time until the next one would not fit before `endMs`; returns how many were injected. */
async function injectFaults(
  schedule: readonly PlannedFault[],
  runner: FaultRunner,
  timeline: Timeline,
  endMs: number,
  signal: AbortSignal,
  problems: string[],
): Promise<number> {
  let injected = 0;
  for (const f of schedule) {
    if (signal.aborted || timeline.elapsedMs + f.gapBeforeMs + f.holdMs > endMs) break;
    await sleep(f.gapBeforeMs, signal);
    if (signal.aborted) break;
    injected++;
    try {
      const r = await runner.run(f);
      if (r.problem !== undefined) problems.push(`fault ${f.seq}: ${r.problem}`);
    } catch (e) {
      const problem = `fault ${f.seq} (${f.kind}) failed: ${(e as Error).message}`;
      timeline.log(problem);
      problems.push(problem);
    }
  }
  return injected;
}

function progressLine(w: Workload): string {
  const h = w.history;
  return `ops: ${h.okCount} ok, ${h.infoCount} indeterminate, ${h.failCount} failed`;
}

/** Undoes everything still broken and waits until every member is a voter with every group led. */
async function heal(cluster: ChaosCluster, timeline: Timeline): Promise<string | undefined> {
  const done = cluster.restoreProcesses();
  timeline.log(`healing: no partition${done.length > 0 ? `; ${done.join(', ')}` : ''}`);
  try {
    const ms = await cluster.waitFormed(HEAL_TIMEOUT_MS);
    timeline.log(
      `healed: the shard table settled, every member hosts its shards, every group has a leader (${ms} ms)`,
    );
    return undefined;
  } catch (e) {
    const problem = `the cluster did not recover after healing: ${(e as Error).message}`;
    timeline.log(problem);
    return problem;
  }
}

/** Reads every key back (linearizable scans) and looks for lost writes; a string when it could not read. */
async function readBack(
  cluster: ChaosCluster,
  ops: ReturnType<typeof operationsOf>,
  timeline: Timeline,
): Promise<LostWriteCheck | string> {
  const client = new RingkvClient({ endpoints: cluster.members.map((n) => n.endpoint) });
  const deadline = Date.now() + READ_BACK_TIMEOUT_MS;
  let lastError = '';
  try {
    while (Date.now() < deadline) {
      try {
        const state = await readAll(client, false);
        const values = new Map<string, string>();
        for (const [k, v] of state) values.set(k, v.slice(v.indexOf(':') + 1));
        const check = findLostWrites(ops, values);
        timeline.log(
          `read back ${values.size} keys (linearizable scan): ${check.keysChecked} keys written, ` +
            `${check.ackedWrites} acknowledged writes, lost ${check.lost.length}`,
        );
        for (const l of check.lost.slice(0, 20)) timeline.log(`  ${describeLostWrite(l)}`);
        return check;
      } catch (e) {
        lastError = (e as Error).message;
        await sleep(500);
      }
    }
  } finally {
    void client.close({ timeoutMs: 0 });
  }
  const problem = `could not read the keys back within ${READ_BACK_TIMEOUT_MS} ms: ${lastError}`;
  timeline.log(problem);
  return problem;
}

function reportReplicas(r: ReplicaReport, timeline: Timeline): void {
  if (r.unsettled.length > 0) {
    timeline.log(
      `replicas: ${r.unsettled.length} group(s) did not reach the same applied index on every replica:`,
    );
    for (const u of r.unsettled) timeline.log(`  ${u}`);
    return;
  }
  timeline.log(
    `replicas: each of ${r.groups} groups at one applied index on the members that host it ` +
      `(${r.nodesCompared} members); each shard's replicas ` +
      `${r.divergentKeys === 0 ? 'identical' : `differ on ${r.divergentKeys} keys`} (${r.keysCompared} keys compared)`,
  );
  for (const d of r.divergence) timeline.log(`  ${d}`);
}

function checkHistory(
  ops: ReturnType<typeof operationsOf>,
  events: readonly HistoryEvent[],
  timeline: Timeline,
): CheckResult<KvInput, KvOutput> {
  const t0 = Date.now();
  const result = checkOperations(kvModel, ops, { budgetMsPerPartition: CHECK_BUDGET_MS_PER_KEY });
  timeline.log(
    `history checked (src/lincheck, ${result.partitions.length} keys) in ${Date.now() - t0} ms: ${result.verdict}`,
  );
  if (result.violation !== undefined) {
    timeline.log('  (t = line numbers in history.edn, from 0)');
    for (const line of formatViolation(result.violation)) timeline.log(`  ${line}`);
    const blocked = result.violation.blocked.operation;
    const at = (i: number): string => (Number.isFinite(i) ? stamp(events[i]?.timeMs ?? 0) : 'never');
    timeline.log(
      `  the operation that cannot be linearized ran from ${at(blocked.callTime)} to ${at(blocked.returnTime)}`,
    );
  }
  if (result.verdict === 'unknown') {
    const stuck = result.partitions.filter((p) => p.verdict === 'unknown' && p.unknownReason !== 'skipped');
    timeline.log(
      `  gave up on ${stuck.length} key(s): ${stuck.map((p) => `${p.operations} ops (${p.unknownReason})`).join(', ')}`,
    );
  }
  return result;
}

function writeResult(
  dir: string,
  o: ChaosOptions,
  network: ChaosNetwork,
  w: Workload,
  outcome: ChaosOutcome,
  replicas: ReplicaReport,
): void {
  const result = {
    seed: o.seed,
    nodes: o.nodes,
    durationMs: o.durationMs,
    faultKinds: o.faults,
    plantedBug: o.plantedBug ?? null,
    network: network.description,
    ops: outcome.ops,
    ok: w.history.okCount,
    indeterminate: w.history.infoCount,
    failed: w.history.failCount,
    unexpectedErrors: w.unexpectedCount,
    faults: outcome.faults,
    lost: outcome.lost,
    verdict: outcome.verdict,
    replicas,
    problems: outcome.problems,
  };
  writeFileSync(join(dir, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
}

/** Stops every process, removes the network, and removes the run folder unless kept. */
async function cleanup(
  cluster: ChaosCluster | undefined,
  network: ChaosNetwork | undefined,
  folder: RunFolder | undefined,
  problemFound: boolean,
  print: Print,
): Promise<void> {
  try {
    await cluster?.stopAll();
  } catch (e) {
    print(`chaos: stopping the nodes: ${(e as Error).message}; killing what is left`);
  }
  killAllNow();
  await network?.close();
  if (folder === undefined) return;
  if (!folder.kept) {
    rmSync(folder.dir, { recursive: true, force: true });
  } else if (!problemFound) {
    // The data directories are evidence only when something went wrong; they hold preallocated WAL
    // segments (64 MiB each), so a clean run leaves only logs, history, timeline and result.
    rmSync(folder.dataDir, { recursive: true, force: true });
    print(`chaos: kept ${folder.dir}: node logs, history.edn, timeline.log, result.json`);
  } else {
    print(`chaos: kept ${folder.dir}: node logs, data, history.edn, timeline.log, result.json`);
  }
}
