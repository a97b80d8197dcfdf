// Sharding at scale, as one story on real `ringkv serve` processes (a planned ProcessCluster of
// nodes + 1: the last joins later):
//   1. `nodes` nodes (node1 bootstraps, the others join at once), R and `--shards`: settled.
//   2. `keys` keys of `valueBytes` put once; an `old` client learns the shard table.
//   3. `writers` clients write (and read) all along; the last node joins: settled.
//   4. node2 is drained (`cluster leave`), then stopped: settled on the others.
//   5. the dead-node timeout is set, and a member that leads no metadata is killed with SIGKILL for
//      good: once it is marked down, its replicas are re-created on the live ones.
// It returns the settled table after each phase, the replicas moved against the optimum, the
// spread, every move it saw (MoveWatcher) and the longest wait of any request per phase; the
// history file is written and checked in-process (src/lincheck, kvModel). The cluster stays up: the
// caller reads back (`writers.readBack`, the `old` client) and cleans up.
import { writeFileSync } from 'node:fs';
import { HistoryRecorder, jepsenKvLine, operationsOf } from '../../src/cli/chaos/history.ts';
import { unsettledReason } from '../../src/cli/chaos/settled.ts';
import { type RingkvClient, type StatusResponse, toBytes } from '../../src/client/index.ts';
import { checkOperations, kvModel, type Verdict } from '../../src/lincheck/index.ts';
import { HASH_TAG_HASHING, shardOf } from '../../src/ring/slots.ts';
import { type ProcessCluster, type ProcessNode, runCli, waitUntil } from './harness.ts';
import { MoveWatcher, type SeenMove } from './sharding-moves.ts';
import {
  heldBy,
  maxOverMean,
  replicaChanges,
  replicasPerNode,
  type Table,
  tableOf,
} from './sharding-table.ts';
import { keyOf, type PhaseLatency, Writers } from './sharding-writers.ts';

export interface ScenarioOptions {
  /** Nodes at the start; one more joins. */
  readonly nodes: number;
  readonly shards: number;
  readonly replicationFactor: number;
  readonly keys: number;
  readonly valueBytes: number;
  readonly writers: number;
  readonly deadNodeTimeoutS: number;
  /** Where the jepsen-kv history is written. */
  readonly historyPath: string;
  /** Bound on each wait for the cluster to settle. */
  readonly settleTimeoutMs: number;
  readonly opTimeoutMs: number;
  /** Progress lines (default: none). */
  readonly progress?: (line: string) => void;
}

/** One phase: from its action (start, join, leave, kill) to the table settled after it. */
export interface PhaseResult {
  readonly name: 'start' | 'join' | 'drain' | 'replace';
  /** The node that joined, was drained or was killed ('' for the start). */
  readonly node: string;
  readonly tookMs: number;
  readonly table: Table;
  readonly perNode: ReadonlyMap<string, number>;
  readonly maxOverMean: number;
  /** Replicas (shard@node) added and removed since the previous settled table. */
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** The fewest replicas that had to move: the joiner's share, or what the node leaving held. */
  readonly optimum: number;
  readonly moves: readonly SeenMove[];
  /** Requests started from the action to the settled table (after a kill: once it was seen down). */
  readonly latency: PhaseLatency | undefined;
  /** When the longest of them started, in ms after the action. */
  readonly latencyMaxAfterMs: number | undefined;
  /** The longest one's shard, and the moves of that shard seen while it waited. */
  readonly latencyMaxShard: { readonly shardId: number; readonly moves: readonly SeenMove[] } | undefined;
  /** After a kill: requests started from the kill until every live member saw the node down. */
  readonly latencyUntilDown: PhaseLatency | undefined;
  /** When the phase began, in ms after the scenario began. */
  readonly atMs: number;
}

export interface ScenarioResult {
  readonly phases: readonly PhaseResult[];
  readonly writers: Writers;
  /** A client made before the join and not used since it learned the table then. */
  readonly old: RingkvClient;
  /** The nodes still running at the end. */
  readonly live: readonly ProcessNode[];
  readonly historyPath: string;
  readonly historyOps: number;
  readonly verdict: Verdict;
  readonly preloadMs: number;
  readonly missedPolls: number;
}

