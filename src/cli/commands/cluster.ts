// `ringkv cluster status|join|leave|leader-placement`.

import Table from 'cli-table3';
import type { Command } from 'commander';
import {
  buildClusterView,
  type ClusterView,
  isLeaderPlacement,
  LEADER_PLACEMENTS,
  leaveRefusal,
  type NodeRow,
} from '../../client/index.ts';
import { parseDurationMs } from '../duration.ts';
import { connectionOptions, toJson, usageError, withClient } from './client-common.ts';
import { replicasOn, watchDrain } from './drain-progress.ts';
import { printJson, reportFailure, wantsJson } from './output.ts';

type Opts = Record<string, unknown>;

/**
 * Bound on waiting for one member's Status: a fifth of --timeout-ms (1 s by default). Status is
 * answered locally by each node (no consensus), so a healthy node answers in milliseconds; the
 * members are asked in parallel, so a hung or stopped node costs this once, and shows as unreachable.
 */
export function memberTimeoutMs(timeoutMs: number): number {
  return Math.max(1, Math.round(timeoutMs / 5));
}

export function runClusterStatus(opts: Opts, cmd: Command): Promise<number> {
  return withClient(opts, cmd, async (client) => {
    const { timeoutMs } = connectionOptions(opts);
    const { cluster, members } = await client.statusOfEveryMember({
      memberTimeoutMs: memberTimeoutMs(timeoutMs),
    });
    const view = buildClusterView(cluster, members);
    process.stdout.write(opts.output === 'json' ? `${toJson(view)}\n` : renderView(view));
    // Exit status: 0 healthy, 1 problems listed (or no answer at all, through withClient).
    return view.problems.length === 0 ? 0 : 1;
  });
}

const dash = (v: bigint | undefined) => (v === undefined ? '-' : v.toString());

function row(n: NodeRow, shardCount: number): string[] {
  return [
    n.nodeId,
    n.clientAddr,
    n.reachable ? n.role : `${n.role} (unreachable)`,
    `${n.shardsLed}/${shardCount}`,
    dash(n.term),
    n.commit === undefined ? '-' : `${n.commit}/${dash(n.applied)}`,
    dash(n.lag),
  ];
}

/** After the counts: where the leaders are, or that some groups have none. */
function headerState(view: ClusterView): string {
  const groups = view.shards.length;
  if (view.groupsWithoutLeader > 0)
    return `, ${view.groupsWithoutLeader} of ${groups} groups without a leader`;
  if (view.leaderPlacement === '') return '';
  return `, leaders ${view.leaderPlacement === 'pack' ? 'packed' : 'spread'}`;
}

export function renderView(view: ClusterView): string {
  const table = new Table({
    head: ['node', 'address', 'role', 'shards led', 'term', 'commit/applied', 'lag'],
    style: { head: [], border: [], compact: true },
  });
  for (const n of view.nodes) table.push(row(n, view.shardCount));
  const lines = [
    `cluster ${view.clusterId || '(unnamed)'}: ${view.nodes.length} members, ${view.shardCount} shards` +
      headerState(view),
    table.toString(),
    view.problems.length === 0
      ? 'every group has a leader and every member is a voter; ' +
        `the cluster can lose any ${view.failuresTolerated === 1 ? 'one node' : `${view.failuresTolerated} nodes`} and keep serving`
      : view.problems.map((p) => (p.startsWith('warning: ') ? p : `problem: ${p}`)).join('\n'),
  ];
  return `${lines.join('\n')}\n`;
}

export function runClusterJoin(opts: Opts, cmd: Command): Promise<number> {
  return withClient(opts, cmd, async (client) => {
    const member = {
      nodeId: String(opts.node_id),
      clientAddr: String(opts.addr),
      raftAddr: String(opts.raft_addr),
    };
    const r = await client.join(member, { timeoutMs: membershipTimeoutMs(opts, cmd) });
    if (wantsJson(opts)) {
      printJson({ joined: member, clusterId: r.clusterId, members: r.members });
      return 0;
    }
    process.stdout.write(
      `joined ${member.nodeId} (client ${member.clientAddr}, raft ${member.raftAddr}) to cluster ${r.clusterId}\n` +
        `members: ${r.members.map((m) => m.nodeId).join(', ')}\n`,
    );
    return 0;
  });
}

