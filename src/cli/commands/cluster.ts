// `ringkv cluster status|join|leave`.
import Table from 'cli-table3';
import type { Command } from 'commander';
import { connectionOptions, toJson, withClient } from './client-common.ts';
import { buildClusterView, type ClusterView, type NodeRow } from './cluster-view.ts';

type Opts = Record<string, unknown>;

/** Bound on waiting for one member's Status, so a stopped node does not hold the whole table. */
const MEMBER_TIMEOUT_MS_MAX = 2000;

export function runClusterStatus(opts: Opts, cmd: Command): Promise<number> {
  return withClient(opts, cmd, async (client) => {
    const { timeoutMs } = connectionOptions(opts);
    const { cluster, members } = await client.statusOfEveryMember({
      memberTimeoutMs: Math.min(timeoutMs, MEMBER_TIMEOUT_MS_MAX),
    });
    const view = buildClusterView(cluster, members);
    process.stdout.write(opts.output === 'json' ? `${toJson(view)}\n` : renderView(view));
    return 0;
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

export function renderView(view: ClusterView): string {
  const table = new Table({
    head: ['node', 'address', 'role', 'shards led', 'term', 'commit/applied', 'lag'],
    style: { head: [], border: [], compact: true },
  });
  for (const n of view.nodes) table.push(row(n, view.shardCount));
  const lines = [
    `cluster ${view.clusterId || '(unnamed)'}: ${view.nodes.length} members, ${view.shardCount} shards`,
    table.toString(),
    view.problems.length === 0
      ? 'every group has a leader and every member is a voter'
      : view.problems.join('\n'),
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
    process.stdout.write(
      `joined ${member.nodeId} (client ${member.clientAddr}, raft ${member.raftAddr}) to cluster ${r.clusterId}\n` +
        `members: ${r.members.map((m) => m.nodeId).join(', ')}\n`,
    );
    return 0;
  });
}

export function runClusterLeave(nodeId: string, opts: Opts, cmd: Command): Promise<number> {
  return withClient(opts, cmd, async (client) => {
    const r = await client.leave(nodeId, { timeoutMs: membershipTimeoutMs(opts, cmd) });
    process.stdout.write(
      `${nodeId} left the cluster\nmembers: ${r.members.map((m) => m.nodeId).join(', ')}\n`,
    );
    return 0;
  });
}

/** Membership changes wait for catch-up and leadership moves: a minute unless --timeout-ms says otherwise. */
const MEMBERSHIP_TIMEOUT_MS_DEFAULT = 60_000;

function membershipTimeoutMs(opts: Opts, cmd: Command): number {
  const source = cmd.getOptionValueSource('timeoutMs');
  if (source === 'cli' || source === 'env') return connectionOptions(opts).timeoutMs;
  return MEMBERSHIP_TIMEOUT_MS_DEFAULT;
}