export const SCENARIO_DEFAULTS = {
  nodes: 5,
  shards: 32,
  replicationFactor: 3,
  deadNodeTimeoutS: 10,
  settleTimeoutMs: 600_000,
  opTimeoutMs: 5000,
} as const;

/** Plans `nodes + 1` processes with the scenario's shards and R (the dead-node timeout is set later). */
export function planScenarioCluster(
  plan: typeof ProcessCluster.plan,
  opts: Pick<ScenarioOptions, 'nodes' | 'shards' | 'replicationFactor'>,
): Promise<ProcessCluster> {
  return plan({
    nodes: opts.nodes + 1,
    extraArgs: ['--shards', String(opts.shards), '--replication_factor', String(opts.replicationFactor)],
  });
}

export async function runShardingScenario(c: ProcessCluster, o: ScenarioOptions): Promise<ScenarioResult> {
  if (c.nodes.length !== o.nodes + 1) throw new Error(`planned ${c.nodes.length} nodes, want ${o.nodes + 1}`);
  const run = new ScenarioRun(c, o);
  run.watcher.start();
  try {
    await run.form();
    const { old, preloadMs } = await run.load();
    await run.join();
    await run.drain();
    await run.replace();
    return { ...(await run.finish()), old, preloadMs };
  } finally {
    await run.writers.stop();
    await run.watcher.stop();
  }
}

/** The scenario's state as it goes: the live nodes, the phases so far, the writers, the watcher. */
class ScenarioRun {
  readonly writers: Writers;
  readonly watcher: MoveWatcher;
  private readonly c: ProcessCluster;
  private readonly o: ScenarioOptions;
  private readonly say: (line: string) => void;
  private readonly history = new HistoryRecorder();
  private readonly phases: PhaseResult[] = [];
  private readonly t0Ms = performance.now();
  /** Invariant: the nodes started and not stopped or killed since. */
  private live: ProcessNode[] = [];

  constructor(c: ProcessCluster, o: ScenarioOptions) {
    this.c = c;
    this.o = o;
    this.say = o.progress ?? (() => {});
    this.writers = new Writers(this.history, o);
    this.watcher = new MoveWatcher(() => statusOfAny(c, this.live));
  }

  /**
   * One phase: `act`, then wait until the cluster has settled; the figures against the previous
   * settled table. `optimum` is computed before the action (which changes the live nodes).
   */
  private async phase(
    name: PhaseResult['name'],
    node: string,
    optimum: (before: Table) => number,
    act: () => Promise<void>,
    settled: () => Promise<Table>,
  ): Promise<void> {
    this.writers.phase = name;
    this.watcher.phase = name;
    const before = this.phases.at(-1)?.table ?? [];
    const fewest = optimum(before);
    this.say(`${name} ${node}`.trim());
    const t0 = performance.now();
    await act();
    const table = await settled();
    const tookMs = performance.now() - t0;
    const latency = this.writers.latency.get(name);
    const perNode = replicasPerNode(
      table,
      this.live.map((n) => n.name),
    );
    this.phases.push({
      name,
      node,
      tookMs,
      table,
      perNode,
      maxOverMean: maxOverMean(perNode),
      ...replicaChanges(before, table),
      optimum: fewest,
      moves: this.watcher.of(name),
      latency,
      latencyMaxAfterMs: latency === undefined ? undefined : latency.latencyMaxStartMs - t0,
      latencyMaxShard: latency === undefined ? undefined : this.movesDuring(latency),
      latencyUntilDown: this.writers.latency.get(`${name}-until-down`),
      atMs: t0 - this.t0Ms,
    });
    this.say(`${name} settled in ${(tookMs / 1000).toFixed(1)} s: ${JSON.stringify([...perNode])}`);
  }