export function runClusterLeave(nodeId: string, opts: Opts, cmd: Command): Promise<number> {
  return withClient(opts, cmd, async (client) => {
    const { timeoutMs } = connectionOptions(opts);
    // A removal that cannot succeed is refused at once, with the reason (see leaveRefusal).
    const { cluster, members } = await client.statusOfEveryMember({
      timeoutMs,
      memberTimeoutMs: memberTimeoutMs(timeoutMs),
    });
    const refusal = leaveRefusal(buildClusterView(cluster, members), nodeId);
    if (refusal !== undefined) {
      reportFailure(opts, 'REFUSED', `refused: ${refusal}`);
      return 1;
    }
    // The replicas it holds now move to the others (progress on stderr), then it is removed.
    const held = replicasOn(cluster.placement, nodeId);
    const drain = watchDrain(nodeId, held, () => client.status({ timeoutMs: memberTimeoutMs(timeoutMs) }));
    const r = await client
      .leave(nodeId, { timeoutMs: membershipTimeoutMs(opts, cmd) })
      .catch((err: unknown) => {
        drain.stop();
        throw err;
      });
    drain.finish();
    if (wantsJson(opts)) {
      printJson({ left: nodeId, members: r.members });
      return 0;
    }
    process.stdout.write(
      `${nodeId} left the cluster\nmembers: ${r.members.map((m) => m.nodeId).join(', ')}\n`,
    );
    return 0;
  });
}

/** How often `leader-placement` looks at the leaderships while they move. */
const PLACEMENT_POLL_MS = 500;

/** The leaderships match the placement: one node leads every shard (pack), or within one of each other (spread). */
export function placementReached(view: ClusterView, placement: string): boolean {
  const led = view.nodes.filter((n) => n.reachable && n.role === 'voter').map((n) => n.shardsLed);
  if (led.length === 0 || view.shards.some((s) => s.leader === '')) return false;
  if (placement === 'pack') return led.includes(view.shardCount);
  return Math.max(...led) - Math.min(...led) <= 1;
}

function leadersLine(view: ClusterView): string {
  return view.nodes.map((n) => `${n.nodeId} ${n.shardsLed}`).join(', ');
}

/** Sets the placement, then waits (printing each change) until the leaderships match it. */
export function runClusterLeaderPlacement(placement: string, opts: Opts, cmd: Command): Promise<number> {
  if (!isLeaderPlacement(placement)) usageError(cmd, `placement must be ${LEADER_PLACEMENTS.join(' or ')}`);
  return withClient(opts, cmd, async (client) => {
    const deadlineMs = Date.now() + membershipTimeoutMs(opts, cmd);
    const { timeoutMs } = connectionOptions(opts);
    const json = wantsJson(opts);
    await client.setLeaderPlacement(placement, { timeoutMs: Math.max(1, deadlineMs - Date.now()) });
    // With json, one document at the end: the placement, whether the leaderships reached it, and
    // the shards each member leads then (undefined with --no-wait).
    const done = (reached: boolean | undefined, view: ClusterView | undefined): void => {
      if (!json) return;
      const shardsLed =
        view === undefined ? undefined : Object.fromEntries(view.nodes.map((n) => [n.nodeId, n.shardsLed]));
      printJson({ placement, reached: reached ?? null, shardsLed: shardsLed ?? null });
    };
    if (!json) process.stdout.write(`leader placement: ${placement}\n`);
    if (opts.wait === false) {
      done(undefined, undefined);
      return 0;
    }
    let last = '';
    for (;;) {
      const { cluster, members } = await client.statusOfEveryMember({
        memberTimeoutMs: memberTimeoutMs(timeoutMs),
      });
      const view = buildClusterView(cluster, members);
      const line = leadersLine(view);
      if (line !== last && !json) process.stdout.write(`shards led: ${line}\n`);
      last = line;
      if (placementReached(view, placement)) {
        done(true, view);
        return 0;
      }
      if (Date.now() + PLACEMENT_POLL_MS > deadlineMs) {
        process.stderr.write(
          'ringkv: the placement is recorded, but the leaderships have not all moved yet; ' +
            'they keep moving every few seconds (see `ringkv cluster status`)\n',
        );
        done(false, view);
        return 1;
      }
      await new Promise((r) => setTimeout(r, PLACEMENT_POLL_MS));
    }
  });
}

