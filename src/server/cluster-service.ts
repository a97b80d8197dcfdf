// ClusterService: Join and Leave run on the metadata group's leader (any other node forwards them
// there); Status reports this node's view.
import type {
  ClusterServiceServer,
  JoinRequest,
  JoinResponse,
  LeaveRequest,
  LeaveResponse,
  StatusResponse,
} from '../gen/ringkv/v1/kv.ts';
import { InvalidArgumentError, UnavailableError } from '../node/errors.ts';
import { admitMember, removeMember } from '../node/membership.ts';
import { nodeStatus } from '../node/status.ts';
import { retrySafely, routeTo, type ServerContext } from './context.ts';
import { unary } from './kv-service.ts';

/** Joining can take a while (catching up by snapshot); its server-side deadline is longer than a request's. */
const MEMBERSHIP_DEADLINE_MS = 120_000;

export function clusterService(ctx: ServerContext): ClusterServiceServer {
  return {
    join: unary(ctx, (c, req: JoinRequest, d, fwd) =>
      retrySafely(membershipDeadline(d, c), () => join(c, req, d, fwd)),
    ),
    leave: unary(ctx, (c, req: LeaveRequest, d, fwd) =>
      retrySafely(membershipDeadline(d, c), () => leave(c, req, d, fwd)),
    ),
    status: unary(ctx, async (c): Promise<StatusResponse> => nodeStatus(c.node)),
  };
}

/** The request's own deadline when it has one shorter than the membership deadline. */
function membershipDeadline(requestDeadlineMs: number, ctx: ServerContext): number {
  const fromRequest =
    requestDeadlineMs < Date.now() + ctx.node.opts.requestTimeoutMs
      ? requestDeadlineMs
      : Number.POSITIVE_INFINITY;
  return Math.min(fromRequest, Date.now() + MEMBERSHIP_DEADLINE_MS);
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
  const deadlineMs = membershipDeadline(requestDeadlineMs, ctx);
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
  const deadlineMs = membershipDeadline(requestDeadlineMs, ctx);
  const g0 = node.group(0);
  if (req.nodeId === node.opts.nodeId && g0.isLeader()) {
    // The leaving node leads the metadata group: hand it over first, then let the new leader run the leave.
    const to = g0.confState.voters.find((v) => v !== node.id);
    if (to === undefined)
      throw new UnavailableError(`'${req.nodeId}' is the only voter; it cannot leave`, { retrySafe: true });
    g0.raw.transferLeadership(to);
    node.driver.schedule();
    await node.waitFor(
      () => g0.leader !== '' && g0.leader !== node.id,
      deadlineMs,
      'the metadata leadership to move',
    );
  }
  const to = await routeTo(ctx, 0, fwd, deadlineMs);
  if (to !== undefined)
    return ctx.peers.call(ctx.peers.cluster(to), ctx.peers.cluster(to).leave, req, deadlineMs, true);
  if (!g0.isLeader())
    throw new UnavailableError('this node does not lead the metadata group; retry', { retrySafe: true });
  await removeMember(node, req.nodeId, deadlineMs);
  return { members: node.metadata.members() };
}
