// ClusterService: Join and Leave run on the metadata group's leader (any other node forwards them
// there); Status reports this node's view.
import type {
  ClusterServiceClient,
  ConfigureRequest,
  ConfigureResponse,
  JoinRequest,
  JoinResponse,
  LeaveRequest,
  LeaveResponse,
  SetLeaderPlacementRequest,
  SetLeaderPlacementResponse,
  StatusResponse,
} from '../gen/ringkv/v1/kv.ts';
import { setLeaderPlacement } from '../node/balancer.ts';
import { FailedPreconditionError, InvalidArgumentError, UnavailableError } from '../node/errors.ts';
import { METADATA_GROUP } from '../node/ids.ts';
import { admitMember, changeTable, removeMember } from '../node/membership.ts';
import { isLeaderPlacement, LEADER_PLACEMENTS } from '../node/metadata.ts';
import type { KvNode } from '../node/node.ts';
import { nodeStatus, settingsOf } from '../node/status.ts';

import type { NodeId } from '../raft/types.ts';
import { type ClusterHandlers, type ServerContext, unary } from './context.ts';
import type { Unary } from './peer-clients.ts';
import { retrySafely, routeTo } from './routing.ts';
import { RINGKV_VERSION } from './version.ts';

/** Joining can take a while (catching up by snapshot); its server-side deadline is longer than a request's. */
const MEMBERSHIP_DEADLINE_MS = 120_000;

export function clusterService(ctx: ServerContext): ClusterHandlers {
  return {
    join: unary(ctx, onMetadataLeader(join), MEMBERSHIP_DEADLINE_MS),
    leave: unary(ctx, onMetadataLeader(leave), MEMBERSHIP_DEADLINE_MS),
    status: unary(ctx, async (c): Promise<StatusResponse> => {
      const load = c.load?.();
      const status = { ...nodeStatus(c.node), version: RINGKV_VERSION };
      return load === undefined ? status : { ...status, load };
    }),
    setLeaderPlacement: unary(ctx, onMetadataLeader(placement)),
    configure: unary(ctx, onMetadataLeader(configure)),
  };
}

type Handler<Req, Res> = (ctx: ServerContext, req: Req, deadlineMs: number, fwd: boolean) => Promise<Res>;

/**
 * A request the metadata leader runs, retried while it fails retry-safe. A forwarded request is not
 * retried here: when this node has lost the metadata leadership meanwhile, its retry-safe refusal
 * goes back to the node that forwarded it, which re-routes.
 */
function onMetadataLeader<Req, Res>(h: Handler<Req, Res>): Handler<Req, Res> {
  return (c, req, d, fwd) =>
    fwd ? h(c, req, d, fwd) : retrySafely(c.node.clock, d, () => h(c, req, d, fwd));
}

/**
 * The answer of the metadata leader when another node leads the metadata group (the request is
 * forwarded there), or undefined when this node leads it and must run the request itself.
 */
async function viaMetadataLeader<Req, Res>(
  ctx: ServerContext,
  mayForward: boolean,
  deadlineMs: number,
  req: Req,
  method: (c: ClusterServiceClient) => Unary<Req, Res>,
): Promise<Res | undefined> {
  const to = await routeTo(ctx, METADATA_GROUP, !mayForward, deadlineMs);
  if (to !== undefined) {
    const peer = ctx.peers.cluster(to);
    return ctx.peers.call(peer, method(peer), req, deadlineMs, true);
  }
  if (!ctx.node.group(METADATA_GROUP).isLeader())
    throw new UnavailableError('this node does not lead the metadata group; retry', { retrySafe: true });
  return undefined;
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
  const remote = await viaMetadataLeader(ctx, !fwd, deadlineMs, req, (c) => c.setLeaderPlacement);
  if (remote !== undefined) return remote;
  await setLeaderPlacement(ctx.node, req.placement, deadlineMs);
  return { placement: ctx.node.metadata.leaderPlacement };
}

/**
 * Changes the settings given (idempotent: the same values change nothing). The table checks the
 * bounds; a value out of them is the caller's mistake (INVALID_ARGUMENT), named by the table.
 */
async function configure(
  ctx: ServerContext,
  req: ConfigureRequest,
  deadlineMs: number,
  fwd: boolean,
): Promise<ConfigureResponse> {
  const change = {
    ...(req.replicationFactor === undefined ? {} : { replicationFactor: req.replicationFactor }),
    ...(req.deadNodeTimeoutMs === undefined ? {} : { deadNodeTimeoutMs: Number(req.deadNodeTimeoutMs) }),
    ...(req.movesInFlightMax === undefined ? {} : { movesInFlightMax: req.movesInFlightMax }),
  };
  if (Object.keys(change).length === 0) {
    throw new InvalidArgumentError(
      'configure needs a setting to change: replication_factor, dead_node_timeout_ms or moves_in_flight_max',
    );
  }
  const remote = await viaMetadataLeader(ctx, !fwd, deadlineMs, req, (c) => c.configure);
  if (remote !== undefined) return remote;
  try {
    await changeTable(ctx.node, { kind: 'setSettings', change }, deadlineMs);
  } catch (e) {
    if (e instanceof FailedPreconditionError) throw new InvalidArgumentError(e.message);
    throw e;
  }
  return { settings: settingsOf(ctx.node.metadata.table) };
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
  const remote = await viaMetadataLeader(ctx, !fwd, deadlineMs, req, (c) => c.join);
  if (remote !== undefined) return remote;
  const { nodeId, clientAddr, raftAddr } = m;
  const member = m.zone ? { nodeId, clientAddr, raftAddr, zone: m.zone } : { nodeId, clientAddr, raftAddr };
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
  const g0 = node.group(METADATA_GROUP);
  if (req.nodeId === node.opts.nodeId && g0.isLeader()) await handOverMetadata(node, deadlineMs);
  // The leaving node never runs its own removal: once it has handed the metadata leadership over,
  // it passes the request on to the new leader even when the request was forwarded to it (the new
  // leader is another node, so this cannot loop).
  const selfLeave = req.nodeId === node.opts.nodeId;
  const remote = await viaMetadataLeader(ctx, !fwd || selfLeave, deadlineMs, req, (c) => c.leave);
  if (remote !== undefined) return remote;
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
  const g0 = node.group(METADATA_GROUP);
  const others = g0.confState.voters.filter((v) => v !== node.id);
  if (others.length === 0) {
    throw new FailedPreconditionError(
      `'${node.id}' is the only voter of the metadata group; a cluster cannot remove its last voter: add a node first (serve --join_addr), then leave`,
    );
  }
  const moved = (): boolean => g0.leader !== '' && g0.leader !== node.id;
  for (let attempt = 0; !moved() && Date.now() < deadlineMs; attempt++) {
    if (g0.isLeader()) node.transferLeadership(METADATA_GROUP, others[attempt % others.length] as NodeId);
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