/** Membership changes wait for catch-up and leadership moves: a minute unless --timeout-ms says otherwise. */
const MEMBERSHIP_TIMEOUT_MS_DEFAULT = 60_000;

function membershipTimeoutMs(opts: Opts, cmd: Command): number {
  const source = cmd.getOptionValueSource('timeoutMs');
  if (source === 'cli' || source === 'env') return connectionOptions(opts).timeoutMs;
  return MEMBERSHIP_TIMEOUT_MS_DEFAULT;
}

/** `cluster configure`: the settings given, checked for form here and for bounds by the cluster. */
export function runClusterConfigure(opts: Opts, cmd: Command): Promise<number> {
  const change: { replicationFactor?: number; deadNodeTimeoutMs?: number; movesInFlightMax?: number } = {};
  const integer = (flag: string, v: unknown): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!/^\d+$/.test(String(v)) || !Number.isSafeInteger(n)) {
      process.stderr.write(`ringkv cluster configure: ${flag} must be a whole number, got '${String(v)}'\n`);
      return Number.NaN;
    }
    return n;
  };
  const r = integer('--replication-factor', opts.replicationFactor);
  const k = integer('--moves-in-flight', opts.movesInFlight);
  if (Number.isNaN(r) || Number.isNaN(k)) return Promise.resolve(2);
  if (r !== undefined) change.replicationFactor = r;
  if (k !== undefined) change.movesInFlightMax = k;
  if (opts.deadNodeTimeout !== undefined) {
    const ms = parseDurationMs(String(opts.deadNodeTimeout));
    if (ms === undefined) {
      process.stderr.write(
        `ringkv cluster configure: --dead-node-timeout must be like 90s, 5m or 1h, got '${String(opts.deadNodeTimeout)}'\n`,
      );
      return Promise.resolve(2);
    }
    change.deadNodeTimeoutMs = ms;
  }
  if (Object.keys(change).length === 0) {
    process.stderr.write(
      'ringkv cluster configure: give a setting to change: --replication-factor, --dead-node-timeout or --moves-in-flight\n',
    );
    return Promise.resolve(2);
  }
  return withClient(opts, cmd, async (client) => {
    const s = await client.configure(change, { timeoutMs: membershipTimeoutMs(opts, cmd) });
    if (wantsJson(opts)) {
      printJson({
        replicationFactor: s.replicationFactor,
        deadNodeTimeoutMs: s.deadNodeTimeoutMs,
        movesInFlightMax: s.movesInFlightMax,
        shardCount: s.shardCount,
        hashTags: s.hashTags,
      });
      return 0;
    }
    process.stdout.write(
      `settings: replication factor ${s.replicationFactor}, dead-node timeout ${formatDuration(Number(s.deadNodeTimeoutMs))}, ` +
        `moves in flight ${s.movesInFlightMax}, shards ${s.shardCount}, keys hashed ${s.hashTags ? 'by {tag}' : 'whole (a cluster from before hash tags)'}\n`,
    );
    return 0;
  });
}

/** 300000 → "5m", 90000 → "90s", 1500 → "1500ms": the largest unit that divides it. */
function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
