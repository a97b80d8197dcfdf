// ClusterService: Join and Leave run on the metadata group's leader (any other node forwards them
// there); Status reports this node's view.
import type {
  ClusterServiceServer,
  JoinRequest,
  JoinResponse,
  LeaveRequest,
  LeaveResponse,
  SetLeaderPlacementRequest,
  SetLeaderPlacementResponse,
  StatusResponse,
} from '../gen/ringkv/v1/kv.ts';
import { setLeaderPlacement } from '../node/balancer.ts';
import { InvalidArgumentError, UnavailableError } from '../node/errors.ts';
import { admitMember, removeMember } from '../node/membership.ts';
import { isLeaderPlacement, LEADER_PLACEMENTS } from '../node/metadata.ts';
import type { KvNode } from '../node/node.ts';
import { nodeStatus } from '../node/status.ts';
import type { NodeId } from '../raft/types.ts';
import { retrySafely, routeTo, type ServerContext } from './context.ts';
import { unary } from './kv-service.ts';

/** Joining can take a while (catching up by snapshot); its server-side deadline is longer than a request's. */
const MEMBERSHIP_DEADLINE_MS = 120_000;

export function clusterService(ctx: ServerContext): ClusterServiceServer {
  return {
    // A forwarded request is not retried here: when this node has lost the metadata leadership
    // meanwhile, its retry-safe refusal goes back to the node that forwarded it, which re-routes.
    join: unary(
      ctx,
      (c, req: JoinRequest, d, fwd) =>
        fwd ? join(c, req, d, fwd) : retrySafely(d, () => join(c, req, d, fwd)),
      MEMBERSHIP_DEADLINE_MS,
    ),
    leave: unary(
      ctx,
      (c, req: LeaveRequest, d, fwd) =>
        fwd ? leave(c, req, d, fwd) : retrySafely(d, () => leave(c, req, d, fwd)),
      MEMBERSHIP_DEADLINE_MS,
    ),
    status: unary(ctx, async (c): Promise<StatusResponse> => nodeStatus(c.node)),
    setLeaderPlacement: unary(ctx, (c, req: SetLeaderPlacementRequest, d, fwd) =>
      fwd ? placement(c, req, d, fwd) : retrySafely(d, () => placement(c, req, d, fwd)),
    ),
  };
}

/** Idempotent: setting the placement the cluster already has changes nothing. */
async function placement(
  ctx: ServerContext,
  req: SetLeaderPlacementRequest,
  deadlineMs: number,
  fwd: boolean,
): Promise<SetLeaderPlacementResponse> {
  if (!isLeaderPlacement(req.placement)) {
    throw new InvalidArgumentError(
      `leader placement '${req.placement}' is not one of: ${LEADER_PLACEMENTS.join(', ')}`,
    );
  }
  const to = await routeTo(ctx, 0, fwd, deadlineMs);
  if (to !== undefined) {
    const peer = ctx.peers.cluster(to);
    return ctx.peers.call(peer, peer.setLeaderPlacement, req, deadlineMs, true);
  }
  if (!ctx.node.group(0).isLeader())
    throw new UnavailableError('this node does not lead the metadata group; retry', { retrySafe: true });
  await setLeaderPlacement(ctx.node, req.placement, deadlineMs);
  return { placement: ctx.node.metadata.leaderPlacement };
}

async function join(
  ctx: ServerContext,
  req: JoinRequest,
  requestDeadlineMs: number,
  fwd: boolean,
): Promise<JoinResponse> {
  const m = req.member;
  if (m === undefined || m.nodeId === '' || m.clientAddr === '' || m.raftAddr === '') {
    throw new InvalidArgumentError('join needs a member with node_id, client_addr and raft_addr');
  }
  const deadlineMs = requestDeadlineMs;
  const to = await routeTo(ctx, 0, fwd, deadlineMs);
  if (to !== undefined)
    return ctx.peers.call(ctx.peers.cluster(to), ctx.peers.cluster(to).join, req, deadlineMs, true);
  if (!ctx.node.group(0).isLeader())
    throw new UnavailableError('this node does not lead the metadata group; retry', { retrySafe: true });
  const member = { nodeId: m.nodeId, clientAddr: m.clientAddr, raftAddr: m.raftAddr };
  await admitMember(ctx.node, member, deadlineMs);
  return { members: ctx.node.metadata.members(), clusterId: ctx.node.metadata.clusterId };
}

async function leave(
  ctx: ServerContext,
  req: LeaveRequest,
  requestDeadlineMs: number,
  fwd: boolean,
): Promise<LeaveResponse> {
  const { node } = ctx;
  if (req.nodeId === '') throw new InvalidArgumentError('leave needs the node_id of the member to remove');
  const deadlineMs = requestDeadlineMs;
  const g0 = node.group(0);
  if (req.nodeId === node.opts.nodeId && g0.isLeader()) await handOverMetadata(node, deadlineMs);
  // The leaving node never runs its own removal: once it has handed the metadata leadership over,
  // it passes the request on to the new leader even when the request was forwarded to it (the new
  // leader is another node, so this cannot loop).
  const selfLeave = req.nodeId === node.opts.nodeId;
  const to = await routeTo(ctx, 0, fwd && !selfLeave, deadlineMs);
  if (to !== undefined)
    return ctx.peers.call(ctx.peers.cluster(to), ctx.peers.cluster(to).leave, req, deadlineMs, true);
  if (!g0.isLeader())
    throw new UnavailableError('this node does not lead the metadata group; retry', { retrySafe: true });
  await removeMember(node, req.nodeId, deadlineMs);
  return { members: node.metadata.members() };
}

/** How long one leadership transfer may take before it is asked again (of the next voter). */
const HANDOVER_ATTEMPT_MS = 2_000;

/**
 * The leaving node leads the metadata group: hand it over first, then let the new leader run the
 * leave. A transfer can be aborted (the core gives up after an election timeout, or the target was
 * behind), so it is asked again, of each other voter in turn, until the deadline.
 */
async function handOverMetadata(node: KvNode, deadlineMs: number): Promise<void> {
  const g0 = node.group(0);
  const others = g0.confState.voters.filter((v) => v !== node.id);
  if (others.length === 0) {
    throw new UnavailableError(`'${node.id}' is the only voter of the metadata group; it cannot leave`, {
      retrySafe: true,
    });
  }
  const moved = (): boolean => g0.leader !== '' && g0.leader !== node.id;
  for (let attempt = 0; !moved() && Date.now() < deadlineMs; attempt++) {
    if (g0.isLeader()) g0.raw.transferLeadership(others[attempt % others.length] as NodeId);
    node.driver.schedule();
    await node
      .waitFor(
        moved,
        Math.min(deadlineMs, Date.now() + HANDOVER_ATTEMPT_MS),
        'the metadata leadership to move',
      )
      .catch(() => undefined); // asked again below, until the deadline
  }
  if (!moved()) {
    throw new UnavailableError(
      `'${node.id}' could not hand the metadata leadership over before the deadline; retry the leave`,
      { retrySafe: true },
    );
  }
}
