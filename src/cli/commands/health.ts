// `ringkv cluster health`: one line per member (reachable or not, ready or not, how long its Status
// took), like `etcdctl endpoint health --cluster`. The member list comes from the endpoints given;
// then every member is asked at its own client address, all at once, each within its own timeout,
// so a hung or stopped node costs that timeout once and does not hold up the others' lines.
//
// "Ready" is what the node itself reports: it answers Status, knows a leader of the metadata group
// and a leader for every group it holds (a node that cannot see a leader cannot serve that group's
// linearizable reads or writes). Healthy is reachable, ready and no alarm raised (NOSPACE: the node
// refuses writes), as etcdctl counts an active alarm as unhealthy.
import type { Command } from 'commander';
import type { Member, RingkvClient, StatusResponse } from '../../client/index.ts';
import { connectionOptions, toJson, withClient } from './client-common.ts';
import { memberTimeoutMs } from './cluster.ts';
import { reportFailure } from './output.ts';

export interface NodeHealth {
  readonly nodeId: string;
  readonly clientAddr: string;
  /** reachable && ready && no alarm. */
  readonly healthy: boolean;
  /** It answered Status within its timeout. */
  readonly reachable: boolean;
  /** It answered, for this cluster and as this member, and sees a leader of every group it holds. */
  readonly ready: boolean;
  /** From sending Status to its answer or to giving up. */
  readonly tookMs: number;
  readonly alarms: readonly string[];
  /** Why it is not healthy; '' when it is. */
  readonly reason: string;
}

/** Whether `status`, the answer of `member`, says it is ready; and when not, why. Pure. */
export function readiness(
  member: Member,
  clusterId: string,
  status: StatusResponse,
): { readonly ready: boolean; readonly reason: string } {
  if (status.nodeId !== member.nodeId)
    return { ready: false, reason: `${member.clientAddr} answers as ${status.nodeId || 'an unnamed node'}` };
  if (clusterId !== '' && status.clusterId !== clusterId)
    return {
      ready: false,
      reason: `it answers for cluster ${status.clusterId || '(none yet)'}, not ${clusterId}`,
    };
  const metadata = status.shards.find((s) => s.shardId === 0);
  if (metadata === undefined || metadata.leader === '')
    return { ready: false, reason: 'it knows no leader of the metadata group' };
  const leaderless = status.shards.filter((s) => s.leader === '').map((s) => s.shardId);
  if (leaderless.length > 0) {
    const n = status.shards.length;
    return {
      ready: false,
      reason: `${leaderless.length} of the ${n} groups it holds have no leader it knows (shard${leaderless.length === 1 ? '' : 's'} ${leaderless.join(', ')})`,
    };
  }
  return { ready: true, reason: '' };
}

function alarmReason(alarms: readonly string[]): string {
  return alarms
    .map((a) =>
      a === 'NOSPACE'
        ? 'the NOSPACE alarm is raised: too little disk for its log, it refuses writes'
        : `the ${a} alarm is raised`,
    )
    .join('; ');
}

/** Asks one member for its Status at its own address, within `timeoutMs`, and judges the answer. */
export async function checkMember(
  client: RingkvClient,
  member: Member,
  clusterId: string,
  timeoutMs: number,
): Promise<NodeHealth> {
  const base = { nodeId: member.nodeId, clientAddr: member.clientAddr };
  const startMs = performance.now();
  let status: StatusResponse;
  try {
    status = await client.status({ endpoint: member.clientAddr, timeoutMs });
  } catch (e) {
    const tookMs = Math.round(performance.now() - startMs);
    const why = e instanceof Error ? e.message : String(e);
    return { ...base, healthy: false, reachable: false, ready: false, tookMs, alarms: [], reason: why };
  }
  const tookMs = Math.round(performance.now() - startMs);
  const { ready, reason } = readiness(member, clusterId, status);
  const alarms = [...status.alarms];
  const healthy = ready && alarms.length === 0;
  const why = [reason, alarmReason(alarms)].filter((r) => r !== '').join('; ');
  return { ...base, healthy, reachable: true, ready, tookMs, alarms, reason: why };
}

/** One line: `node1 (host:port) is healthy: reachable, ready, took 3 ms`, and why when it is not. */
export function healthLine(h: NodeHealth): string {
  const state = h.reachable ? `reachable, ${h.ready ? 'ready' : 'not ready'}` : 'unreachable';
  const head = `${h.nodeId} (${h.clientAddr}) is ${h.healthy ? 'healthy' : 'unhealthy'}: ${state}, took ${h.tookMs} ms`;
  return h.reason === '' ? head : `${head}: ${h.reason}`;
}

/** Exit status: 0 when every member is healthy; 1 when one is not, or when no member list could be had. */
export function runClusterHealth(opts: Record<string, unknown>, cmd: Command): Promise<number> {
  return withClient(opts, cmd, async (client) => {
    const { timeoutMs } = connectionOptions(opts);
    const cluster = await client.status({ timeoutMs });
    if (cluster.members.length === 0) {
      const who = cluster.nodeId || 'the node that answered';
      reportFailure(opts, 'NO_MEMBERS', `${who} knows no members yet (has it joined a cluster?)`);
      return 1;
    }
    const nodeTimeoutMs = memberTimeoutMs(timeoutMs);
    const nodes = await Promise.all(
      cluster.members.map((m) => checkMember(client, m, cluster.clusterId, nodeTimeoutMs)),
    );
    process.stdout.write(
      opts.output === 'json' ? `${toJson(nodes)}\n` : nodes.map((h) => `${healthLine(h)}\n`).join(''),
    );
    return nodes.every((h) => h.healthy) ? 0 : 1;
  });
}