  /** The shard of `l`'s longest request, and the moves of that shard seen while it waited. */
  private movesDuring(l: PhaseLatency): { shardId: number; moves: SeenMove[] } {
    const shardId = shardOf(toBytes(l.latencyMaxKey), this.o.shards, HASH_TAG_HASHING);
    const endMs = l.latencyMaxStartMs + l.latencyMsMax;
    const moves = this.watcher.moves.filter(
      (m) =>
        m.shardId === shardId && m.firstSeenMs <= endMs && (m.lastSeenMs ?? Infinity) >= l.latencyMaxStartMs,
    );
    return { shardId, moves };
  }

  /** node1 bootstraps; the others join at once. */
  async form(): Promise<void> {
    const first = this.c.nodes.slice(0, this.o.nodes);
    await this.phase(
      'start',
      '',
      () => 0,
      async () => {
        first[0]!.start();
        this.live = [first[0]!];
        await this.c.waitAnswers(first[0]!, 60_000);
        for (const n of first.slice(1)) n.start();
        this.live = first;
      },
      () => settle(this.c, this.live, this.o.settleTimeoutMs),
    );
  }

  /** `ringkv cluster configure ARGS` through the live nodes; throws unless it exits 0. */
  private async configure(args: readonly string[]): Promise<void> {
    const endpoints = this.live.map((n) => n.endpoint).join(',');
    const r = await runCli([
      'cluster',
      'configure',
      ...args,
      '--endpoints',
      endpoints,
      '--timeout-ms',
      '20000',
    ]);
    if (r.code !== 0) throw new Error(`cluster configure ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  }

  /** Every key put once; the `old` client learns the table; the writers start. */
  async load(): Promise<{ old: RingkvClient; preloadMs: number }> {
    const endpoints = this.live.map((n) => n.endpoint);
    const clients = Array.from({ length: this.o.writers }, () => this.c.client({ endpoints }));
    const p0 = performance.now();
    await this.writers.preload(clients);
    const preloadMs = performance.now() - p0;
    this.say(`preloaded ${this.o.keys} keys of ${this.o.valueBytes} B in ${(preloadMs / 1000).toFixed(1)} s`);
    const old = this.c.client({ endpoints });
    await old.get(keyOf(0), { timeoutMs: 10_000 });
    this.writers.phase = 'steady';
    this.writers.start(clients);
    return { old, preloadMs };
  }

  /** The last planned node joins; the optimum is its fair share, ⌊S·R / N⌋. */
  async join(): Promise<void> {
    const joiner = this.c.nodes[this.o.nodes]!;
    await this.phase(
      'join',
      joiner.name,
      () => Math.floor((this.o.shards * this.o.replicationFactor) / (this.live.length + 1)),
      async () => {
        joiner.start();
        this.live = [...this.live, joiner];
      },
      () => settle(this.c, this.live, this.o.settleTimeoutMs),
    );
  }

  /** node2 leaves: `cluster leave` drains it, then its process is stopped. */
  async drain(): Promise<void> {
    const leaving = this.c.node('node2');
    const o = this.o;
    await this.phase(
      'drain',
      leaving.name,
      (before) => heldBy(before, leaving.name),
      async () => {
        const rest = this.live.filter((n) => n !== leaving);
        const r = await runCli(
          [
            'cluster',
            'leave',
            leaving.name,
            '--endpoints',
            rest.map((n) => n.endpoint).join(','),
            '--timeout-ms',
            String(o.settleTimeoutMs),
          ],
          { timeoutMs: o.settleTimeoutMs + 30_000 },
        );
        if (r.code !== 0)
          throw new Error(`cluster leave ${leaving.name} exited ${r.code}: ${r.stdout}${r.stderr}`);
        this.live = rest;
        await leaving.stop();
      },
      () => settle(this.c, this.live, o.settleTimeoutMs),
    );
  }

  /**
   * The dead-node timeout is set; a member other than node1 that does not lead the metadata group
   * is killed with SIGKILL; settled once every live member sees it down and its replicas are on
   * the live ones.
   */
  async replace(): Promise<void> {
    const o = this.o;
    await this.configure(['--dead-node-timeout', `${o.deadNodeTimeoutS}s`]);
    const s = await statusOfAny(this.c, this.live);
    const metaLeader = s?.shards.find((g) => g.shardId === 0)?.leader;
    const victim = this.live.find((n) => n.name !== 'node1' && n.name !== metaLeader);
    if (victim === undefined) throw new Error(`no member to kill besides node1 and ${metaLeader}`);
    await this.phase(
      'replace',
      victim.name,
      (before) => heldBy(before, victim.name),
      async () => {
        this.writers.phase = 'replace-until-down';
        await victim.kill('SIGKILL');
        this.live = this.live.filter((n) => n !== victim);
      },
      () =>
        settle(this.c, this.live, o.settleTimeoutMs + o.deadNodeTimeoutS * 1000, {
          name: victim.name,
          seenDown: () => {
            this.writers.phase = 'replace';
          },
        }),
    );
  }

  /** Stops the writers; writes the history and checks it (src/lincheck, kvModel). */
  async finish(): Promise<Omit<ScenarioResult, 'old' | 'preloadMs'>> {
    this.writers.phase = 'after';
    await this.writers.stop();
    await this.watcher.stop();
    writeFileSync(this.o.historyPath, `${this.history.events.map(jepsenKvLine).join('\n')}\n`);
    const ops = operationsOf(this.history.events);
    const check = checkOperations(kvModel, ops, { budgetMsPerPartition: 60_000 });
    this.say(`history: ${ops.length} operations in ${this.o.historyPath}: ${check.verdict}`);
    return {
      phases: this.phases,
      writers: this.writers,
      live: this.live,
      historyPath: this.o.historyPath,
      historyOps: ops.length,
      verdict: check.verdict,
      missedPolls: this.watcher.missedPolls,
    };
  }
}

/** The Status of the first of `nodes` that answers within 2 s, or undefined. */
async function statusOfAny(
  c: ProcessCluster,
  nodes: readonly ProcessNode[],
): Promise<StatusResponse | undefined> {
  for (const n of nodes) {
    const s = await c.statusOf(n, 2000);
    if (s !== undefined) return s;
  }
  return undefined;
}

/**
 * Waits (bounded) until the cluster has settled over `live` (src/cli/chaos/settled.ts); with `dead`,
 * every live member must see it down (then `seenDown` is called), and it is left out of what they
 * report (it stays a member). Returns the settled table.
 */
async function settle(
  c: ProcessCluster,
  live: readonly ProcessNode[],
  timeoutMs: number,
  dead?: { readonly name: string; readonly seenDown: () => void },
): Promise<Table> {
  let why = '';
  return await waitUntil(
    `the cluster to settle over ${live.map((n) => n.name).join(', ')}`,
    timeoutMs,
    async () => {
      const statuses = new Map<string, StatusResponse>();
      for (const n of live) {
        const s = await c.statusOf(n, 2000);
        if (s === undefined || dead === undefined) {
          if (s !== undefined) statuses.set(n.name, s);
          continue;
        }
        const state = s.members.find((m) => m.nodeId === dead.name)?.state;
        if (state !== 'down') {
          why = `${n.name} sees ${dead.name} ${state}`;
          return undefined;
        }
        statuses.set(n.name, withoutDead(s, dead.name));
      }
      if (dead !== undefined && statuses.size === live.length) dead.seenDown();
      why =
        unsettledReason(
          live.map((n) => n.name),
          statuses,
        ) ?? '';
      return why === '' ? tableOf(statuses.get(live[0]!.name)!) : undefined;
    },
    500,
  ).catch((e: unknown) => {
    throw new Error(`${(e as Error).message} (last: ${why})\n${c.tails(15)}`);
  });
}

/** `s` with the member `dead` left out of its members and of the metadata group's replicas. */
function withoutDead(s: StatusResponse, dead: string): StatusResponse {
  return {
    ...s,
    members: s.members.filter((m) => m.nodeId !== dead),
    shards: s.shards.map((g) =>
      g.shardId === 0
        ? { ...g, voters: g.voters.filter((v) => v !== dead), learners: g.learners.filter((v) => v !== dead) }
        : g,
    ),
  };
}
