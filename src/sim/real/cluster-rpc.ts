// The node's calls to other nodes' client ports (ClusterRpc: Join and Status) in the simulated world,
// answered in-process by the node at that address as src/server's ClusterService would: Status from
// its groups' state; Join run by the metadata group's leader (admitMember), forwarded there once
// by a member that does not lead it. Calls travel the world's network (RpcNetwork): a node that is
// down or cut off does not answer.
import { UnavailableError } from '../../node/errors.ts';
import { METADATA_GROUP } from '../../node/ids.ts';
import { admitMember, removeMember } from '../../node/membership.ts';
import type { MemberInfo } from '../../node/metadata.ts';
import type { KvNode } from '../../node/node.ts';
import type { ClusterRpc, PeerStatus } from '../../node/options.ts';
import type { NodeId } from '../../raft/types.ts';

/** A request from one node to the client port at an address, answered by the node running there. */
export interface RpcNetwork {
  /**
   * Runs `serve` on the node answering at `toAddr` and brings its outcome back to `from`, each way
   * over the network; rejects with a retry-safe UnavailableError when nothing answers there, or
   * with an UnavailableError at `deadlineMs`. Never settles once `from`'s incarnation is dead.
   */
  call<T>(from: NodeId, toAddr: string, deadlineMs: number, serve: (node: KvNode) => Promise<T>): Promise<T>;
}

export class SimClusterRpc implements ClusterRpc {
  private readonly self: NodeId;
  private readonly net: RpcNetwork;

  constructor(self: NodeId, net: RpcNetwork) {
    this.self = self;
    this.net = net;
  }

  join(
    addr: string,
    member: MemberInfo,
    deadlineMs: number,
  ): Promise<{ clusterId: string; members: MemberInfo[] }> {
    return this.net.call(this.self, addr, deadlineMs, (node) => joinVia(this.net, node, member, deadlineMs));
  }

  status(addr: string, deadlineMs: number): Promise<PeerStatus> {
    return this.net.call(this.self, addr, deadlineMs, async (node) => peerStatus(node));
  }
}

/** ClusterService.Join on `node`: run there when it leads the metadata group, else forwarded to its leader once. */
async function joinVia(
  net: RpcNetwork,
  node: KvNode,
  member: MemberInfo,
  deadlineMs: number,
): Promise<{ clusterId: string; members: MemberInfo[] }> {
  if (node.group(METADATA_GROUP).isLeader()) return admitOn(node, member, deadlineMs);
  const leaderAddr = node.leaderAddr(METADATA_GROUP);
  if (leaderAddr === '' || leaderAddr === node.opts.clientAddr) {
    throw new UnavailableError('the metadata group has no leader here; retry', { retrySafe: true });
  }
  return net.call(node.id, leaderAddr, deadlineMs, async (leader) => {
    if (!leader.group(METADATA_GROUP).isLeader())
      throw new UnavailableError('this node does not lead the metadata group; retry', { retrySafe: true });
    return admitOn(leader, member, deadlineMs);
  });
}

async function admitOn(
  node: KvNode,
  member: MemberInfo,
  deadlineMs: number,
): Promise<{ clusterId: string; members: MemberInfo[] }> {
  await admitMember(node, member, deadlineMs);
  return { clusterId: node.metadata.clusterId, members: node.metadata.members() };
}

/** What ClusterService.Status tells of `node`, as src/server's PeerClients reads it back. */
export function peerStatus(node: KvNode): PeerStatus {
  const statuses = node.statuses();
  const g0 = statuses.find((s) => s.id === METADATA_GROUP);
  return {
    nodeId: node.opts.nodeId,
    clusterId: node.clusterId,
    members: node.metadata.members(),
    applied: new Map(statuses.map((s) => [s.id as number, s.applied as number])),
    metadataGroup: {
      leader: g0?.leader ?? '',
      voters: g0?.confState.voters ?? [],
      learners: g0?.confState.learners ?? [],
      votersOutgoing: [],
      commit: g0?.commit ?? 0,
      applied: g0?.applied ?? 0,
    },
  };
}

/** How long one leadership transfer may take before it is asked again (as src/server's handOverMetadata). */
const HANDOVER_ATTEMPT_MS = 2_000;

/**
 * ClusterService.Leave of `nodeId` arriving at `node`, as src/server runs it: the leaving node, when
 * it leads the metadata group, hands the leadership over first; the metadata leader runs
 * `removeMember`; any other node forwards the request once to the metadata leader.
 */
export async function leaveVia(
  net: RpcNetwork,
  node: KvNode,
  nodeId: string,
  deadlineMs: number,
  forwarded = false,
): Promise<void> {
  const g0 = node.group(METADATA_GROUP);
  const self = nodeId === node.opts.nodeId;
  if (self && g0.isLeader()) await handOverMetadata(node, deadlineMs);
  if (!self && g0.isLeader()) {
    await removeMember(node, nodeId, deadlineMs);
    return;
  }
  const leaderAddr = node.leaderAddr(METADATA_GROUP);
  if ((forwarded && !self) || leaderAddr === '' || leaderAddr === node.opts.clientAddr) {
    throw new UnavailableError('this node does not lead the metadata group; retry', { retrySafe: true });
  }
  return net.call(node.id, leaderAddr, deadlineMs, (leader) =>
    leaveVia(net, leader, nodeId, deadlineMs, true),
  );
}

async function handOverMetadata(node: KvNode, deadlineMs: number): Promise<void> {
  const g0 = node.group(METADATA_GROUP);
  const others = g0.confState.voters.filter((v) => v !== node.id);
  const moved = (): boolean => g0.leader !== '' && g0.leader !== node.id;
  // Bounded by the deadline: each attempt waits up to HANDOVER_ATTEMPT_MS.
  for (let attempt = 0; !moved() && others.length > 0 && node.clock.nowMs() < deadlineMs; attempt++) {
    if (g0.isLeader()) node.transferLeadership(METADATA_GROUP, others[attempt % others.length] as NodeId);
    await node
      .waitFor(
        moved,
        Math.min(deadlineMs, node.clock.nowMs() + HANDOVER_ATTEMPT_MS),
        'the metadata leadership to move',
      )
      .catch(() => undefined);
  }
  if (!moved())
    throw new UnavailableError(`'${node.id}' could not hand the metadata leadership over; retry the leave`, {
      retrySafe: true,
    });
}
